"""Simulate a task's embedded default data: our own solvers write PDEBench-layout raw files."""

from __future__ import annotations

from pathlib import Path

from stages._cli import config, parser, run
from ups.data.simulate import simulate
from ups.io import atomic_dir
from ups.tasks import get_task


def main() -> None:
    p = parser(__doc__ + "\n\nOptions come from params.yaml `simulate.<task>`; `seed` seeds them.")
    p.add_argument("task", help="task name, e.g. burgers1d")
    p.add_argument("--out", required=True, type=Path, help="folder for the raw files")
    args = p.parse_args()
    cfg = config(args)
    get_task(args.task)
    if args.task not in cfg.simulate:
        raise ValueError(f"{args.params}: no simulate.{args.task} section; add the task's "
                         "simulator options there")
    with atomic_dir(args.out) as tmp:
        simulate(args.task, cfg.simulate[args.task], tmp, cfg.seed)


if __name__ == "__main__":
    run(main)
