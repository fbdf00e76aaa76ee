"""Train the shared encoder and any-point decoder on every task in params.yaml `tasks`."""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run, training_outputs
from ups.config import load_config
from ups.training.autoencoder import train_autoencoder
from ups.training.distributed import relaunch


def main() -> None:
    p = parser(__doc__ + "\n\nKnobs: `latent`, `model`, `autoencoder` sections of params.yaml.")
    p.add_argument("--data", required=True, type=Path,
                   help="folder holding one converted store per task (data/converted)")
    training_outputs(p)
    args = p.parse_args()
    nproc = load_config(args.params).autoencoder.nproc
    if relaunch(nproc, "stages.train_autoencoder"):  # nproc > 1: under torchrun
        return
    train_autoencoder(load_config(args.params), args.data, args.out, args.live, resume=args.resume)


if __name__ == "__main__":
    run(main)
