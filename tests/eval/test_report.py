"""The report: per-task and mean figures, one leaderboard row per run (kept across runs and
machines), and the plot tables."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import yaml

from ups.eval import leaderboard
from ups.eval.report import HEADLINE, HEADLINE_KEYS, write_report


def metrics(rollout, persistence, fno=None, pod=None):
    return {"nrmse_rollout": rollout, "nrmse_one_step": rollout / 2,
            "persistence_nrmse_rollout": persistence, "persistence_nrmse_one_step": 0.1,
            "fno_nrmse_rollout": fno, "pod_nrmse_rollout": pod, "nrmse_reconstruction": 0.05,
            "rmse": 1.0}


def write_metrics(root, **tasks):
    (root / "m").mkdir(exist_ok=True)
    for task, m in tasks.items():
        (root / "m" / f"{task}.json").write_text(json.dumps(m))


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def git_repo(path, params):
    """A git repo with params.yaml committed."""
    path.mkdir(exist_ok=True)
    (path / "params.yaml").write_text(yaml.safe_dump(params))
    for cmd in (["init", "-q"], ["add", "params.yaml"], ["commit", "-qm", "params"]):
        subprocess.run(["git", *cmd], cwd=path, check=True)
    return path


def test_summary_means_and_wins_over_baselines(tmp_path):
    write_metrics(tmp_path, a=metrics(0.2, 1.0, fno=0.3, pod=0.1),
                  b=metrics(0.6, 0.4, fno=0.5, pod=0.7))
    summary = write_report(tmp_path / "m", ("a", "b"), tmp_path / "s.json", tmp_path / "l.csv")
    assert summary["mean"]["nrmse_rollout"] == pytest.approx(0.4)
    assert summary["mean"]["fno_nrmse_rollout"] == pytest.approx(0.4)
    assert summary["mean"]["pod_nrmse_rollout"] == pytest.approx(0.4)
    assert summary["mean"]["beats_persistence"] == 1
    assert summary["mean"]["beats_fno"] == 1
    assert summary["mean"]["beats_pod"] == 1  # b: 0.6 < 0.7; a: 0.2 > 0.1
    assert set(summary["tasks"]["a"]) == set(HEADLINE)
    assert json.loads((tmp_path / "s.json").read_text()) == summary
    (row,) = rows(tmp_path / "l.csv")
    assert float(row["a/ups"]) == pytest.approx(0.2)
    assert float(row["b/fno"]) == pytest.approx(0.5)
    assert float(row["a/pod"]) == pytest.approx(0.1)
    assert float(row["mean/persistence"]) == pytest.approx(0.7)
    assert row["tasks"] == "a b"


def test_missing_baseline_is_empty_and_skipped_in_means(tmp_path):
    write_metrics(tmp_path, a=metrics(0.2, 1.0, fno=0.3), b=metrics(0.6, None))
    summary = write_report(tmp_path / "m", ("a", "b"), tmp_path / "s.json", tmp_path / "l.csv")
    assert summary["mean"]["fno_nrmse_rollout"] == pytest.approx(0.3)
    assert summary["mean"]["persistence_nrmse_rollout"] == pytest.approx(1.0)
    (row,) = rows(tmp_path / "l.csv")
    assert row["b/fno"] == "" and row["b/persistence"] == ""


def test_missing_task_metrics_name_the_file(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(FileNotFoundError, match="a.json: no evaluation metrics for task a"):
        write_report(tmp_path / "m", ("a",), tmp_path / "s.json", tmp_path / "l.csv")
    assert not (tmp_path / "s.json").exists()
    assert not (tmp_path / "l.csv").exists()


def test_one_row_per_run_replaced_by_its_rerun_and_kept_for_other_runs(tmp_path):
    repo = git_repo(tmp_path / "repo", {"latent": {"dim": 32}, "seed": 0})
    write_metrics(tmp_path, a=metrics(0.2, 1.0))
    board = tmp_path / "board.csv"

    def report():
        return write_report(tmp_path / "m", ("a",), tmp_path / "s.json", board, root=repo,
                            params=repo / "params.yaml")

    base = report()["run"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip()
    assert base == head[:10]
    write_metrics(tmp_path, a=metrics(0.1, 1.0))
    report()  # the same run again: its row is replaced
    assert [(r["run"], float(r["a/ups"])) for r in rows(board)] == [(base, 0.1)]
    # An experiment: params changed against HEAD (as `dvc exp run -S latent.dim=64` leaves them).
    (repo / "params.yaml").write_text(yaml.safe_dump({"latent": {"dim": 64}, "seed": 0}))
    exp = report()["run"]
    assert exp.startswith(head[:10] + "+") and exp != base
    board_rows = {r["run"]: r for r in rows(board)}
    assert set(board_rows) == {base, exp}
    assert board_rows[exp]["params_changed"] == "latent.dim=64"
    assert board_rows[base]["params_changed"] == ""


def test_merge_from_several_machines_keeps_every_run(tmp_path):
    mine, theirs = tmp_path / "mine.csv", tmp_path / "theirs.csv"
    leaderboard.write(mine, [{"run": "r1", "date": "2026-01-01", "mean/ups": 0.5},
                             {"run": "r2", "date": "2026-01-02", "mean/ups": 0.4}])
    leaderboard.write(theirs, [{"run": "r2", "date": "2026-01-03", "mean/ups": 0.3,
                                "extra/col": 1.0},
                               {"run": "r3", "date": "2026-01-04", "mean/ups": 0.2}])
    out = subprocess.run([sys.executable, "-m", "stages.leaderboard", "merge", str(mine),
                          str(theirs)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    merged = {r["run"]: r for r in rows(mine)}
    assert set(merged) == {"r1", "r2", "r3"}
    assert float(merged["r2"]["mean/ups"]) == pytest.approx(0.3)  # the later row of r2
    assert merged["r1"]["extra/col"] == ""


def test_merge_refuses_a_file_that_is_not_a_leaderboard(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("task,nrmse\na,1\n")
    with pytest.raises(ValueError, match="bad.csv: not a leaderboard"):
        leaderboard.merge(tmp_path / "out.csv", [bad])
    assert not (tmp_path / "out.csv").exists()


def test_plot_tables_long_format(tmp_path):
    write_metrics(tmp_path, a=metrics(0.2, 1.0, fno=0.3), b=metrics(0.6, None))
    (tmp_path / "p/a").mkdir(parents=True)
    (tmp_path / "p/a/nrmse_vs_step.csv").write_text(  # as eval writes it: a row per model, step
        "step,time,model,nrmse\n1,0.1,ups,0.1\n2,0.2,ups,0.2\n1,0.1,persistence,0.5\n"
        "2,0.2,persistence,0.9\n1,0.1,fno,0.2\n2,0.2,fno,0.3\n")
    write_report(tmp_path / "m", ("a", "b"), tmp_path / "s.json", tmp_path / "l.csv",
                 eval_plots=tmp_path / "p", plots_out=tmp_path / "out")
    bars = rows(tmp_path / "out/variants.csv")
    assert [r["model"] for r in bars] == ["a · ups", "a · persistence", "a · fno", "b · ups"]
    lines = rows(tmp_path / "out/rollout_nrmse.csv")
    assert len(lines) == 6
    assert {r["series"] for r in lines} == {"a · ups", "a · persistence", "a · fno"}
    assert float(next(r for r in lines if r["series"] == "a · fno" and r["step"] == "2")
                 ["nrmse"]) == pytest.approx(0.3)


def test_an_eval_table_in_the_old_wide_layout_is_refused_naming_it(tmp_path):
    write_metrics(tmp_path, a=metrics(0.2, 1.0))
    (tmp_path / "p/a").mkdir(parents=True)
    (tmp_path / "p/a/nrmse_vs_step.csv").write_text("step,time,ups\n1,0.1,0.1\n")
    with pytest.raises(ValueError, match=r"a/nrmse_vs_step.csv: columns \['model', 'nrmse'\]"):
        write_report(tmp_path / "m", ("a",), tmp_path / "s.json", tmp_path / "l.csv",
                     eval_plots=tmp_path / "p", plots_out=tmp_path / "out")


def test_headline_per_task_and_mean_and_the_rollout_metrics(tmp_path):
    """The compact files DVC shows: five short keys per task and for the mean (a missing
    baseline is null), and UPS's rollout nRMSE keyed by task plus the mean."""
    write_metrics(tmp_path, a=metrics(0.2, 1.0, fno=0.3, pod=0.25), b=metrics(0.6, None))
    stale = tmp_path / "h/gone.json"  # a task dropped from `tasks` since the last run
    stale.parent.mkdir()
    stale.write_text("{}")
    write_report(tmp_path / "m", ("a", "b"), tmp_path / "s.json", tmp_path / "l.csv",
                 headline_dir=tmp_path / "h", rollout_out=tmp_path / "r.json")
    headline = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "h").iterdir()}
    assert set(headline) == {"a", "b", "mean"}
    assert headline["a"] == {"ups": 0.2, "fno": 0.3, "pod": 0.25, "persistence": 1.0,
                             "reconstruction": 0.05}
    assert headline["b"]["persistence"] is None and headline["b"]["fno"] is None
    assert headline["b"]["pod"] is None and headline["mean"]["pod"] == pytest.approx(0.25)
    assert headline["mean"]["ups"] == pytest.approx(0.4)
    assert list(headline["mean"]) == list(HEADLINE_KEYS)
    rollout = json.loads((tmp_path / "r.json").read_text())
    assert rollout == pytest.approx({"a": 0.2, "b": 0.6, "mean": 0.4})
