"""The real pipeline, end to end, with DVC, in a temporary git repository (tiny sizes)."""

from __future__ import annotations

import csv
import json
import re
import shutil

import pytest
from browser import assert_marks_in_dom, chromium, drawn_lines, require_chromium, svg_page
from helpers import (
    TINY_SIMULATE,
    copy_project,
    init_repo,
    readme_commands,
    run,
    tiny_params,
    write_params,
)

from ups.eval import champion
from ups.tasks import TASK_NAMES, get_task

pytestmark = pytest.mark.slow
TASKS = ("burgers1d", "advection1d", "reaction_diffusion2d")
MODELS = {"ups", "persistence", "fno", "diffusion", "consistency", "ttc", "pod"}
NUMBER = r"-?\d+(\.\d+)?(e[-+]?\d+)?"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("e2e"))
    write_params(root / "params.yaml", tiny_params())
    init_repo(root, commit="pipeline")
    run(["dvc", "repro"], root, timeout=900)
    return root


def test_repro_writes_metrics_for_every_task(repo):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo).stdout)
    files = next(iter(shown.values()))["data"]
    # DVC's metrics are the compact rollout file; every figure stays in metrics/eval/<task>.json.
    assert set(files) == {"metrics/rollout_nrmse.json"}, set(files)
    rollout = files["metrics/rollout_nrmse.json"]["data"]
    for task in TASKS:
        m = json.loads((repo / f"metrics/eval/{task}.json").read_text())
        assert rollout[task] == pytest.approx(m["nrmse_rollout"])
        for key in ("nrmse_rollout", "nrmse_one_step", "persistence_nrmse_rollout",
                    "persistence_nrmse_one_step"):
            assert m[key] > 0, (task, key)
        assert (repo / f"plots/eval/{task}/nrmse_vs_step.csv").is_file()
        assert list((repo / f"plots/eval/{task}").glob("*.png"))
        assert (repo / f"data/latent/{task}/train.npy").is_file()
        # The cache replaces the data: float16 latents no larger than the float32 fields.
        assert 0 < m["cache_to_data_ratio"] <= 1.0, (task, m["cache_to_data_ratio"])
    summary = json.loads((repo / "metrics/summary.json").read_text())
    assert set(summary["tasks"]) == set(TASKS)
    assert summary["gates"]["proxy_passed"] in (True, False)
    decision = json.loads((repo / "reports/promotion.json").read_text())
    assert decision["against"] is None  # no champion yet
    assert decision["promote"] == (summary["gates"]["proxy_passed"]
                                   and summary["gates"]["full_passed"])
    board = list(csv.DictReader(open(repo / "reports/leaderboard.csv")))
    assert len(board) == 1 and board[0]["params_changed"] == ""
    for task in TASKS:
        assert float(board[0][f"{task}/ups"]) == pytest.approx(
            summary["tasks"][task]["nrmse_rollout"], rel=1e-5)


def test_variants_are_scored_beside_the_operator(repo):
    """The corrector variants and the FNO and POD baselines get figures on every default task,
    and the nRMSE-against-step table has a curve per model."""
    for task in TASKS:
        m = json.loads((repo / f"metrics/eval/{task}.json").read_text())
        for variant in ("diffusion", "consistency", "ttc", "fno", "pod"):
            for figure in ("nrmse_rollout", "nrmse_one_step", "seconds_per_step"):
                assert m[f"{variant}_{figure}"] > 0, (task, variant, figure)
        assert m["diffusion_calls_per_step"] == 8 and m["consistency_calls_per_step"] == 2
        assert m["ttc_calls_per_step"] == 2 * 2  # 2 candidates x 2 student calls
        assert m["pod_modes"] >= 1 and m["pod_ridge"] > 0
        with open(repo / f"plots/eval/{task}/nrmse_vs_step.csv", newline="") as fh:
            table = list(csv.DictReader(fh))
        assert list(table[0]) == ["step", "time", "model", "nrmse"]
        assert {r["model"] for r in table} == MODELS


def columns(lines: list[str]) -> int:
    return max(len(line.rstrip()) for line in lines)


def test_metrics_views_fit_a_terminal(repo):
    """The README's `dvc metrics show` commands fit 120 columns: UPS's rollout nRMSE per task,
    and per task (and mean) the headline: UPS, FNO, POD, persistence, reconstruction."""
    for cmd in readme_commands("dvc metrics show"):
        out = run(["bash", "-c", f"COLUMNS=120 {cmd}"], repo).stdout.splitlines()
        assert columns(out) <= 120, f"`{cmd}` prints {columns(out)} columns:\n" + "\n".join(out)
        if "metrics/headline" in cmd:
            assert out[0].split() == ["Path", "fno", "persistence", "pod", "reconstruction",
                                      "ups"]
            for name in (*TASKS, "mean"):
                row = next(line for line in out if f"/{name}.json" in line).split()
                assert all(re.fullmatch(NUMBER, v) for v in row[1:]) and len(row) == 6, row
        else:
            assert out[0].split() == ["Path", *sorted((*TASKS, "mean"))], out


def test_plots_show_draws_every_model_per_task(repo, tmp_path):
    """`dvc plots show` (the README's command) draws one chart per task with a line per model
    over every rollout step, and leaves nothing for `git add -A` to pick up."""
    require_chromium()
    (cmd,) = readme_commands("dvc plots show")
    run(["bash", "-c", cmd], repo)
    dom = chromium(svg_page(repo / "dvc_plots/index.html"), tmp_path, "--dump-dom")
    for task in TASKS:
        with open(repo / f"plots/eval/{task}/nrmse_vs_step.csv", newline="") as fh:
            steps = len({r["step"] for r in csv.DictReader(fh)})
        lines = drawn_lines(dom, f"plots_eval_{task}_nrmse_vs_step_csv", "model")
        assert lines == {m: steps for m in MODELS}, (task, lines)
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], repo).stdout
    assert "dvc_plots" not in status, status


def test_second_repro_runs_nothing(repo):
    out = run(["dvc", "repro"], repo).stdout
    assert "Running stage" not in out
    assert "up to date" in out.lower()


def test_training_code_edits_leave_the_data_stages_up_to_date(repo):
    """A loss or a training knob's definition changes: training re-runs, but never simulate,
    convert or encode (with a PDEBench source, convert re-reads terabytes)."""
    edited = [repo / "ups/training/losses.py", repo / "ups/config.py"]
    originals = [p.read_text() for p in edited]
    try:
        for p in edited:
            p.write_text(p.read_text() + "# edited\n")
        status = json.loads(run(["dvc", "status", "--json"], repo).stdout)
    finally:
        for p, text in zip(edited, originals):
            p.write_text(text)
    assert not any(s.startswith(("simulate@", "convert@", "encode@")) for s in status), status
    assert {"train_autoencoder", "train_operator"} <= set(status), status


def test_latent_dim_experiment_skips_simulate_and_convert(repo):
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "baseline results"], repo)
    out = run(["dvc", "exp", "run", "-S", "latent.dim=12"], repo, timeout=900).stdout
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert not any(s.startswith(("simulate@", "convert@")) for s in ran), ran
    for name in ("train_autoencoder", "train_operator", "report"):
        assert name in ran
    for task in TASKS:
        assert f"encode@{task}" in ran and f"eval@{task}" in ran
    diff = run(["dvc", "metrics", "diff", "--json"], repo).stdout
    changed = json.loads(diff)["metrics/rollout_nrmse.json"]
    assert set(changed) == {*TASKS, "mean"}, changed
    # The README's experiment tables fit 120 columns and show every task's rollout nRMSE.
    for cmd in readme_commands("dvc exp show"):  # COLUMNS: the terminal's width, as rich reads it
        out = run(["bash", "-c", f"COLUMNS=120 {cmd}"], repo).stdout.splitlines()
        assert columns(out) <= 120, f"`{cmd}` prints {columns(out)} columns:\n" + "\n".join(out)
        header = next(line for line in out if "Experiment" in line).split()
        assert header == ["Experiment", *TASKS, "mean", "latent.dim"], header
    # The experiment's row joins the committed baseline's row; nothing is overwritten.
    board = list(csv.DictReader(open(repo / "reports/leaderboard.csv")))
    assert sorted(r["params_changed"] for r in board) == ["", "latent.dim=12"]
    # The project's plots of the two runs, rendered offline: every chart is drawn.
    browser = require_chromium()
    run(["dvc", "plots", "diff", "HEAD", "-o", "plots-diff"], repo)
    page = repo / "plots-diff/index.html"
    dom = chromium(page, repo, "--dump-dom")
    assert_marks_in_dom(dom)
    assert dom.count('class="marks"') >= 3, browser  # report lines, report bars, training


def test_champion_comparison_works_in_a_fresh_clone(repo, tmp_path):
    """The README's comparison with the champion works as pasted in a fresh clone of a remote
    that got the promotion commit by a plain `git push`, which carries no tag."""
    a, origin, b = tmp_path / "a", tmp_path / "origin.git", tmp_path / "b"
    run(["git", "clone", "-q", str(repo), str(a)], tmp_path)  # the committed baseline
    summary = json.loads((a / "metrics/summary.json").read_text())
    # The record `python -m stages.promote` writes; forced, as the tiny run fails the full gate:
    # what is under test is finding the champion's commit, not the decision.
    champion.promote(summary, {"promote": True, "reasons": []}, "tiny",
                     a / "champion/champion.json")
    run(["git", "commit", "-qam", "Promote the baseline to champion"], a)
    run(["git", "tag", "-f", "champion"], a)  # a tag stays on the machine that made it
    run(["git", "init", "-q", "--bare", str(origin)], tmp_path)
    run(["git", "push", "-q", str(origin), "HEAD:refs/heads/main"], a)
    run(["git", "clone", "-q", "--branch", "main", str(origin), str(b)], tmp_path)
    # b's workspace holds a later run: the latent.dim experiment's figures.
    shutil.copy2(repo / "metrics/rollout_nrmse.json", b / "metrics/rollout_nrmse.json")
    (cmd,) = [c for c in readme_commands("dvc metrics diff", "Is my run better") if "champion" in c]
    out = run(["bash", "-c", cmd], b).stdout
    for task in TASKS:
        row = next(line for line in out.splitlines() if f" {task} " in line).split()
        assert float(row[2]) == pytest.approx(summary["tasks"][task]["nrmse_rollout"], rel=1e-4)
        assert re.fullmatch(NUMBER, row[3]) and re.fullmatch(NUMBER, row[4]), row


def test_corrector_off_removes_its_variants_and_keeps_the_rest(repo):
    run(["git", "checkout", "-q", "--", "."], repo)  # back to the committed baseline
    run(["dvc", "checkout", "--force"], repo)
    out = run(["dvc", "exp", "run", "-S", "corrector.enabled=false"], repo, timeout=900).stdout
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert not any(s.startswith(("train_autoencoder", "encode@", "train_operator", "train_fno",
                                 "train_pod")) for s in ran), ran
    for task in TASKS:
        m = json.loads((repo / f"metrics/eval/{task}.json").read_text())
        assert m["diffusion_nrmse_rollout"] is None and m["ttc_nrmse_rollout"] is None
        assert "corrector.enabled is false" in m["notes"]
        assert m["nrmse_rollout"] > 0 and m["fno_nrmse_rollout"] > 0
        assert m["pod_nrmse_rollout"] > 0


def test_proxy_gate_stops_a_bad_run_before_the_costly_stages(repo):
    """Thresholds no run can meet: the gate stage fails naming task, figure and threshold, and
    neither the corrector nor evaluation runs."""
    run(["git", "checkout", "-q", "--", "."], repo)
    run(["dvc", "checkout", "--force"], repo)
    out = run(["dvc", "exp", "run", "-S", "gates.proxy.max_nrmse=1e-9"], repo, check=False,
              timeout=900)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "proxy gate failed: burgers1d: short-rollout nRMSE" in text
    assert "> gates.proxy.max_nrmse 1e-09" in text
    ran = {line.split("'")[1] for line in out.stdout.splitlines()
           if line.startswith("Running stage")}
    assert "gate" in ran
    assert not any(s.startswith(("train_diffusion", "eval@", "report")) for s in ran), ran


def test_a_failed_sweep_leaves_the_workspace_usable(repo):
    """The README's sweep command with a value the params refuse: the stage fails naming the
    key, and params.yaml, every output and `dvc status` stay as they were."""
    run(["git", "checkout", "-q", "--", "."], repo)
    run(["dvc", "checkout", "--force"], repo)
    cmd = next(c for c in readme_commands("dvc exp run", "Sweeps") if "latent.dim=" in c)
    params = (repo / "params.yaml").read_bytes()
    status = run(["git", "status", "--porcelain"], repo).stdout
    out = run(["bash", "-c", re.sub(r"latent\.dim=\d+", "latent.dim=-1", cmd)], repo,
              check=False)
    assert out.returncode != 0 and "latent.dim" in out.stdout + out.stderr, out.stderr[-2000:]
    assert (repo / "params.yaml").read_bytes() == params, "params.yaml was rewritten"
    assert run(["git", "status", "--porcelain"], repo).stdout == status
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_all_fifteen_tasks_train_and_evaluate(tmp_path):
    """`dvc exp run -S tasks=[all fifteen]` on tiny data: grids (1D/2D/3D), steady Darcy, the
    mesh and the particles all go through one encoder and one operator, and get metrics."""
    root = copy_project(tmp_path)
    write_params(root / "params.yaml", tiny_params(simulate=TINY_SIMULATE))
    init_repo(root, commit="pipeline")
    # Up to the report: the fifteen superres stages (notes for all but the coarsened grid tasks,
    # tested in tests/eval/test_superres.py) would add a minute of process start-ups. The
    # corrector and the FNO are off here (their stages only write markers): both are tested on
    # the default tasks above, and their training would double this test's time.
    run(["dvc", "exp", "run", "-S", f"tasks=[{','.join(TASK_NAMES)}]",
         "-S", "corrector.enabled=false", "-S", "baselines.fno.enabled=false", "report"], root,
        timeout=1500)
    summary = json.loads((root / "metrics/summary.json").read_text())
    assert set(summary["tasks"]) == set(TASK_NAMES)
    for task in TASK_NAMES:
        m = json.loads((root / f"metrics/eval/{task}.json").read_text())
        assert m["nrmse_rollout"] > 0 and m["nrmse_reconstruction"] > 0, task
        steady = get_task(task).steady
        assert (m["persistence_nrmse_rollout"] is None) == steady, task
        # The POD on every task whose points stay put; moving particles: null, with a note.
        moving = get_task(task).kind == "particles"
        assert (m["pod_nrmse_rollout"] is None) == moving, task
        assert ("pod: the POD baseline needs fixed points" in m.get("notes", "")) == moving
        assert list((root / f"plots/eval/{task}").glob("*.png")), task
