"""Fit the POD baseline of one task on its converted data (the same train split UPS uses; the
val split chooses its number of modes and ridge). A task whose points move (particles), and
`baselines.pod.enabled: false`, get a marker file that says why there is no model; evaluation
then reports the POD's figures as null.

Knobs: `baselines.pod` in params.yaml."""

from __future__ import annotations

import sys
from pathlib import Path

from stages._cli import parser, run
from ups.config import load_config
from ups.tasks import get_task
from ups.training.pod import train_pod
from ups.training.pod_model import save_disabled_pod


def main() -> None:
    p = parser(__doc__)
    p.add_argument("task", help="task name")
    p.add_argument("--data", required=True, type=Path, help="the task's converted store folder")
    p.add_argument("--out", required=True, type=Path, help="the POD model file (.npz) to write")
    args = p.parse_args()
    cfg = load_config(args.params)
    pod, spec = cfg.baselines.pod, get_task(args.task)
    if not pod.enabled or spec.kind == "particles":
        save_disabled_pod(args.out, "baselines.pod.enabled is false" if not pod.enabled else
                          f"the POD baseline needs fixed points; {spec.name}'s particles move")
        return
    record = train_pod(pod.modes, pod.ridge, cfg.seed, args.data, args.out, task=spec.name)
    print(f"pod {spec.name}: {record['modes']} modes, ridge {record['ridge']:g}, "
          f"{record['target']} map, val nRMSE {record['val_nrmse']:.4g}", file=sys.stderr)


if __name__ == "__main__":
    run(main)
