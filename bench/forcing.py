"""Does conditioning on NS's forcing field help the operator?

PDEBench's incompressible Navier-Stokes draws a forcing field per trajectory; the state alone
does not say which one acts. This runs the pipeline's own library calls on `navier_stokes2d`
(the committed simulator defaults, convert, autoencoder, encode), then trains the operator twice
on the same latent caches and evaluates both:

* with forcing: the caches as `encode` writes them (the forcing latents `{split}_inputs.npy`
  condition every step);
* without: a copy of the caches without the forcing latents (what the operator saw before it
  was conditioned on them).

Printed per variant: the operator's validation error against the decoded true latents (the
operator's own error, without the autoencoder's reconstruction error), and the test rollout
and one-step nRMSE against the true fields.

    python bench/forcing.py [--ae-steps 1500] [--op-steps 1500] [--n-traj 64]
"""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
import time
from pathlib import Path

from project import load_params

from ups.config import config_from_dict
from ups.data.convert import convert_task
from ups.data.latent import encode_task
from ups.data.simulate import simulate
from ups.eval.evaluate import evaluate_task
from ups.tasks import get_task
from ups.training.autoencoder import train_autoencoder
from ups.training.operator import train_operator

TASK = "navier_stokes2d"


def settings(ae_steps: int, op_steps: int, n_traj: int | None) -> dict:
    params = copy.deepcopy(load_params())
    params["tasks"] = [TASK]
    if n_traj:
        params["simulate"][TASK]["n_traj"] = n_traj
    for phase, steps in (("autoencoder", ae_steps), ("operator", op_steps)):
        params[phase].update(steps=steps, eval_every=min(params[phase]["eval_every"], steps))
    return params


def without_forcing(latent: Path, dest: Path) -> Path:
    """A copy of a task's latent cache folder without its input-field latents."""
    shutil.copytree(latent, dest, ignore=shutil.ignore_patterns("*_inputs.npy"))
    return dest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ae-steps", type=int, default=1500, help="autoencoder training steps")
    p.add_argument("--op-steps", type=int, default=1500, help="operator training steps")
    p.add_argument("--n-traj", type=int, default=None,
                   help="trajectories to simulate (default: params.yaml's; a multiple of 4)")
    p.add_argument("--work", type=Path, default=None, help="working folder (default: a temp)")
    args = p.parse_args()
    cfg = config_from_dict(settings(args.ae_steps, args.op_steps, args.n_traj))
    work = args.work or Path(tempfile.mkdtemp(prefix="ups-forcing-"))
    raw, conv, latent = work / "raw" / TASK, work / "converted" / TASK, work / "latent"
    t0 = time.perf_counter()
    simulate(TASK, cfg.simulate[TASK], raw, cfg.seed)
    convert_task(get_task(TASK), raw, conv, cfg.convert, cfg.seed)
    ae = work / "autoencoder.pt"
    train_autoencoder(cfg, work / "converted", ae, None)
    encode_task(TASK, ae, conv, latent / "with" / TASK)
    without_forcing(latent / "with" / TASK, latent / "without" / TASK)
    prep = time.perf_counter() - t0
    rows = {}
    for variant in ("with", "without"):
        t0 = time.perf_counter()
        op = work / f"operator-{variant}.pt"
        result = train_operator(cfg, latent / variant, op, None, ae)
        seconds = time.perf_counter() - t0
        metrics = evaluate_task(ae, op, latent / variant / TASK, cfg.eval,
                                work / f"eval-{variant}.json", work / f"plots-{variant}")
        rows[variant] = (result.best_val, metrics, seconds)
    print(f"{TASK}: {cfg.simulate[TASK]}; autoencoder {args.ae_steps} steps, operator "
          f"{args.op_steps} steps; simulate+convert+autoencoder+encode {prep:.0f} s; work {work}\n")
    print("| operator | val error vs decoded true latents | test rollout nRMSE | "
          "test one-step nRMSE | reconstruction | train (s) |")
    print("|---|---|---|---|---|---|")
    for variant, (val, m, seconds) in rows.items():
        print(f"| {variant} forcing | {val:.3f} | {m['nrmse_rollout']:.3f} | "
              f"{m['nrmse_one_step']:.3f} | {m['nrmse_reconstruction']:.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
