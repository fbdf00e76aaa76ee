"""DVC's own cost: `dvc status`, a no-op `dvc repro` and `dvc exp run`, and the overhead DVC adds
to one stage (`dvc repro -f -s STAGE` against the stage's command run directly), in a fresh copy
of the project run once at the tests' tiny sizes (the overheads do not depend on data size,
except for hashing outputs, which the per-stage figure includes).

    python bench/dvc_overhead.py
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from project import fresh_project, sh, tiny_params


def timed(cmd: list[str], cwd: Path, repeat: int) -> float:
    """Median wall seconds of `cmd` over `repeat` runs."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1", TQDM_DISABLE="1")
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def stage_command(work: Path, stage: str) -> list[str]:
    """The command dvc.yaml runs for `stage` (a foreach item `name@task` resolved by hand)."""
    name, _, item = stage.partition("@")
    body = yaml.safe_load((work / "dvc.yaml").read_text())["stages"][name]
    cmd = body.get("do", body)["cmd"].replace("${item}", item)
    return shlex.split(cmd)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    work = fresh_project(Path(tempfile.mkdtemp(prefix="ups-dvc-bench-")), tiny_params())
    t0 = time.perf_counter()
    sh(["dvc", "repro"], work)
    print(f"tiny pipeline from scratch: {time.perf_counter() - t0:.0f} s (not an overhead)")
    sh(["git", "add", "-A"], work)
    sh(["git", "commit", "-qm", "run"], work)
    rows = [("`dvc status` (nothing changed)", timed(["dvc", "status"], work, args.repeat)),
            ("`dvc repro` (nothing to do)", timed(["dvc", "repro"], work, args.repeat)),
            ("`dvc exp run` (nothing to do)", timed(["dvc", "exp", "run"], work, args.repeat))]
    stages = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    rows.append(("stages in the pipeline", len(stages)))
    for stage in ("report", "eval@burgers1d"):
        with_dvc = timed(["dvc", "repro", "-f", "-s", stage], work, args.repeat)
        alone = timed(stage_command(work, stage), work, args.repeat)
        rows.append((f"`{stage}`: `dvc repro -f -s` / the command alone / DVC's share",
                     f"{with_dvc:.2f} / {alone:.2f} / {with_dvc - alone:.2f}"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; median of {args.repeat}")
    print("\n| what | seconds |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value if isinstance(value, (int, str)) else f'{value:.2f}'} |")


if __name__ == "__main__":
    main()
