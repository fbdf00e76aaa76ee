"""Evaluate one task on its test split: full rollouts and one-step predictions in physical units
of the operator, the operator with its residual corrector (diffusion, consistency, test-time
conditioning), persistence and the FNO and POD baselines; PDEBench metrics; figures."""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run, surrogate_inputs
from ups.config import load_config
from ups.eval.evaluate import evaluate_task
from ups.eval.variants import Variants


def main() -> None:
    p = parser(__doc__)
    surrogate_inputs(p)
    p.add_argument("--metrics", required=True, type=Path, help="metrics JSON to write")
    p.add_argument("--plots", required=True, type=Path, help="folder for the task's plots")
    p.add_argument("--diffusion", type=Path, default=None,
                   help="diffusion corrector checkpoint (scores the corrector variants)")
    p.add_argument("--consistency", type=Path, default=None,
                   help="consistency-distilled corrector checkpoint")
    p.add_argument("--fno", type=Path, default=None, help="the task's FNO baseline checkpoint")
    p.add_argument("--pod", type=Path, default=None, help="the task's POD baseline model (.npz)")
    args = p.parse_args()
    cfg = load_config(args.params)
    variants = Variants(cfg.corrector, args.diffusion, args.consistency, args.fno, cfg.seed,
                        args.pod)
    evaluate_task(args.autoencoder, args.operator, args.latent, cfg.eval,
                  args.metrics, args.plots, variants)


if __name__ == "__main__":
    run(main)
