"""Convert a task's raw PDEBench-layout files into the UPS store (train/val/test, stats, manifest).

Reads one trajectory at a time; splits by initial-state index so no initial state appears in two
splits; statistics from the train split only.
"""

from __future__ import annotations

from pathlib import Path

from stages._cli import config, parser, run
from ups.data.convert import convert_task
from ups.tasks import get_task


def main() -> None:
    p = parser(__doc__)
    p.add_argument("task", help="task name, e.g. burgers1d")
    p.add_argument("--raw", required=True, type=Path, help="folder holding the raw files")
    p.add_argument("--out", required=True, type=Path, help="folder for the converted store")
    args = p.parse_args()
    cfg = config(args)
    convert_task(get_task(args.task), args.raw, args.out, cfg.convert, cfg.seed)


if __name__ == "__main__":
    run(main)
