"""Train the latent operator (one-step + unrolled losses) on the latent caches of every task."""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run, training_outputs
from ups.config import load_config
from ups.training.distributed import relaunch
from ups.training.operator import train_operator


def main() -> None:
    p = parser(__doc__ + "\n\nKnobs: `latent`, `model`, `operator` sections of params.yaml.")
    p.add_argument("--latent", required=True, type=Path,
                   help="folder holding one latent cache per task (data/latent)")
    training_outputs(p)
    p.add_argument("--autoencoder", default=None, type=Path,
                   help="the autoencoder checkpoint that made the caches: its frozen decoder "
                        "serves the decoded-field loss terms (`operator.losses`)")
    args = p.parse_args()
    nproc = load_config(args.params).operator.nproc
    if relaunch(nproc, "stages.train_operator"):  # nproc > 1: under torchrun
        return
    train_operator(load_config(args.params), args.latent, args.out, args.live, args.autoencoder,
                   resume=args.resume)


if __name__ == "__main__":
    run(main)
