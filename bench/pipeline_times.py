"""Wall time of the default pipeline, stage by stage, in a fresh copy of the project.

Copies dvc.yaml, params.yaml, stages/ and ups/ into a temporary git + DVC repository and runs
`dvc repro -s <stage>` for every stage in pipeline order, timing each (the time includes DVC's own
per-stage overhead and the Python start-up of the stage). Prints a Markdown table.

    python bench/pipeline_times.py            # the committed params.yaml
    python bench/pipeline_times.py --keep DIR # keep the run's repository in DIR
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml
from project import fresh_project, sh

ORDER = ("simulate", "convert", "train_autoencoder", "encode", "train_operator", "eval", "report")


def stage_names(tasks: list[str]) -> list[str]:
    names = []
    for stage in ORDER:
        per_task = stage in ("simulate", "convert", "encode", "eval")
        names += [f"{stage}@{t}" for t in tasks] if per_task else [stage]
    return names


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keep", type=Path, help="run in this folder and keep it")
    args = p.parse_args()
    work = fresh_project(args.keep or Path(tempfile.mkdtemp(prefix="ups-bench-")))
    tasks = yaml.safe_load((work / "params.yaml").read_text())["tasks"]
    rows, total = [], 0.0
    for name in stage_names(tasks):
        t0 = time.perf_counter()
        sh(["dvc", "repro", "-s", name], work)
        dt = time.perf_counter() - t0
        total += dt
        rows.append((name, dt))
        print(f"{name}: {dt:.1f} s", file=sys.stderr)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{__import__('torch').get_num_threads()}")
    print("\n| stage | wall time (s) |\n|---|---|")
    for name, dt in rows:
        print(f"| `{name}` | {dt:.1f} |")
    print(f"| **total** | **{total:.1f}** |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
