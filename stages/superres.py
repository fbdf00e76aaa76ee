"""Zero-shot super-resolution of one task: the model, trained on a grid coarsened by
`sources.<task>.reduced_resolution`, decoded on grids 2x, 4x ... finer (up to the raw grid),
against the coarse prediction interpolated there. Writes a note only when the task is trained at
its raw resolution."""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run, surrogate_inputs
from ups.config import SourceConfig, load_config
from ups.eval.superres import evaluate_superres


def main() -> None:
    p = parser(__doc__)
    surrogate_inputs(p)
    p.add_argument("--raw", required=True, type=Path, help="the task's raw data folder")
    p.add_argument("--out", required=True, type=Path, help="metrics JSON to write")
    args = p.parse_args()
    cfg = load_config(args.params)
    evaluate_superres(args.autoencoder, args.operator, args.latent, args.raw,
                      cfg.sources.get(args.task, SourceConfig()), cfg.eval.max_trajectories,
                      args.out)


if __name__ == "__main__":
    run(main)
