"""Produce a task's raw data: our own solvers write PDEBench-layout files (the default), or, for a
task whose params.yaml `sources.<task>.kind` is `pdebench`, a SOURCE.json naming the files of a
PDEBench download root (nothing is copied)."""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run
from ups.data.config import load_data_config
from ups.data.simulate import simulate
from ups.data.sources import write_source_record
from ups.io import atomic_dir
from ups.tasks import get_task


def main() -> None:
    p = parser(__doc__ + "\n\nSimulator options come from params.yaml `simulate.<task>`; `seed` "
               "seeds them.")
    p.add_argument("task", help="task name, e.g. burgers1d")
    p.add_argument("--out", required=True, type=Path, help="folder for the raw files")
    args = p.parse_args()
    cfg = load_data_config(args.params)
    spec = get_task(args.task)
    source = cfg.source(args.task)
    if source.kind == "pdebench":
        with atomic_dir(args.out) as tmp:
            write_source_record(tmp, spec, source)
        return
    if args.task not in cfg.simulate:
        raise ValueError(f"{args.params}: no simulate.{args.task} section; add the task's "
                         "simulator options there")
    with atomic_dir(args.out) as tmp:
        simulate(args.task, cfg.simulate[args.task], tmp, cfg.seed)


if __name__ == "__main__":
    run(main)
