"""Train the diffusion residual corrector (the teacher): a conditional denoiser of what the frozen
latent operator misses, r = z(t+dt) - operator(z(t)), given the operator's prediction, the task and
the PDE parameters. With `corrector.enabled: false` it writes a marker checkpoint and trains
nothing.

Knobs: the `corrector` section of params.yaml (`corrector.diffusion` is the training schedule)."""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run
from ups.config import load_config
from ups.training.corrector import train_diffusion


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--latent", required=True, type=Path, help="folder of per-task latent caches")
    p.add_argument("--operator", required=True, type=Path, help="the trained operator checkpoint")
    p.add_argument("--out", required=True, type=Path, help="checkpoint to write")
    p.add_argument("--live", default=None, help="dvclive folder for curves (optional)")
    args = p.parse_args()
    train_diffusion(load_config(args.params), args.latent, args.operator, args.out, args.live)


if __name__ == "__main__":
    run(main)
