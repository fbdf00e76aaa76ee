"""Convert a task's raw PDEBench-layout files into the UPS store (train/val/test, stats, manifest).

Reads one trajectory at a time; splits by initial-state index so no initial state appears in two
splits; statistics from the train split only. The raw files come from --raw (a folder of files,
or one holding the SOURCE.json the simulate stage writes for a PDEBench source), or straight from
a PDEBench download root with --pdebench-root (official sub-folders and file names), e.g.

  python -m stages.convert burgers1d --pdebench-root /data/pdebench --out /data/ups/burgers1d

params.yaml `sources.<task>` limits trajectories per file and subsamples space and time.
"""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run
from ups.data.config import load_data_config
from ups.data.convert import convert_task
from ups.data.sources import pdebench_files
from ups.tasks import get_task


def main() -> None:
    p = parser(__doc__)
    p.add_argument("task", help="task name, e.g. burgers1d")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--raw", type=Path, help="folder holding (or naming) the raw files")
    where.add_argument("--pdebench-root", type=Path,
                       help="a PDEBench download root: convert every file of the task in it "
                            "(or params' sources.<task>.files)")
    p.add_argument("--out", required=True, type=Path, help="folder for the converted store")
    args = p.parse_args()
    cfg = load_data_config(args.params)
    spec, source = get_task(args.task), cfg.source(args.task)
    files = pdebench_files(spec, args.pdebench_root, source.files) if args.pdebench_root else None
    convert_task(spec, args.raw, args.out, cfg.convert, cfg.seed, source, files)


if __name__ == "__main__":
    run(main)
