"""Wall time, peak memory and output size of every task's embedded default dataset.

Runs `python -m stages.simulate <task>` (the command `simulate@<task>` runs) for every task that
has a `simulate.<task>` section in params.yaml, one at a time in a fresh process, and
`python -m stages.convert` on its output; prints a Markdown table. The contract: each task's
default data is simulated in under a minute on 2 cores.

    python bench/simulate_times.py                     # every task in params.yaml
    python bench/simulate_times.py --tasks burgers1d   # some of them
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_stage(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one stage process (its own rusage, via wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=dict(os.environ, TQDM_DISABLE="1"))
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{stderr.decode()}")
    return wall, usage.ru_maxrss / 1024  # KB on Linux


def size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    p.add_argument("--tasks", nargs="*", help="tasks to run (default: every simulate section)")
    args = p.parse_args()
    sections = yaml.safe_load(args.params.read_text())["simulate"]
    tasks = args.tasks or list(sections)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; params: {args.params.name}\n")
    print("| task | simulate (s) | peak RSS (MB) | raw size (MB) | convert (s) | converted (MB) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="ups-sim-") as tmp:
        for task in tasks:
            raw, conv = Path(tmp) / "raw" / task, Path(tmp) / "conv" / task
            sim_s, rss = run_stage(["stages.simulate", task, "--params", str(args.params),
                                    "--out", str(raw)])
            conv_s, _ = run_stage(["stages.convert", task, "--params", str(args.params),
                                   "--raw", str(raw), "--out", str(conv)])
            print(f"| {task} | {sim_s:.1f} | {rss:.0f} | {size_mb(raw):.1f} | {conv_s:.1f} | "
                  f"{size_mb(conv):.1f} |", flush=True)


if __name__ == "__main__":
    main()
