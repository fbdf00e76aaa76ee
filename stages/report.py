"""Aggregate per-task metrics into a summary (per task and mean), this run's leaderboard row
(rows of earlier runs are kept) and the tables behind the report's plots; judge the run by the
gates and against the champion, and write the promotion decision.

The run is named by the git revision and the parameters it changed against it (see
`ups/eval/leaderboard.py`). To combine leaderboards from several machines, use
`python -m stages.leaderboard merge`.
"""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run
from ups.config import load_config
from ups.eval.report import Judging, write_report


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--metrics", required=True, type=Path, help="folder of <task>.json metrics")
    p.add_argument("--eval-plots", type=Path, default=None,
                   help="folder of <task>/nrmse_vs_step.csv tables from eval")
    p.add_argument("--summary", required=True, type=Path, help="summary JSON to write")
    p.add_argument("--headline", type=Path, default=None,
                   help="folder for the headline per task and mean (<task>.json, mean.json): "
                        "UPS, FNO, POD and persistence rollout nRMSE, reconstruction nRMSE")
    p.add_argument("--rollout-metrics", type=Path, default=None,
                   help="JSON to write with UPS's rollout nRMSE per task and their mean (the "
                        "run's DVC metrics)")
    p.add_argument("--leaderboard", required=True, type=Path,
                   help="leaderboard CSV: this run's row is written, other rows kept")
    p.add_argument("--plots", type=Path, default=None, help="folder for the plot tables")
    p.add_argument("--proxy-gate", type=Path, default=None,
                   help="the proxy gate's figures (metrics/gates/proxy.json)")
    p.add_argument("--champion", type=Path, default=None, help="the champion record")
    p.add_argument("--decision", type=Path, default=None,
                   help="promotion decision JSON to write (needs --proxy-gate, --champion)")
    args = p.parse_args()
    cfg = load_config(args.params)
    given = [args.proxy_gate, args.champion, args.decision]
    if any(given) and not all(given):
        raise ValueError("--proxy-gate, --champion and --decision go together")
    judging = Judging(cfg.gates.full, *given) if all(given) else None
    write_report(args.metrics, cfg.tasks, args.summary, args.leaderboard, root=Path("."),
                 params=Path(args.params), eval_plots=args.eval_plots, plots_out=args.plots,
                 judging=judging, headline_dir=args.headline,
                 rollout_out=args.rollout_metrics)


if __name__ == "__main__":
    run(main)
