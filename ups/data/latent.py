"""The latent cache of one task for one encoder version.

Per split one float16 array (N, T, tokens, dim) in `.npy` (memory-mappable, batched slicing is
fast; one file per split keeps a DVC push or pull to a handful of objects), plus `meta.json` with
what the operator needs: the task, dt, parameter names and per-trajectory values, and the MD5 of
the autoencoder checkpoint that produced it (so a stale cache is refused, not silently used).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ups.data.datasets import Normaliser, grid_positions
from ups.data.store import SPLITS, GridStore, open_store, split_path
from ups.io import atomic_dir, file_md5, write_json
from ups.models.autoencoder import AutoEncoder
from ups.training.checkpoint import build_from_checkpoint


def uniform_dt(t: np.ndarray, where: str) -> float:
    """The constant time step of `t`; a non-uniform axis raises (the operator steps by dt)."""
    if len(t) < 2:
        raise ValueError(f"{where}: needs at least 2 time steps, has {len(t)}")
    dts = np.diff(t)
    if not np.allclose(dts, dts[0], rtol=1e-3, atol=1e-9) or dts[0] <= 0:
        raise ValueError(f"{where}: time steps are not uniform and increasing ({dts[:5]} ...)")
    return float(dts[0])


@torch.no_grad()
def encode_split(model: AutoEncoder, store: GridStore, norm: Normaliser, out: Path,
                 batch_size: int) -> tuple[int, ...]:
    """Encode every frame of a split into `out` (.npy); returns the cache's shape."""
    n, n_t = store.fields.shape[:2]
    pos = torch.from_numpy(grid_positions(store.coords))  # (P, 3)
    tokens = model.encoder.queries.shape[0]
    dim = model.encoder.out.out_features
    z = np.lib.format.open_memmap(out, mode="w+", dtype=np.float16, shape=(n, n_t, tokens, dim))
    for i in tqdm(range(n), desc=f"encode {store.task} {store.path.stem}", unit="traj",
                  file=sys.stderr, disable=None):
        u = norm.encode(store.fields[i]).reshape(n_t, -1, store.fields.shape[-1])  # (T, P, C)
        for s in range(0, n_t, batch_size):
            frames = torch.from_numpy(np.ascontiguousarray(u[s:s + batch_size]))
            z[i, s:s + len(frames)] = model.encode(pos.expand(len(frames), -1, -1), frames,
                                                   store.channels, store.task).numpy()
    z.flush()
    return z.shape


def encode_task(task: str, checkpoint: Path, converted: Path, out_dir: Path,
                batch_size: int = 64) -> dict:
    """Write the latent cache of one task's converted store; returns its meta."""
    model, _ = build_from_checkpoint(checkpoint, AutoEncoder)
    norm = Normaliser.from_stats(Path(converted) / "stats.json")
    meta: dict = {"task": task, "autoencoder_md5": file_md5(Path(checkpoint)), "params": {},
                  "shape": {}}
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            store = open_store(split_path(converted, split))
            if store.task != task:
                raise ValueError(f"{store.path}: holds task {store.task!r}, not {task!r}")
            shape = encode_split(model, store, norm, tmp / f"{split}.npy", batch_size)
            meta.update(channels=list(store.channels), param_names=list(store.param_names),
                        t=store.t.tolist(), dt=uniform_dt(store.t, str(store.path)))
            meta["params"][split] = store.params.tolist()
            meta["shape"][split] = list(shape)
        write_json(tmp / "meta.json", meta)
    return meta
