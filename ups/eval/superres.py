"""Zero-shot super-resolution: a model trained on a coarsened grid, decoded on finer ones.

When a grid task is converted with `sources.<task>.reduced_resolution = r` (every r-th point of the
raw grid), the model never sees the raw grid. Its any-point decoder can still be asked for values
at the points of grids 2x, 4x ... r x finer (the raw grid is r x). Truth comes from the raw files
(the same test trajectories, through the test store's `source` record); the honest baseline
is the coarse prediction interpolated (linearly, periodically where the task is periodic) onto
the finer grid. Both are scored with nRMSE over the rollout (the given first state excluded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ups.config import SourceConfig
from ups.data.datasets import grid_positions
from ups.data.latent import SCORING_SPLIT
from ups.data.raw import open_raw
from ups.data.sources import find_raw_files
from ups.data.store import GridStore, open_store, split_path
from ups.eval.evaluate import latent_rollout, load_surrogate, scoring_cache
from ups.eval.metrics import nrmse_per_time
from ups.eval.rollout import Surrogate, decode_trajectories
from ups.io import write_json
from ups.tasks import TaskSpec, get_task


def factors(r: int) -> list[int]:
    """Refinement factors to score for a grid coarsened by r: 1, 2, 4, ... up to r (those that
    divide r, so each finer grid is the raw grid taken every r // f points)."""
    out, f = [], 1
    while f <= r:
        if r % f == 0:
            out.append(f)
        f *= 2
    return out


def native_trajectories(raw_dir: Path, spec: TaskSpec, source: SourceConfig, store: GridStore,
                        n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The first n test trajectories at the raw grid's resolution, (n, T, *S_raw, C), and the
    raw grid's cell centres; time thinned as the converter did."""
    paths = {p.name: p for p in find_raw_files(spec, raw_dir)}
    out = []
    coords: dict[str, np.ndarray] = {}
    readers: dict[int, object] = {}
    try:
        for i in range(n):
            f, j = (int(v) for v in store.source[i])
            name = Path(store.files[f]).name
            if name not in paths:
                raise FileNotFoundError(f"{raw_dir}: raw file {name} of test trajectory {i} "
                                        "not found (super-resolution needs the raw data)")
            if f not in readers:
                readers[f] = open_raw(paths[name], spec)
            reader = readers[f]
            out.append(reader.read(j)[::source.reduced_resolution_t])  # (T, *S_raw, C)
            coords = reader.info.coords
    finally:
        for reader in readers.values():
            reader.close()
    truth = np.stack(out)
    if truth.shape[1] != len(store.t):
        raise ValueError(f"{raw_dir}: raw trajectories have {truth.shape[1]} steps after "
                         f"thinning, the converted store {len(store.t)}; convert again")
    return truth, coords


def interpolate(u: np.ndarray, coarse: dict[str, np.ndarray], fine: dict[str, np.ndarray],
                periodic: bool) -> np.ndarray:
    """Separable linear interpolation of (B, T, *S_coarse, C) from the coarse cell centres to
    the fine ones, axis by axis; periodic tasks wrap around the domain."""
    for d, axis in enumerate(coarse):
        xc, xf = np.asarray(coarse[axis], float), np.asarray(fine[axis], float)
        # The domain length of a periodic axis: the fine grid's spacing times its cell count.
        period = len(xf) * (xf[1] - xf[0]) if periodic and len(xf) > 1 else None
        moved = np.moveaxis(u, 2 + d, -1)  # the interpolated axis last
        flat = moved.reshape(-1, moved.shape[-1])
        res = np.stack([np.interp(xf, xc, row, period=period) for row in flat])
        u = np.moveaxis(res.reshape(*moved.shape[:-1], len(xf)), -1, 2 + d)
    return u


def _nrmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean nRMSE over steps 1.. of (B, T, *S, C) arrays (PDEBench layout inside)."""
    p, t = (torch.from_numpy(np.moveaxis(np.asarray(x[:, 1:], np.float64), 1, -2))
            for x in (pred, truth))
    return float(nrmse_per_time(p, t).mean())


def superres_metrics(model: Surrogate, z: torch.Tensor, store: GridStore, raw_dir: Path,
                     spec: TaskSpec, source: SourceConfig) -> dict[str, float]:
    """nRMSE of the rollout `z` (B, T, L, D) decoded on each finer grid, and of the coarse
    prediction interpolated there: keys `superres_x{f}_nrmse`, `superres_x{f}_interp_nrmse`."""
    r = source.reduced_resolution
    n = z.shape[0]
    native, raw_coords = native_trajectories(raw_dir, spec, source, store, n)
    coarse = decode_trajectories(model, z, store.spatial_shape)  # (B, T, *S, C)
    out: dict[str, float] = {}
    for f in factors(r):
        stride = r // f
        fine = {a: c[::stride] for a, c in raw_coords.items()}
        truth = native[(slice(None), slice(None), *[slice(None, None, stride)] * len(fine))]
        pos = grid_positions(fine, like=store.coords)  # the training grid's [0, 1] domain
        pred = decode_trajectories(model, z, truth.shape[2:-1], positions=pos)
        out[f"superres_x{f}_nrmse"] = _nrmse(pred, truth)
        out[f"superres_x{f}_interp_nrmse"] = _nrmse(
            interpolate(coarse, store.coords, fine, spec.periodic), truth)
    return out


def evaluate_superres(ae_ckpt: Path, op_ckpt: Path, latent: Path, raw_dir: Path,
                      source: SourceConfig, max_trajectories: int, out: Path) -> dict:
    """Score zero-shot super-resolution of one task; writes `out` (JSON) and returns it.

    A task converted at its raw resolution (reduced_resolution 1) has no finer grid to ask
    for: the file then says so and nothing else is computed."""
    store = open_store(split_path(latent, SCORING_SPLIT))  # the cache's copy of the test split
    spec = get_task(store.task)
    result: dict = {"reduced_resolution": source.reduced_resolution}
    if source.reduced_resolution == 1 or spec.kind != "grid" or spec.steady:
        why = ("the task is trained at its raw resolution; set "
               f"sources.{spec.name}.reduced_resolution to 4 to train on a coarser grid"
               if source.reduced_resolution == 1 else
               "super-resolution is scored on transient grid tasks only")
        write_json(out, {**result, "note": why})
        return result
    model = load_surrogate(ae_ckpt, op_ckpt, latent)
    n = min(max_trajectories, store.n)
    _, z = latent_rollout(model, scoring_cache(model, latent), n)
    result.update(superres_metrics(model, z, store, raw_dir, spec, source))
    result["test_trajectories"] = n
    write_json(out, result)
    return result
