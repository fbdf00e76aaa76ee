"""The champion: the best run so far, as a committed record, and the promotion decision.

A run is promoted only if it passed the proxy and the full gate, is no worse than the champion on
any task the champion was scored on (rollout nRMSE), and is better on their mean. The first run
that passes the gates becomes champion when there is none. `decide` gives the decision with its
reasons; `promote` writes the new record (the `promote` stage CLI, run by hand after review).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from ups.eval.gates import finite, not_finite
from ups.io import read_json, write_json

FIGURE = "nrmse_rollout"


def load(path: Path) -> dict | None:
    """The champion record, or None if there is none yet (no file, or an empty record)."""
    path = Path(path)
    if not path.is_file():
        return None
    record = read_json(path)
    if "tasks" not in record or "run" not in record:
        raise ValueError(f"{path}: not a champion record (needs 'run' and 'tasks'); restore it "
                         "from git, or write {\"run\": null, \"tasks\": {}} for none")
    return record if record["tasks"] else None  # {"run": null, "tasks": {}}: none yet


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def decide(summary: dict, gates: dict, champion: dict | None) -> dict:
    """{"promote": bool, "reasons": [...], "against": champion run or None, "tasks": per-task
    comparison}; reasons name each gate failure and each task where the run is worse."""
    reasons = [f"proxy gate: {r}" for r in gates.get("proxy", {}).get("reasons", [])]
    for task, verdict in gates.get("full", {}).get("tasks", {}).items():
        reasons += [f"full gate: {r}" for r in verdict["reasons"]]
    run = {t: m.get(FIGURE) for t, m in summary["tasks"].items()}
    # A NaN compares False with everything: without this a diverged run would be promoted.
    reasons += [not_finite(t, "rollout nRMSE", v) for t, v in run.items() if not finite(v)]
    run = {t: v for t, v in run.items() if finite(v)}
    compared: dict[str, dict] = {}
    if champion is not None:
        for task, best in champion["tasks"].items():
            mine = run.get(task)
            compared[task] = {"run": mine, "champion": best}
            if mine is None and task not in summary["tasks"]:
                reasons.append(f"{task}: the champion was scored on it, this run was not")
            elif mine is not None and mine > best:
                reasons.append(f"{task}: rollout nRMSE {mine:.4g} is worse than the champion's "
                               f"{best:.4g}")
        shared = [t for t in champion["tasks"] if run.get(t) is not None]
        if shared and not reasons:
            mine = _mean([run[t] for t in shared])
            best = _mean([champion["tasks"][t] for t in shared])
            if mine >= best:
                reasons.append(f"mean rollout nRMSE {mine:.4g} does not beat the champion's "
                               f"{best:.4g}")
    return {"promote": not reasons, "reasons": reasons,
            "against": None if champion is None else champion["run"], "tasks": compared}


def promote(summary: dict, decision: dict, revision: str, out: Path) -> dict:
    """Write the champion record for the run of `summary`, if `decision` promotes it."""
    if not decision["promote"]:
        raise ValueError("this run is not promoted: " + "; ".join(decision["reasons"]))
    record = {"run": summary["run"], "revision": revision,
              "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "tasks": {t: m[FIGURE] for t, m in summary["tasks"].items()},
              "mean": summary["mean"][FIGURE]}
    write_json(out, record)
    return record
