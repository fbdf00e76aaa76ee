"""Merge leaderboards from several machines or experiments into one, by run.

Rows are keyed by `run` (git revision + fingerprint of changed params); a run present in several
files keeps its latest-dated row, every other row is kept. Example, after fetching a colleague's
experiment branch:

    git show origin/exp-branch:reports/leaderboard.csv > /tmp/theirs.csv
    python -m stages.leaderboard merge reports/leaderboard.csv /tmp/theirs.csv
"""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run
from ups.eval.leaderboard import merge


def main() -> None:
    p = parser(__doc__, params=False)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("merge", help="merge leaderboards into the first one")
    m.add_argument("out", type=Path, help="leaderboard to update (created if missing)")
    m.add_argument("sources", nargs="+", type=Path, help="leaderboards to merge in")
    args = p.parse_args()
    for source in args.sources:
        if not source.is_file():
            raise FileNotFoundError(f"{source}: no such leaderboard")
    rows = merge(args.out, args.sources)
    print(f"{args.out}: {len(rows)} runs")


if __name__ == "__main__":
    run(main)
