"""The real pipeline, end to end, with DVC, in a temporary git repository (tiny sizes)."""

from __future__ import annotations

import csv
import json

import pytest
from browser import assert_marks_in_dom, chromium, require_chromium
from helpers import TINY_SIMULATE, copy_project, init_repo, run, tiny_params, write_params

from ups.tasks import TASK_NAMES, get_task

pytestmark = pytest.mark.slow
TASKS = ("burgers1d", "advection1d", "reaction_diffusion2d")


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
    for task in TASKS:
        m = files[f"metrics/eval/{task}.json"]["data"]
        for key in ("nrmse_rollout", "nrmse_one_step", "persistence_nrmse_rollout",
                    "persistence_nrmse_one_step"):
            assert m[key] > 0, (task, key)
        assert (repo / f"plots/eval/{task}/nrmse_vs_step.csv").is_file()
        assert list((repo / f"plots/eval/{task}").glob("*.png"))
        assert (repo / f"data/latent/{task}/train.npy").is_file()
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
    """The corrector variants and the FNO baseline get figures on every default task, and the
    nRMSE-against-step table has a curve per model."""
    for task in TASKS:
        m = json.loads((repo / f"metrics/eval/{task}.json").read_text())
        for variant in ("diffusion", "consistency", "ttc", "fno"):
            for figure in ("nrmse_rollout", "nrmse_one_step", "seconds_per_step"):
                assert m[f"{variant}_{figure}"] > 0, (task, variant, figure)
        assert m["diffusion_calls_per_step"] == 8 and m["consistency_calls_per_step"] == 2
        assert m["ttc_calls_per_step"] == 2 * 2  # 2 candidates x 2 student calls
        header = (repo / f"plots/eval/{task}/nrmse_vs_step.csv").read_text().splitlines()[0]
        assert header == "step,time,ups,persistence,fno,diffusion,consistency,ttc"


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
    changed = json.loads(diff)
    for task in TASKS:
        assert f"metrics/eval/{task}.json" in changed
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


def test_corrector_off_removes_its_variants_and_keeps_the_rest(repo):
    run(["git", "checkout", "-q", "--", "."], repo)  # back to the committed baseline
    run(["dvc", "checkout", "--force"], repo)
    out = run(["dvc", "exp", "run", "-S", "corrector.enabled=false"], repo, timeout=900).stdout
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert not any(s.startswith(("train_autoencoder", "encode@", "train_operator", "train_fno"))
                   for s in ran), ran
    for task in TASKS:
        m = json.loads((repo / f"metrics/eval/{task}.json").read_text())
        assert m["diffusion_nrmse_rollout"] is None and m["ttc_nrmse_rollout"] is None
        assert "corrector.enabled is false" in m["notes"]
        assert m["nrmse_rollout"] > 0 and m["fno_nrmse_rollout"] > 0


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


def test_all_fifteen_tasks_train_and_evaluate(tmp_path):
    """`dvc exp run -S tasks=[all fifteen]` on tiny data: grids (1D/2D/3D), steady Darcy, the
    mesh and the particles all go through one encoder and one operator, and get metrics."""
    root = copy_project(tmp_path)
    write_params(root / "params.yaml", tiny_params(simulate=TINY_SIMULATE))
    init_repo(root, commit="pipeline")
    # Up to the report: the fifteen superres stages (notes for all but the coarsened grid tasks,
    # tested in tests/eval/test_superres.py) would add a minute of process start-ups.
    run(["dvc", "exp", "run", "-S", f"tasks=[{','.join(TASK_NAMES)}]", "report"], root,
        timeout=1500)
    summary = json.loads((root / "metrics/summary.json").read_text())
    assert set(summary["tasks"]) == set(TASK_NAMES)
    for task in TASK_NAMES:
        m = json.loads((root / f"metrics/eval/{task}.json").read_text())
        assert m["nrmse_rollout"] > 0 and m["nrmse_reconstruction"] > 0, task
        steady = get_task(task).steady
        assert (m["persistence_nrmse_rollout"] is None) == steady, task
        assert list((root / f"plots/eval/{task}").glob("*.png")), task
