"""Gates and champion: the verdicts name the task, the figure and the threshold; a run worse than
the champion on any task is not promoted; a better one is, and the record changes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ups.config import FullGateConfig, ProxyGateConfig
from ups.eval.champion import decide, load, promote
from ups.eval.gates import full_gate, proxy_verdict
from ups.eval.physics import physics_checks
from ups.tasks import get_task


def summary(run="r2", **rollout):
    mean = sum(v or 0.0 for v in rollout.values()) / len(rollout)
    return {"run": run, "mean": {"nrmse_rollout": mean},
            "tasks": {t: {"nrmse_rollout": v} for t, v in rollout.items()}}


PASSED = {"proxy": {"passed": True, "reasons": []},
          "full": {"passed": True, "tasks": {}}}


def test_proxy_verdict_names_task_figure_and_threshold():
    cfg = ProxyGateConfig(max_nrmse=0.5, max_vs_persistence=1.0)
    assert proxy_verdict("burgers1d", {"nrmse_short_rollout": 0.4,
                                       "persistence_nrmse_short_rollout": 0.8}, cfg) == []
    (why,) = proxy_verdict("burgers1d", {"nrmse_short_rollout": 0.7,
                                         "persistence_nrmse_short_rollout": 0.8}, cfg)
    assert why == "burgers1d: short-rollout nRMSE 0.7 > gates.proxy.max_nrmse 0.5"
    (why,) = proxy_verdict("advection1d", {"nrmse_short_rollout": 0.3,
                                           "persistence_nrmse_short_rollout": 0.2}, cfg)
    assert "advection1d" in why and "max_vs_persistence 1 x persistence's 0.2" in why


def test_full_gate_thresholds_and_physics_checks_per_task():
    cfg = FullGateConfig(max_nrmse_rollout=1.0, task_max_nrmse_rollout={"burgers1d": 2.0},
                         max_negative_fraction=0.01)
    verdict = full_gate({"burgers1d": {"nrmse_rollout": 1.5},
                         "advection1d": {"nrmse_rollout": 1.5},
                         "shallow_water2d": {"nrmse_rollout": 0.5,
                                             "physics_negative_fraction": 0.2,
                                             "physics_divergence": None}}, cfg)
    assert verdict["tasks"]["burgers1d"]["passed"]
    assert verdict["tasks"]["advection1d"]["reasons"] == ["advection1d: rollout nRMSE 1.5 > 1"]
    assert verdict["tasks"]["shallow_water2d"]["reasons"] == [
        "shallow_water2d: negative fraction 0.2 > 0.01"]
    assert not verdict["passed"]


def test_physics_checks_measure_what_they_name():
    x = (np.arange(16) + 0.5) / 16
    steady_mass = np.stack([np.sin(2 * np.pi * (x - 0.1 * t)) + 2 for t in range(4)])
    pred = steady_mass[None, ..., None]  # (1, T, X, 1)
    checks = physics_checks(pred, pred, get_task("advection1d"), ("u",), grid=True)
    assert checks["conservation_drift"] < 1e-12
    assert checks["boundary_violation"] is None  # periodic
    grown = pred * np.array([1, 1.1, 1.2, 1.3])[None, :, None, None]
    assert physics_checks(grown, pred, get_task("advection1d"), ("u",),
                          grid=True)["conservation_drift"] == pytest.approx(0.3)
    negative = pred - 2.5
    frac = physics_checks(negative, pred, get_task("reaction_diffusion1d"), ("u",),
                          grid=True)["negative_fraction"]
    assert 0 < frac < 1


def test_no_champion_yet_first_passing_run_is_promoted():
    decision = decide(summary(a=0.5, b=0.5), PASSED, None)
    assert decision == {"promote": True, "reasons": [], "against": None, "tasks": {}}


def test_worse_on_one_task_is_not_promoted_and_the_task_is_named():
    champion = {"run": "r1", "tasks": {"a": 0.5, "b": 0.5}}
    decision = decide(summary(a=0.2, b=0.6), PASSED, champion)
    assert not decision["promote"]
    assert decision["reasons"] == ["b: rollout nRMSE 0.6 is worse than the champion's 0.5"]


def test_gate_failures_block_promotion():
    gates = {"proxy": {"passed": False, "reasons": ["a: short-rollout nRMSE 3 > 1"]},
             "full": {"tasks": {"a": {"reasons": ["a: rollout nRMSE 3 > 1"]}}}}
    decision = decide(summary(a=0.1), gates, None)
    assert not decision["promote"] and len(decision["reasons"]) == 2


def test_equal_is_not_better():
    champion = {"run": "r1", "tasks": {"a": 0.5}}
    decision = decide(summary(a=0.5), PASSED, champion)
    assert decision["reasons"] == ["mean rollout nRMSE 0.5 does not beat the champion's 0.5"]


def test_better_run_is_promoted_and_the_record_changes(tmp_path):
    record = tmp_path / "champion.json"
    promote(summary("r1", a=0.5, b=0.5), decide(summary("r1", a=0.5, b=0.5), PASSED, None),
            "rev1", record)
    better = summary("r2", a=0.4, b=0.5)
    decision = decide(better, PASSED, load(record))
    assert decision["promote"] and decision["against"] == "r1"
    promote(better, decision, "rev2", record)
    assert load(record)["run"] == "r2" and load(record)["tasks"] == {"a": 0.4, "b": 0.5}
    worse = summary("r3", a=0.45, b=0.45)
    with pytest.raises(ValueError, match="a: rollout nRMSE 0.45 is worse"):
        promote(worse, decide(worse, PASSED, load(record)), "rev3", record)
    assert load(record)["run"] == "r2"


def test_promote_cli_refuses_a_run_the_report_did_not_promote(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps(summary("r9", a=0.9)))
    (tmp_path / "d.json").write_text(json.dumps({"promote": False,
                                                 "reasons": ["a: rollout nRMSE 0.9 is worse"]}))
    out = subprocess.run([sys.executable, "-m", "stages.promote", "--summary",
                          str(tmp_path / "s.json"), "--decision", str(tmp_path / "d.json"),
                          "--champion", str(tmp_path / "c.json")], capture_output=True,
                         text=True)
    assert out.returncode == 1 and "a: rollout nRMSE 0.9 is worse" in out.stderr
    assert not (tmp_path / "c.json").exists()


def test_a_damaged_champion_record_is_named(tmp_path):
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(ValueError, match="c.json: not a champion record"):
        load(tmp_path / "c.json")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None])
def test_missing_or_non_finite_figures_fail_every_gate_and_the_promotion(bad):
    """`nan > threshold` is False: a diverged run must fail by name, not pass."""
    proxy = ProxyGateConfig(max_nrmse=1.0)
    (why,) = proxy_verdict("burgers1d", {"nrmse_short_rollout": bad,
                                         "persistence_nrmse_short_rollout": 0.8}, proxy)
    assert why.startswith("burgers1d: short-rollout nRMSE is ") and "diverged" in why
    if bad is not None:  # None is a steady task's persistence: no comparison, no failure
        (why,) = proxy_verdict("burgers1d", {"nrmse_short_rollout": 0.1,
                                             "persistence_nrmse_short_rollout": bad}, proxy)
        assert "persistence's short-rollout nRMSE is" in why
    verdict = full_gate({"a": {"nrmse_rollout": bad}, "b": {"nrmse_rollout": 0.1}},
                        FullGateConfig())
    assert not verdict["passed"] and verdict["tasks"]["b"]["passed"]
    assert "a: rollout nRMSE is" in verdict["tasks"]["a"]["reasons"][0]
    if bad is not None:  # None: the task has no such check
        verdict = full_gate({"a": {"nrmse_rollout": 0.1, "physics_divergence": bad}},
                            FullGateConfig())
        assert verdict["tasks"]["a"]["reasons"] == [f"a: divergence is {bad} (not a finite "
                                                    "number): the run diverged or did not "
                                                    "score it"]
    for champion in (None, {"run": "r1", "tasks": {"a": 0.5, "b": 0.5}}):
        decision = decide(summary(a=bad, b=0.1), PASSED, champion)
        assert not decision["promote"], champion
        assert any(r.startswith("a: rollout nRMSE is") for r in decision["reasons"])
