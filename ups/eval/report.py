"""Aggregate per-task metrics into `summary.json` and a leaderboard CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ups.io import atomic_file, read_json, write_json

HEADLINE = ("nrmse_rollout", "nrmse_one_step", "persistence_nrmse_rollout",
            "persistence_nrmse_one_step", "nrmse_reconstruction")


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def build_summary(per_task: dict[str, dict]) -> dict:
    """Per-task headline figures and their means; `beats_persistence` counts rollout wins."""
    tasks = {t: {k: m.get(k) for k in HEADLINE} for t, m in per_task.items()}
    # A figure a task does not have (persistence of a steady task) is null: means skip it.
    mean = {k: _mean([v[k] for v in tasks.values()]) for k in HEADLINE}
    wins = sum(v["persistence_nrmse_rollout"] is not None
               and v["nrmse_rollout"] < v["persistence_nrmse_rollout"] for v in tasks.values())
    mean["beats_persistence"] = int(wins)
    mean["tasks"] = len(tasks)
    return {"mean": mean, "tasks": tasks}


def write_report(metrics_dir: Path, tasks: tuple[str, ...], summary_out: Path,
                 leaderboard_out: Path) -> dict:
    per_task = {}
    for task in tasks:
        path = Path(metrics_dir) / f"{task}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no evaluation metrics for task {task} "
                                    "(run eval for it)")
        per_task[task] = read_json(path)
    summary = build_summary(per_task)
    write_json(summary_out, summary)
    rows = [{"task": t, **v} for t, v in summary["tasks"].items()]
    rows.append({"task": "mean", **{k: summary["mean"][k] for k in HEADLINE}})
    with atomic_file(leaderboard_out) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["task", *HEADLINE])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v)
                             for k, v in row.items()})
    return summary
