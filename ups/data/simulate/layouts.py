"""Writers for PDEBench's raw file layouts (see docs: shared/reference/pdebench.md, section 2).

Two layouts cover the simulated tasks:

* tensor files (Advection, Burgers): `tensor` (N, T, X), `x-coordinate` (X,), `t-coordinate`
  (T+1,) -- PDEBench stores one time more than the data has -- and float64 root attrs.
* group files (2D diff-react): groups `0000`, `0001`, ... each holding `data` (T, Y, X, C) and
  `grid/x`, `grid/y`, `grid/t`, lzf-compressed.

Every writer writes under a temporary name in the target folder and renames the file into place
only when it is complete, so a killed run never leaves a finished-looking file behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import h5py
import numpy as np

from ups.io import atomic_file


def _vector(name: str, values: np.ndarray, size: int | None = None) -> np.ndarray:
    """`values` as a float32 1D array, checked against `size` when given."""
    arr = np.asarray(values, dtype=np.float32)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1D array, got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name}: expected {size} entries, got {arr.shape[0]}")
    return arr


def write_tensor_file(
    path: str | Path,
    tensor: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    attrs: Mapping[str, float] | None = None,
) -> Path:
    """Write a PDEBench 1D tensor file and return its path.

    tensor: (N, T, X) trajectories; x: (X,) cell centres; t: (T+1,) times -- the T saved times
    plus one more, as PDEBench does; attrs: root attributes, stored as float64 (e.g. `Nu`).
    """
    path = Path(path)
    data = np.asarray(tensor, dtype=np.float32)
    if data.ndim != 3:
        raise ValueError(f"{path.name}: tensor must have shape (N, T, X), got {data.shape}")
    _, n_t, n_x = data.shape
    x32 = _vector("x-coordinate", x, n_x)
    t32 = _vector("t-coordinate", t, n_t + 1)  # one longer than the data, like PDEBench
    with atomic_file(path) as tmp:
        with h5py.File(tmp, "w") as f:
            # Contiguous and uncompressed, as in PDEBench: `tensor[i]` is one contiguous read.
            f.create_dataset("tensor", data=data, track_times=False)
            f.create_dataset("x-coordinate", data=x32, track_times=False)
            f.create_dataset("t-coordinate", data=t32, track_times=False)
            for key, value in (attrs or {}).items():
                f.attrs[key] = np.float64(value)
    return path


def write_group_file(
    path: str | Path,
    samples: Iterable[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    compression: str | None = "lzf",
) -> Path:
    """Write a PDEBench 2D group file, one sample at a time, and return its path.

    samples: an iterable of (T, Y, X, C) arrays -- axis 1 is y, axis 2 is x, as in PDEBench's
    2D diff-react file; consumed lazily so the whole set never needs to be in memory.
    x: (X,), y: (Y,) cell centres and t: (T,) times, written into every group's `grid`.
    """
    path = Path(path)
    x32, y32, t32 = _vector("x", x), _vector("y", y), _vector("t", t)
    expected: tuple[int, ...] = (t32.shape[0], y32.shape[0], x32.shape[0])
    count = 0
    with atomic_file(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for i, sample in enumerate(samples):
                arr = np.asarray(sample, dtype=np.float32)
                if arr.ndim != 4 or arr.shape[: len(expected)] != expected:
                    raise ValueError(f"{path.name}: sample {i} has shape {arr.shape}; expected "
                                     f"(T, Y, X, C) with (T, Y, X) = {expected}")
                if count == 0:
                    expected = arr.shape  # later samples must also match the first's channels
                group = f.create_group(f"{i:04d}")
                # One chunk per frame: a reader can pull single time steps cheaply.
                chunks = (1, *arr.shape[1:]) if compression else None
                group.create_dataset("data", data=arr, chunks=chunks, compression=compression,
                                     track_times=False)
                grid = group.create_group("grid")
                for key, values in (("x", x32), ("y", y32), ("t", t32)):
                    grid.create_dataset(key, data=values, track_times=False)
                count += 1
            if count == 0:
                raise ValueError(f"{path.name}: no samples to write")
    return path
