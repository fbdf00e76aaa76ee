"""Writers for PDEBench's raw file layouts (see docs: shared/reference/pdebench.md, section 2).

PDEBench layouts:

* tensor files (Advection, Burgers, 1D ReacDiff): `tensor` (N, T, X), `x-coordinate` (X,),
  `t-coordinate` (T+1,) -- PDEBench stores one time more than the data has -- and float64 root
  attrs.
* group files (Diff-Sorp, 2D diff-react, SWE, and UPS's Allen-Cahn / Cahn-Hilliard): groups
  `0000`, `0001`, ... each holding `data` (T, *spatial, C) in the file's own axis order and
  `grid/x`[, `grid/y`], `grid/t`; optional group attr `config` (a YAML string).
* CFD files: one (N, T, *spatial) dataset per field, `x-`/`y-`/`z-coordinate`, `t-coordinate`
  (T+1,), float64 attrs (`eta`, `zeta`, `M`).
* Darcy files: `tensor` (N, 1, X, Y) solution, `nu` (N, X, Y) coefficient, coordinates, attr
  `beta`.
* NS incompressible: `velocity` (4, T, X, Y, 2), `particles` (4, T, X, Y, 1), `force`
  (4, X, Y, 2), `t` (4, T); chunks of one frame, lzf + shuffle; attrs `config`, `latestIndex`.

UPS's own zarr layouts (mesh and particle tasks, documented in `ups.data.zarr_layout`) are
written by `write_mesh_zarr` and `write_particles_zarr`.

Every writer writes under a temporary name in the target folder and renames the file into place
only when it is complete, so a killed run never leaves a finished-looking file behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import h5py
import numpy as np

from ups.data.zarr_layout import write_mesh_zarr, write_particles_zarr
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


def _root_attrs(f: h5py.File, attrs: Mapping[str, float | str] | None) -> None:
    """PDEBench's root attributes: numbers as float64, strings (YAML configs) as they are."""
    for key, value in (attrs or {}).items():
        f.attrs[key] = value if isinstance(value, str) else np.float64(value)


def write_group_file(
    path: str | Path,
    samples: Iterable[np.ndarray],
    grid: Mapping[str, np.ndarray],
    compression: str | None = "lzf",
    config: str | None = None,
) -> Path:
    """Write a PDEBench group file, one sample at a time, and return its path.

    samples: an iterable of (T, *spatial, C) arrays in the file's own axis order (2D diff-react:
    (T, Y, X, C); SWE: (T, X, Y, C)); consumed lazily so the whole set never sits in memory.
    grid: the vectors written into every group's `grid` (`x`[, `y`] cell centres and `t`), in
    the order the spatial axes appear in `data`, `t` last. config: a YAML string stored as each
    group's `config` attribute (Diff-Sorp keeps its PDE constants there).
    """
    path = Path(path)
    grid32 = {key: _vector(f"grid/{key}", values) for key, values in grid.items()}
    if "t" not in grid32:
        raise ValueError(f"{path.name}: grid needs a 't' vector")
    spatial = [len(v) for k, v in grid32.items() if k != "t"]
    expected: tuple[int, ...] = (len(grid32["t"]), *spatial)
    first: tuple[int, ...] = ()
    count = 0
    with atomic_file(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for i, sample in enumerate(samples):
                arr = np.asarray(sample, dtype=np.float32)
                if (arr.ndim != len(expected) + 1 or arr.shape[: len(expected)] != expected
                        or (count and arr.shape != first)):
                    raise ValueError(f"{path.name}: sample {i} has shape {arr.shape}; expected "
                                     f"(T, *spatial, C) with (T, *spatial) = {expected}, every "
                                     "sample with the same channels")
                first = arr.shape
                group = f.create_group(f"{i:04d}")
                # One chunk per frame: a reader can pull single time steps cheaply.
                chunks = (1, *arr.shape[1:]) if compression else None
                group.create_dataset("data", data=arr, chunks=chunks, compression=compression,
                                     track_times=False)
                if config is not None:
                    group.attrs["config"] = config
                sub = group.create_group("grid")
                for key, values in grid32.items():
                    sub.create_dataset(key, data=values, track_times=False)
                count += 1
            if count == 0:
                raise ValueError(f"{path.name}: no samples to write")
    return path


CFD_AXES = ("x", "y", "z")


def write_cfd_file(
    path: str | Path,
    fields: Mapping[str, np.ndarray],
    coords: Mapping[str, np.ndarray],
    t: np.ndarray,
    attrs: Mapping[str, float] | None = None,
) -> Path:
    """Write a PDEBench CFD file (1D, 2D or 3D) and return its path.

    fields: name (`density`, `pressure`, `Vx`[, `Vy`[, `Vz`]]) -> (N, T, *spatial) with spatial
    axes in the order x, y, z; coords: axis -> (n_axis,) cell centres; t: (T+1,) as PDEBench;
    attrs: `eta`, `zeta` (and `M` in 2D/3D), stored as float64.
    """
    path = Path(path)
    if not fields:
        raise ValueError(f"{path.name}: no fields to write")
    shapes = {name: np.shape(arr) for name, arr in fields.items()}
    first = next(iter(shapes.values()))
    if len(set(shapes.values())) != 1 or len(first) != 2 + len(coords):
        raise ValueError(f"{path.name}: fields must share one (N, T, *spatial) shape with "
                         f"{len(coords)} spatial axes; got {shapes}")
    spatial = tuple(len(c) for c in coords.values())
    if first[2:] != spatial:
        raise ValueError(f"{path.name}: fields are {first[2:]} in space, coordinates {spatial}")
    t32 = _vector("t-coordinate", t, first[1] + 1)
    with atomic_file(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for name, arr in fields.items():  # contiguous, like the released files
                f.create_dataset(name, data=np.asarray(arr, np.float32), track_times=False)
            for axis, c in coords.items():
                f.create_dataset(f"{axis}-coordinate", data=_vector(axis, c), track_times=False)
            f.create_dataset("t-coordinate", data=t32, track_times=False)
            _root_attrs(f, attrs)
    return path


def write_darcy_file(
    path: str | Path,
    u: np.ndarray,
    coefficient: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    beta: float,
) -> Path:
    """Write a PDEBench Darcy file: `tensor` (N, 1, X, Y) from u (N, X, Y), `nu` (N, X, Y)
    the coefficient, `x-`/`y-coordinate`, a meaningless `t-coordinate` and attr `beta`."""
    path = Path(path)
    u32 = np.asarray(u, np.float32)
    a32 = np.asarray(coefficient, np.float32)
    if u32.ndim != 3 or a32.shape != u32.shape:
        raise ValueError(f"{path.name}: u and coefficient must both be (N, X, Y); got "
                         f"{u32.shape} and {a32.shape}")
    x32, y32 = _vector("x", x, u32.shape[1]), _vector("y", y, u32.shape[2])
    with atomic_file(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("tensor", data=u32[:, None], track_times=False)
            f.create_dataset("nu", data=a32, track_times=False)
            f.create_dataset("x-coordinate", data=x32, track_times=False)
            f.create_dataset("y-coordinate", data=y32, track_times=False)
            f.create_dataset("t-coordinate", data=np.zeros(2, np.float32), track_times=False)
            _root_attrs(f, {"beta": beta})
    return path


def write_ns_file(
    path: str | Path,
    velocity: np.ndarray,
    particles: np.ndarray,
    force: np.ndarray,
    t: np.ndarray,
    config: str,
) -> Path:
    """Write a PDEBench incompressible-NS file.

    velocity (B, T, X, Y, 2), particles (B, T, X, Y, 1), force (B, X, Y, 2), t (B, T); B is 4 in
    the released files. Chunks of one frame, lzf + shuffle, attrs `config` (YAML) and
    `latestIndex` (the last stored frame), as released.
    """
    path = Path(path)
    vel = np.asarray(velocity, np.float32)
    par = np.asarray(particles, np.float32)
    frc = np.asarray(force, np.float32)
    t32 = np.asarray(t, np.float32)
    b, n_t = vel.shape[:2] if vel.ndim == 5 else (None, None)
    if (vel.ndim != 5 or vel.shape[-1] != 2 or par.shape != (*vel.shape[:-1], 1)
            or frc.shape != (b, *vel.shape[2:]) or t32.shape != (b, n_t)):
        raise ValueError(f"{path.name}: expected velocity (B, T, X, Y, 2), particles "
                         f"(B, T, X, Y, 1), force (B, X, Y, 2), t (B, T); got {vel.shape}, "
                         f"{par.shape}, {frc.shape}, {t32.shape}")
    with atomic_file(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, arr in (("velocity", vel), ("particles", par)):
                f.create_dataset(key, data=arr, chunks=(1, 1, *arr.shape[2:]), compression="lzf",
                                 shuffle=True, track_times=False)
            f.create_dataset("force", data=frc, chunks=(1, *frc.shape[1:]), compression="lzf",
                             shuffle=True, track_times=False)
            f.create_dataset("t", data=t32, track_times=False)
            f.attrs["config"] = config
            f.attrs["latestIndex"] = np.int64(n_t - 1)
    return path


__all__ = ["write_tensor_file", "write_group_file", "write_cfd_file", "write_darcy_file",
           "write_ns_file", "write_mesh_zarr", "write_particles_zarr"]
