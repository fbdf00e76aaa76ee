"""The latent cache of one task for one encoder version.

Per split one float16 array (N, T, tokens, dim) in `.npy` (memory-mappable, batched slicing is
fast; one file per split keeps a DVC push or pull to a handful of objects; tasks with input
fields add `{split}_inputs.npy` (N, 1, tokens, dim)), plus `meta.json` with
what the operator needs: the task, dt, parameter names and per-trajectory values, and the MD5 of
the autoencoder checkpoint that produced it (so a stale cache is refused, not silently used).

The folder also carries a copy of the test split's store (`test.h5`) and the field statistics
(`stats.json`): everything evaluation scores against, so that a training box that pulls only the
caches can train and evaluate without the converted data (DVC stores the copy once: its content
is the same for every encoder version).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ups.data.datasets import Geometry, Normaliser, field_scale
from ups.data.store import SPLITS, GridStore, open_store, split_path
from ups.io import atomic_dir, file_md5, naming, require_free, reserve, write_json
from ups.models.autoencoder import AutoEncoder
from ups.tasks import get_task
from ups.training.checkpoint import build_from_checkpoint

SCORING_SPLIT = "test"  # the split whose store travels with the cache
STATS = "stats.json"


def uniform_dt(t: np.ndarray, where: str) -> float:
    """The constant time step of `t`; a non-uniform axis raises (the operator steps by dt)."""
    if len(t) < 2:
        raise ValueError(f"{where}: needs at least 2 time steps, has {len(t)}")
    dts = np.diff(t)
    if not np.allclose(dts, dts[0], rtol=1e-3, atol=1e-9) or dts[0] <= 0:
        raise ValueError(f"{where}: time steps are not uniform and increasing ({dts[:5]} ...)")
    return float(dts[0])


@torch.no_grad()
def encode_split(model: AutoEncoder, store: GridStore, geometry: Geometry, norm: Normaliser,
                 out: Path, batch_size: int, role: str = "fields") -> tuple[int, ...]:
    """Encode every frame of a split's fields (or, with role "inputs", its input fields) into
    `out` (.npy), one trajectory at a time; returns the cache's shape (N, T, L, D)."""
    source = store.fields if role == "fields" else store.inputs
    channels = store.channels if role == "fields" else store.input_channels
    scale = field_scale(store) if role == "fields" else None  # (N,), Darcy's beta
    n = source.shape[0]
    n_t = source.shape[1] if role == "fields" else 1
    tokens, dim = latent_shape(model, store, geometry, role)
    with naming(out):
        z = np.lib.format.open_memmap(out, mode="w+", dtype=np.float16,
                                      shape=(n, n_t, tokens, dim))
    reserve(out)  # a full disk fails here, not with SIGBUS at the first page written
    for i in tqdm(range(n), desc=f"encode {store.task} {store.path.stem} {role}", unit="traj",
                  file=sys.stderr, disable=None):
        u = np.asarray(source[i])
        u = norm.encode(u if role == "fields" else u[None],
                        None if scale is None else scale[i])  # (T, *S, C)
        u = u.reshape(n_t, -1, u.shape[-1])  # (T, P, C)
        for s in range(0, n_t, batch_size):
            frames = torch.from_numpy(np.ascontiguousarray(u[s:s + batch_size]))
            steps = np.arange(s, s + len(frames))
            pos = torch.from_numpy(np.ascontiguousarray(geometry.at(np.full(len(steps), i),
                                                                    steps)))  # (b, P, 3)
            latent = model.encode(pos, frames, channels, store.task).numpy().astype(np.float16)
            if not np.isfinite(latent).all():  # NaN, or beyond float16's range (65504)
                raise ValueError(f"{store.path}: trajectory {i}, frames {s}-{s + len(frames) - 1}"
                                 f" ({role}): the encoder gives non-finite float16 latents "
                                 f"(max |z| {np.nanmax(np.abs(latent.astype(np.float32)))}); "
                                 "no cache was written")
            z[i, s:s + len(frames)] = latent
    z.flush()
    return z.shape


@torch.no_grad()
def latent_shape(model: AutoEncoder, store: GridStore, geometry: Geometry,
                 role: str = "fields") -> tuple[int, int]:
    """(tokens, dim) of one frame's latent: the task's lattice, found by encoding the first
    frame (the lattice follows from the task's points, not from a setting)."""
    source = store.fields if role == "fields" else store.inputs
    channels = store.channels if role == "fields" else store.input_channels
    frame = np.asarray(source[0, 0] if role == "fields" else source[0])  # (*S, C)
    pos = torch.from_numpy(np.ascontiguousarray(geometry.at(np.zeros(1, int), np.zeros(1, int))))
    values = torch.from_numpy(np.ascontiguousarray(frame.reshape(1, -1, frame.shape[-1])))
    return tuple(model.encode(pos, values.float(), channels, store.task).shape[1:])


def _cache_bytes(converted: Path, model: AutoEncoder) -> int:
    """The cache's size: float16 latents of every frame (and input field) of every split, plus
    the scoring set's copy."""
    total = split_path(converted, SCORING_SPLIT).stat().st_size
    for split in SPLITS:
        store = open_store(split_path(converted, split))
        tokens, dim = latent_shape(model, store, Geometry(store))
        frames = store.n * (len(store.t) + (store.inputs is not None))
        store.fields.file.close()
        total += frames * tokens * dim * 2
    return total


def encode_task(task: str, checkpoint: Path, converted: Path, out_dir: Path,
                batch_size: int = 64) -> dict:
    """Write the latent cache of one task's converted store; returns its meta.

    Per split: `{split}.npy` (N, T, L, D) of the fields and, for tasks with input fields,
    `{split}_inputs.npy` (N, 1, L, D) of the inputs (a steady task's operator maps one to the
    other). Steady tasks have one state and dt = 0. Plus the scoring set: a copy of the test
    split's store and of `stats.json`.
    """
    model, _ = build_from_checkpoint(checkpoint, AutoEncoder)
    stats = Path(converted) / "stats.json"
    norm = Normaliser.for_autoencoder(stats, task)
    spec = get_task(task)
    meta: dict = {"task": task, "autoencoder_md5": file_md5(Path(checkpoint)), "params": {},
                  "shape": {}, "steady": spec.steady,
                  "input_channels": list(spec.input_channels)}
    require_free(out_dir, _cache_bytes(converted, model), f"the latent cache of {task}")
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            store = open_store(split_path(converted, split))
            if store.task != task:
                raise ValueError(f"{store.path}: holds task {store.task!r}, not {task!r}")
            geometry = Geometry(store)
            shape = encode_split(model, store, geometry, norm, tmp / f"{split}.npy", batch_size)
            if store.inputs is not None:
                encode_split(model, store, geometry, Normaliser.from_stats(stats, "inputs"),
                             tmp / f"{split}_inputs.npy", batch_size, role="inputs")
            dt = 0.0 if spec.steady else uniform_dt(store.t, str(store.path))
            meta.update(channels=list(store.channels), param_names=list(store.param_names),
                        t=store.t.tolist(), dt=dt,
                        # What decoding a latent needs without the converted store (a training
                        # box holds only the caches): grid coordinates and field statistics.
                        coords={a: c.tolist() for a, c in store.coords.items()},
                        field_stats={"mean": norm.mean.tolist(), "std": norm.std.tolist(),
                                     "by": norm.by})  # by: the fields are u / that param
            meta["params"][split] = store.params.tolist()
            meta["shape"][split] = list(shape)
            # The premise of caching: the latents are smaller than the data they replace.
            meta.setdefault("bytes", {"latent": 0, "fields": 0})
            meta["bytes"]["latent"] += sum((tmp / f).stat().st_size for f in
                                           (f"{split}.npy", f"{split}_inputs.npy")
                                           if (tmp / f).is_file())
            meta["bytes"]["fields"] += 4 * sum(int(np.prod(a.shape)) for a in
                                               (store.fields, store.inputs) if a is not None)
        for src, dst in ((split_path(converted, SCORING_SPLIT), split_path(tmp, SCORING_SPLIT)),
                         (stats, tmp / STATS)):
            with naming(dst):
                shutil.copyfile(src, dst)
        write_json(tmp / "meta.json", meta)
    return meta
