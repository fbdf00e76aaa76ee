"""Evaluate one task on its test split: full rollouts and one-step predictions in physical units,
beside the persistence baseline; PDEBench metrics; figures."""

from __future__ import annotations

from pathlib import Path

from stages._cli import config, parser, run
from ups.eval.evaluate import evaluate_task


def main() -> None:
    p = parser(__doc__)
    p.add_argument("task", help="task name")
    p.add_argument("--autoencoder", required=True, type=Path, help="autoencoder checkpoint")
    p.add_argument("--operator", required=True, type=Path, help="operator checkpoint")
    p.add_argument("--data", required=True, type=Path, help="the task's converted store folder")
    p.add_argument("--latent", required=True, type=Path, help="the task's latent cache folder")
    p.add_argument("--metrics", required=True, type=Path, help="metrics JSON to write")
    p.add_argument("--plots", required=True, type=Path, help="folder for the task's plots")
    args = p.parse_args()
    evaluate_task(args.autoencoder, args.operator, args.data, args.latent, config(args).eval,
                  args.metrics, args.plots)


if __name__ == "__main__":
    run(main)
