"""Train the FNO baseline of one grid task on its converted data (the same train split UPS
uses). Mesh and particle tasks, and `baselines.fno.enabled: false`, get a marker checkpoint that
says why there is no model; evaluation then reports the FNO's figures as null.

Knobs: `baselines.fno` in params.yaml (`baselines.fno.train` is the training schedule)."""

from __future__ import annotations

from pathlib import Path

from stages._cli import parser, run, training_outputs
from ups.config import load_config
from ups.tasks import get_task
from ups.training.checkpoint import save_disabled
from ups.training.fno import train_fno


def main() -> None:
    p = parser(__doc__)
    p.add_argument("task", help="task name")
    p.add_argument("--data", required=True, type=Path, help="the task's converted store folder")
    training_outputs(p)
    args = p.parse_args()
    cfg = load_config(args.params)
    fno, spec = cfg.baselines.fno, get_task(args.task)
    if not fno.enabled or spec.kind != "grid":
        save_disabled(args.out, "baselines.fno.enabled is false" if not fno.enabled else
                      f"the FNO baseline needs a grid; {spec.name} is a {spec.kind}", args.live)
        return
    train_fno(fno.train, cfg.seed, args.data, args.out, args.live, fno.width, fno.modes,
              fno.layers, resume=args.resume)


if __name__ == "__main__":
    run(main)
