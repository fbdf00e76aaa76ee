"""Encode throughput and latent-cache size, and how the data costs grow with grid points,
trajectories and tasks.

Runs in-process on simulated data (our solvers; simulation time is not counted): for each case it
times `convert_task` and `encode_task` (the default model at the default latent size; weights at
their initialisation: encode cost does not depend on training) and measures the converted store
and the latent cache on disk. The cache also carries the scoring set (a copy of the test split),
counted separately. Prints Markdown tables.

    python bench/data_scaling.py
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from project import load_params

from ups.config import config_from_dict
from ups.data.convert import convert_task
from ups.data.latent import SCORING_SPLIT, STATS, encode_task
from ups.data.simulate import simulate
from ups.models.autoencoder import AutoEncoder, autoencoder_args
from ups.tasks import get_task
from ups.training.checkpoint import save_checkpoint


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def run_case(work: Path, cfg, tasks: dict[str, dict], ckpt: Path) -> dict:
    """Simulate, convert and encode `tasks` (name -> simulator options); costs and sizes."""
    out = {"convert_s": 0.0, "encode_s": 0.0, "converted": 0, "cache": 0, "scoring": 0,
           "frames": 0}
    for task, opts in tasks.items():
        raw, conv, lat = work / "raw" / task, work / "conv" / task, work / "lat" / task
        simulate(task, opts, raw, cfg.seed)
        t0 = time.perf_counter()
        convert_task(get_task(task), raw, conv, cfg.convert, cfg.seed)
        out["convert_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        meta = encode_task(task, ckpt, conv, lat)
        out["encode_s"] += time.perf_counter() - t0
        out["frames"] += sum(int(np.prod(s[:2])) for s in meta["shape"].values())
        scoring = (lat / f"{SCORING_SPLIT}.h5").stat().st_size + (lat / STATS).stat().st_size
        out["converted"] += size(conv)
        out["cache"] += size(lat) - scoring
        out["scoring"] += scoring
    shutil.rmtree(work)
    return out


def row(label: str, r: dict) -> str:
    return (f"| {label} | {r['frames']} | {r['convert_s']:.2f} | {r['encode_s']:.2f} | "
            f"{r['frames'] / r['encode_s']:.0f} | {r['converted'] / 1e6:.2f} | "
            f"{r['cache'] / 1e6:.2f} | {r['cache'] / r['converted']:.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.parse_args()
    params = load_params()
    cfg = config_from_dict(params)
    base = Path(tempfile.mkdtemp(prefix="ups-scaling-"))
    torch.manual_seed(0)
    args = autoencoder_args(cfg)
    save_checkpoint(base / "ae.pt", AutoEncoder(**args), args, config={}, step=0)
    burgers = dict(params["simulate"]["burgers1d"], nu=[0.01])
    header = ("| case | frames encoded | convert (s) | encode (s) | encode frames/s | "
              "converted (MB) | latent cache (MB) | cache / converted |\n"
              "|---|---|---|---|---|---|---|---|")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}; latent dim {cfg.latent.dim}, patch_values "
          f"{cfg.latent.patch_values}, float16")
    print("\nGrid points (burgers1d, 96 trajectories, 41 steps):\n\n" + header)
    for nx in (64, 256, 1024):
        r = run_case(base / f"nx{nx}", cfg, {"burgers1d": dict(burgers, nx=nx)}, base / "ae.pt")
        print(row(f"nx = {nx}", r), flush=True)
    print("\nTrajectories (burgers1d, nx 128, 41 steps):\n\n" + header)
    for n in (48, 192, 768):
        r = run_case(base / f"n{n}", cfg, {"burgers1d": dict(burgers, n_traj=n)}, base / "ae.pt")
        print(row(f"{n} trajectories", r), flush=True)
    print("\nTasks (the default tasks at their default sizes):\n\n" + header)
    tasks = params["tasks"]
    for k in range(1, len(tasks) + 1):
        chosen = {t: params["simulate"][t] for t in tasks[:k]}
        r = run_case(base / f"tasks{k}", cfg, chosen, base / "ae.pt")
        print(row(" + ".join(chosen), r), flush=True)
    shutil.rmtree(base)


if __name__ == "__main__":
    main()
