"""Is one model for several tasks at least as good as one model per task?

The multi-task run is the committed pipeline (`tasks` with S steps per phase, i.e. about
S / n_tasks steps per task): its metrics are read from `metrics/eval` (`dvc repro` writes them),
or it is run afresh with `--rerun-multi`. Each task alone then runs the same pipeline with
S / n_tasks steps per phase: the same number of steps per task. Every run is a fresh git + DVC
copy of the project. Prints the rollout and one-step nRMSE of both per task.

    python bench/multitask_vs_single.py
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

from project import ROOT, fresh_project, load_params, sh


def run(params: dict) -> tuple[dict[str, dict], float]:
    work = fresh_project(Path(tempfile.mkdtemp(prefix="ups-mt-")), params)
    t0 = time.perf_counter()
    sh(["dvc", "repro"], work)
    metrics = {t: json.loads((work / f"metrics/eval/{t}.json").read_text())
               for t in params["tasks"]}
    return metrics, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rerun-multi", action="store_true",
                   help="run the multi-task pipeline too instead of reading metrics/eval")
    args = p.parse_args()
    params = load_params()
    tasks = params["tasks"]
    if args.rerun_multi:
        multi, multi_s = run(params)
    else:
        multi = {t: json.loads((ROOT / f"metrics/eval/{t}.json").read_text()) for t in tasks}
        multi_s = float("nan")
    single, single_s = {}, 0.0
    for task in tasks:
        alone = copy.deepcopy(params)
        alone["tasks"] = [task]
        for phase in ("autoencoder", "operator"):
            steps = params[phase]["steps"] // len(tasks)
            alone[phase].update(steps=steps, eval_every=min(params[phase]["eval_every"], steps),
                                warmup_steps=min(params[phase]["warmup_steps"], steps // 5))
        metrics, seconds = run(alone)
        single[task] = metrics[task]
        single_s += seconds
    steps = {p: params[p]["steps"] for p in ("autoencoder", "operator")}
    print(f"multi-task: {steps} steps per phase over {len(tasks)} tasks ({multi_s:.0f} s, nan: "
          "read from metrics/eval); "
          f"single-task: {steps['autoencoder'] // len(tasks)} / "
          f"{steps['operator'] // len(tasks)} steps per task ({single_s:.0f} s in all)\n")
    print("| task | rollout nRMSE multi | rollout nRMSE single | one-step multi | "
          "one-step single |")
    print("|---|---|---|---|---|")
    for task in tasks:
        m, s = multi[task], single[task]
        print(f"| {task} | {m['nrmse_rollout']:.3f} | {s['nrmse_rollout']:.3f} | "
              f"{m['nrmse_one_step']:.3f} | {s['nrmse_one_step']:.3f} |")
    mean_m, mean_s = (sum(d[t]["nrmse_rollout"] for t in tasks) / len(tasks)
                      for d in (multi, single))
    print(f"| **mean** | **{mean_m:.3f}** | **{mean_s:.3f}** | | |")


if __name__ == "__main__":
    main()
