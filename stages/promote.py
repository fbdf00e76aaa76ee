"""Promote the evaluated run in this workspace to champion, if the report's decision says so.

The report stage writes the decision (gates passed, no task worse than the champion, better on
average) with its reasons; this command only acts on it, after a person has looked:

    dvc exp apply <experiment>       # the experiment's results into the workspace
    python -m stages.promote         # writes champion/champion.json (refuses a non-promoted run)
    git add -A && git commit -m "Promote <experiment> to champion"
    dvc metrics diff $(git log -1 --format=%h -- champion/champion.json)   # later runs
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from stages._cli import parser, run
from ups.eval.champion import promote
from ups.io import read_json


def main() -> None:
    p = parser(__doc__, params=False)
    p.add_argument("--summary", type=Path, default=Path("metrics/summary.json"),
                   help="the run's summary (default: metrics/summary.json)")
    p.add_argument("--decision", type=Path, default=Path("reports/promotion.json"),
                   help="the report's promotion decision (default: reports/promotion.json)")
    p.add_argument("--champion", type=Path, default=Path("champion/champion.json"),
                   help="the champion record to write (default: champion/champion.json)")
    args = p.parse_args()
    for path in (args.summary, args.decision):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; run `dvc repro` (or `dvc exp apply`) "
                                    "first")
    revision = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip() or "uncommitted"
    record = promote(read_json(args.summary), read_json(args.decision), revision,
                     args.champion)
    print(f"{args.champion}: champion is now run {record['run']} (mean rollout nRMSE "
          f"{record['mean']:.4g}); commit it: that commit is the champion's")


if __name__ == "__main__":
    run(main)
