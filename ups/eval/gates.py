"""Gates: a run earns its place. The proxy gate stops a bad run right after operator training;
the full gate judges the evaluated run per task; promotion compares it with the champion.

Proxy gate (stage `gate`; its figures come from `ups.eval.proxy`): on the first
`gates.proxy.trajectories` validation trajectories of every task, one step and a short rollout
of `gates.proxy.rollout_steps` steps from the first state, decoded by the frozen decoder (nRMSE
in physical units against the decoded true latents; point-set tasks: relative latent error),
beside persistence over the same steps. A task fails if its short-rollout nRMSE exceeds
`max_nrmse`, or exceeds `max_vs_persistence` times persistence's. The stage writes
`metrics/gates/proxy.json` and exits non-zero naming the task, the figure and the threshold,
unless `continue_on_fail` is true (then the failure is recorded and the run goes on).

Full gate (in `report`): per task, the rollout nRMSE against `gates.full.max_nrmse_rollout` (or
the task's entry in `task_max_nrmse_rollout`) and the physics checks of `ups.eval.physics`
against their maxima; a check a task does not have passes.

A figure that should be there but is missing, NaN or infinite fails every gate and the
promotion: a diverged run compares False with any threshold (`nan > 1` is False), so it must be
refused by name, never waved through.
"""

from __future__ import annotations

import math

from ups.config import FullGateConfig, ProxyGateConfig
from ups.eval.physics import CHECKS


class GateFailed(ValueError):
    """A gate's threshold was exceeded (the message names the task, figure and threshold)."""


def finite(value: object) -> bool:
    """True for a finite number (not None, NaN, infinity or a bool)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def not_finite(task: str, name: str, value: object) -> str:
    """The reason a missing or non-finite figure fails."""
    what = "missing" if value is None else f"{value} (not a finite number)"
    return f"{task}: {name} is {what}: the run diverged or did not score it"


def proxy_verdict(task: str, figures: dict[str, float], cfg: ProxyGateConfig) -> list[str]:
    """Why `task` fails the proxy gate (empty: it passes)."""
    short = figures.get("nrmse_short_rollout")
    if not finite(short):
        return [not_finite(task, "short-rollout nRMSE", short)]
    reasons = []
    if short > cfg.max_nrmse:
        reasons.append(f"{task}: short-rollout nRMSE {short:.4g} > gates.proxy.max_nrmse "
                       f"{cfg.max_nrmse:.4g}")
    persistence = figures.get("persistence_nrmse_short_rollout")  # None: a steady task
    if persistence is not None and not finite(persistence):
        reasons.append(not_finite(task, "persistence's short-rollout nRMSE", persistence))
    elif persistence is not None and short > cfg.max_vs_persistence * persistence:
        reasons.append(f"{task}: short-rollout nRMSE {short:.4g} > gates.proxy."
                       f"max_vs_persistence {cfg.max_vs_persistence:.4g} x persistence's "
                       f"{persistence:.4g}")
    return reasons


def full_gate(per_task: dict[str, dict], cfg: FullGateConfig) -> dict:
    """Per-task pass/fail with reasons, from each task's evaluation metrics."""
    out: dict = {"tasks": {}, "passed": True}
    for task, m in per_task.items():
        reasons = []
        limit = cfg.task_max_nrmse_rollout.get(task, cfg.max_nrmse_rollout)
        value = m.get("nrmse_rollout")
        if not finite(value):
            reasons.append(not_finite(task, "rollout nRMSE", value))
        elif value > limit:
            reasons.append(f"{task}: rollout nRMSE {value:.4g} > {limit:.4g}")
        for check in CHECKS:
            value, limit = m.get(f"physics_{check}"), getattr(cfg, f"max_{check}")
            if value is not None and not finite(value):  # None: the task has no such check
                reasons.append(not_finite(task, check.replace("_", " "), value))
            elif value is not None and value > limit:
                reasons.append(f"{task}: {check.replace('_', ' ')} {value:.4g} > {limit:.4g}")
        out["tasks"][task] = {"passed": not reasons, "reasons": reasons}
        out["passed"] = out["passed"] and not reasons
    return out
