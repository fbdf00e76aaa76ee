"""Aggregate per-task metrics into a summary (per task and mean) and a leaderboard CSV."""

from __future__ import annotations

from pathlib import Path

from stages._cli import config, parser, run
from ups.eval.report import write_report


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--metrics", required=True, type=Path, help="folder of <task>.json metrics")
    p.add_argument("--summary", required=True, type=Path, help="summary JSON to write")
    p.add_argument("--leaderboard", required=True, type=Path, help="leaderboard CSV to write")
    args = p.parse_args()
    write_report(args.metrics, config(args).tasks, args.summary, args.leaderboard)


if __name__ == "__main__":
    run(main)
