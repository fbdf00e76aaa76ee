"""Encode a task's converted store into its latent cache (float16, one array per split)."""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run
from ups.data.latent import encode_task


def main() -> None:
    p = parser(__doc__, params=False)  # the checkpoint carries everything encoding needs
    p.add_argument("task", help="task name (checked against the store)")
    p.add_argument("--autoencoder", required=True, type=Path, help="autoencoder checkpoint")
    p.add_argument("--data", required=True, type=Path, help="the task's converted store folder")
    p.add_argument("--out", required=True, type=Path, help="folder for the latent cache")
    p.add_argument("--batch-size", type=int, default=64, help="frames encoded at once")
    args = p.parse_args()
    encode_task(args.task, args.autoencoder, args.data, args.out, args.batch_size)


if __name__ == "__main__":
    run(main)
