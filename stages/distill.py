"""Consistency distillation of the diffusion corrector: a student that draws residual samples in
1-2 network calls, trained so that its outputs at adjacent noise levels of the teacher's ODE
trajectory agree (Song et al. 2023). Writes a marker checkpoint when the corrector is disabled.

Knobs: `corrector` in params.yaml (`corrector.distill` is the training schedule)."""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run
from ups.config import load_config
from ups.training.corrector import distill


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--latent", required=True, type=Path, help="folder of per-task latent caches")
    p.add_argument("--operator", required=True, type=Path, help="the trained operator checkpoint")
    p.add_argument("--teacher", required=True, type=Path, help="the diffusion checkpoint")
    p.add_argument("--out", required=True, type=Path, help="checkpoint to write")
    p.add_argument("--live", default=None, help="dvclive folder for curves (optional)")
    args = p.parse_args()
    distill(load_config(args.params), args.latent, args.operator, args.teacher, args.out, args.live)


if __name__ == "__main__":
    run(main)
