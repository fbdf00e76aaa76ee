"""All fifteen tasks through the whole pipeline at once: wall time per stage kind and metrics.

Runs `dvc repro` in a fresh git + DVC copy of the project with `tasks` set to every task, the
committed simulator defaults, and training shortened to `--steps` per phase (small sizes: the
point is that every task, including the steady, 3D, mesh and particle ones, trains and is
evaluated; the figures are not tuned). Prints a Markdown table per task and the stage times.

    python bench/all_tasks.py --steps 300
    python bench/all_tasks.py --steps 300 --tasks darcy2d   # one task alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import tempfile
import time
from pathlib import Path

from project import fresh_project, load_params, sh

from ups.tasks import TASK_NAMES  # noqa: E402  (project puts the repository on sys.path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="training steps per phase")
    p.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES,
                   metavar="TASK", help="a subset of the tasks (default: all fifteen)")
    args = p.parse_args()
    params = load_params()
    params["tasks"] = list(args.tasks)
    for phase in ("autoencoder", "operator"):
        params[phase].update(steps=args.steps, eval_every=max(1, args.steps // 3),
                             warmup_steps=max(1, args.steps // 10))
    work = fresh_project(Path(tempfile.mkdtemp(prefix="ups-all-")), params)
    t0 = time.perf_counter()
    log = sh(["dvc", "repro", "--verbose"], work)
    total = time.perf_counter() - t0
    ran = re.findall(r"Running stage '([^']+)'", log)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.steps} steps per phase; "
          f"{len(ran)} stages ran; `dvc repro` wall time {total:.0f} s\n")
    print("| task | kind | rollout nRMSE | one-step nRMSE | baseline nRMSE | reconstruction |")
    print("|---|---|---|---|---|---|")
    for task in args.tasks:
        m = json.loads((work / f"metrics/eval/{task}.json").read_text())
        base = m.get("persistence_nrmse_rollout")
        base_txt = f"{base:.3f} (persistence)" if base is not None else \
            f"{m['mean_field_nrmse']:.3f} (train mean)"
        kind = "steady" if m["rollout_steps"] == 0 else "transient"
        print(f"| {task} | {kind} | {m['nrmse_rollout']:.3f} | {m['nrmse_one_step']:.3f} | "
              f"{base_txt} | {m['nrmse_reconstruction']:.3f} |")


if __name__ == "__main__":
    main()
