"""Aggregate per-task metrics: `summary.json`, the run's leaderboard row, and the plot tables.

Each model variant of an evaluation (UPS, its baselines) writes its figures under a key prefix in
`metrics/eval/<task>.json`: `nrmse_rollout` for UPS, `persistence_nrmse_rollout`, `fno_...`,
`pod_...`.
The report lays them side by side per task and averages them over the tasks that have them.

What DVC shows must fit a terminal: `dvc metrics show` and `dvc exp show` read only
`metrics/rollout_nrmse.json` (UPS's rollout nRMSE per task and their mean: one column each, keyed
by task, so `dvc exp show` lays experiments side by side), `dvc metrics show metrics/headline` the
per-task headline (five short keys, a row per task and one for the mean), and the full figures
stay in `metrics/eval/<task>.json` and `metrics/summary.json` (`dvc metrics diff --targets
metrics/eval` diffs every figure).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ups.config import FullGateConfig
from ups.eval import champion, leaderboard
from ups.eval.gates import full_gate
from ups.io import atomic_dir, atomic_file, read_json, write_json

# Model variants and the prefix of their figures in the per-task metrics: the operator alone,
# with its corrector (ups.eval.variants), and the baselines.
VARIANTS = {"ups": "", "diffusion": "diffusion_", "consistency": "consistency_", "ttc": "ttc_",
            "persistence": "persistence_", "fno": "fno_", "pod": "pod_"}
HEADLINE = (*(f"{p}nrmse_{k}" for p in VARIANTS.values() for k in ("rollout", "one_step")),
            "nrmse_reconstruction")
# The per-task headline files' keys and the summary figure each holds: short keys, so that
# `dvc metrics show metrics/headline` stays within 120 columns.
HEADLINE_KEYS = {"ups": "nrmse_rollout", "fno": "fno_nrmse_rollout",
                 "pod": "pod_nrmse_rollout", "persistence": "persistence_nrmse_rollout",
                 "reconstruction": "nrmse_reconstruction"}
BASELINES = ("persistence", "fno", "pod")  # `beats_<name>` counts the tasks where UPS wins
MEAN = "mean"  # the headline row, and the rollout metrics key, of the mean over tasks


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def build_summary(per_task: dict[str, dict]) -> dict:
    """Per-task headline figures and their means; `beats_persistence` (`beats_fno`,
    `beats_pod`) count the tasks where UPS's rollout nRMSE is lower."""
    tasks = {t: {k: m.get(k) for k in HEADLINE} for t, m in per_task.items()}
    # A figure a task does not have (persistence of a steady task) is null: means skip it.
    mean: dict = {k: _mean([v[k] for v in tasks.values()]) for k in HEADLINE}
    for base in BASELINES:
        key = f"{base}_nrmse_rollout"
        mean[f"beats_{base}"] = int(sum(v[key] is not None and v["nrmse_rollout"] < v[key]
                                        for v in tasks.values()))
    mean["tasks"] = len(tasks)
    return {"mean": mean, "tasks": tasks}


def leaderboard_row(summary: dict) -> dict:
    """Per-task rollout nRMSE of every variant and the means: the columns of one run."""
    row: dict = {}
    for variant, prefix in VARIANTS.items():
        row[f"mean/{variant}"] = summary["mean"].get(f"{prefix}nrmse_rollout")
    row["mean/ups_one_step"] = summary["mean"]["nrmse_one_step"]
    for task, figures in summary["tasks"].items():
        for variant, prefix in VARIANTS.items():
            row[f"{task}/{variant}"] = figures.get(f"{prefix}nrmse_rollout")
    row["tasks"] = " ".join(summary["tasks"])
    return row


def read_task_metrics(metrics_dir: Path, tasks: tuple[str, ...]) -> dict[str, dict]:
    per_task = {}
    for task in tasks:
        path = Path(metrics_dir) / f"{task}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no evaluation metrics for task {task} "
                                    "(run eval for it)")
        per_task[task] = read_json(path)
    return per_task


def write_plot_tables(summary: dict, eval_plots: Path | None, out: Path) -> None:
    """Two task-independent tables for `dvc plots`: rollout nRMSE per variant and task (bars),
    and nRMSE against rollout step per task and variant (lines), both in long format."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "variants.csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["model", "nrmse_rollout"])
        for task, figures in summary["tasks"].items():
            for variant, prefix in VARIANTS.items():
                value = figures.get(f"{prefix}nrmse_rollout")
                if value is not None:
                    writer.writerow([f"{task} · {variant}", f"{value:.6g}"])
    with atomic_file(out / "rollout_nrmse.csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "series", "nrmse"])
        for task in summary["tasks"]:
            path = None if eval_plots is None else Path(eval_plots) / task / "nrmse_vs_step.csv"
            if path is None or not path.is_file():  # steady tasks have no rollout
                continue
            for row in _nrmse_rows(path):  # every model eval scored, in its order
                writer.writerow([row["step"], f"{task} · {row['model']}", row["nrmse"]])


def _nrmse_rows(path: Path) -> list[dict]:
    """The rows of an eval `nrmse_vs_step.csv` (long format: step, time, model, nrmse)."""
    with open(path, newline="") as src:
        reader = csv.DictReader(src)
        missing = {"step", "model", "nrmse"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: columns {sorted(missing)} missing (found "
                             f"{reader.fieldnames}); it was written by an older eval: re-run "
                             "it (`dvc repro`)")
        return [row for row in reader if row["nrmse"]]


def headline(summary: dict) -> dict[str, dict]:
    """Per task and for the mean over tasks: the headline figures under short keys."""
    rows = {**summary["tasks"], MEAN: summary["mean"]}  # no task is named "mean" (ups/tasks.py)
    return {name: {key: figures.get(field) for key, field in HEADLINE_KEYS.items()}
            for name, figures in rows.items()}


def rollout_metrics(summary: dict) -> dict[str, float | None]:
    """UPS's rollout nRMSE keyed by task, and their mean: the DVC metrics of a run."""
    out = {task: figures["nrmse_rollout"] for task, figures in summary["tasks"].items()}
    out[MEAN] = summary["mean"]["nrmse_rollout"]
    return out


def write_headline(summary: dict, headline_dir: Path | None, rollout_out: Path | None) -> None:
    """`headline_dir`/<task>.json and mean.json (replacing the folder: a task dropped from
    `tasks` leaves no stale file), and the run's metrics file `rollout_out`."""
    if headline_dir is not None:
        with atomic_dir(headline_dir) as tmp:
            for name, figures in headline(summary).items():
                write_json(tmp / f"{name}.json", figures)
    if rollout_out is not None:
        write_json(rollout_out, rollout_metrics(summary))


@dataclass
class Judging:
    """What the report judges the run by: the full gate's thresholds, the proxy gate's figures,
    the champion record, and where to write the promotion decision."""

    full: FullGateConfig
    proxy: Path
    champion: Path
    decision_out: Path


def judge(summary: dict, per_task: dict[str, dict], j: Judging) -> dict:
    """Gate verdicts into the summary; the promotion decision written; returns the decision."""
    proxy = read_json(j.proxy)
    full = full_gate(per_task, j.full)
    summary["gates"] = {"proxy_passed": bool(proxy["passed"]), "full_passed": full["passed"],
                        "tasks": {t: {"proxy_passed": proxy["tasks"].get(t, {}).get("passed"),
                                      "full_passed": v["passed"]}
                                  for t, v in full["tasks"].items()}}
    decision = champion.decide(summary, {"proxy": proxy, "full": full},
                               champion.load(j.champion))
    write_json(j.decision_out, {**decision, "run": summary["run"],
                                "full_gate": full, "proxy_gate_reasons": proxy["reasons"]})
    return decision


def write_report(metrics_dir: Path, tasks: tuple[str, ...], summary_out: Path,
                 leaderboard_out: Path, *, root: Path = Path("."), params: Path | None = None,
                 eval_plots: Path | None = None, plots_out: Path | None = None,
                 judging: Judging | None = None, headline_dir: Path | None = None,
                 rollout_out: Path | None = None) -> dict:
    """Write the summary, this run's leaderboard row (other runs' rows kept), with `plots_out`
    the plot tables, with `judging` the gate verdicts and the promotion decision, and with
    `headline_dir` / `rollout_out` the compact files DVC shows (`write_headline`)."""
    per_task = read_task_metrics(metrics_dir, tasks)
    summary = build_summary(per_task)
    identity = (leaderboard.run_identity(root, params) if params is not None
                else {leaderboard.KEY: "local", "revision": "", "date": "",
                      "params_changed": ""})
    summary["run"] = identity[leaderboard.KEY]
    row = {**identity, **leaderboard_row(summary)}
    if judging is not None:
        decision = judge(summary, per_task, judging)
        row.update({"proxy_gate": _verdict(summary["gates"]["proxy_passed"]),
                    "full_gate": _verdict(summary["gates"]["full_passed"]),
                    "promote": "yes" if decision["promote"] else "no",
                    "champion": decision["against"] or ""})
    write_json(summary_out, summary)
    write_headline(summary, headline_dir, rollout_out)
    leaderboard.upsert(leaderboard_out, row)
    if plots_out is not None:
        write_plot_tables(summary, eval_plots, plots_out)
    return summary


def _verdict(passed: bool) -> str:
    return "pass" if passed else "fail"
