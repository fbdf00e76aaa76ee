"""Readers for PDEBench raw files: one trajectory at a time, never a whole file.

The layout is recognised from a file's contents (`tensor`, `0000/data`), not from its extension:
users mix up `.h5` and `.hdf5`. Coordinates, times and PDE parameters are read from each file,
never assumed (PDEBench regenerated some sets with other domains). Every problem raises
`RawDataError` naming the file, the dataset and what was expected.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ups.tasks import TaskSpec


class RawDataError(ValueError):
    """A raw file is missing, corrupt, or not in the layout its task needs."""


@dataclass
class RawInfo:
    """What a raw file holds, read from its metadata alone."""

    path: Path
    layout: str  # "tensor" or "group"
    n: int  # trajectories in the file
    t: np.ndarray  # (T,) times of the stored steps
    coords: dict[str, np.ndarray]  # axis name -> (n_axis,) cell centres
    params: dict[str, float] = field(default_factory=dict)  # UPS parameter name -> value

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.coords.values())


def detect_layout(f: h5py.File) -> str:
    """The PDEBench layout of an open file, from its keys."""
    if "tensor" in f:
        return "tensor"
    if "0000" in f and isinstance(f["0000"], h5py.Group) and "data" in f["0000"]:
        return "group"
    keys = sorted(f.keys())[:8]
    raise RawDataError(
        f"{f.filename}: unknown PDEBench layout (top-level keys {keys}); expected a 'tensor' "
        "dataset or groups '0000', '0001', ... holding 'data'"
    )


def file_md5(path: Path, chunk: int = 8 << 20) -> str:
    """MD5 of a file, streamed (PDEBench publishes MD5s; a changed download is detected)."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class RawReader:
    """An open raw file of one task: `info` from metadata, `read(i)` one trajectory.

    `read(i)` returns float32 (T, *spatial, C) with spatial axes in the order x, y, z and channels
    in the task's order, whatever the file's own axis order.
    """

    def __init__(self, path: Path, spec: TaskSpec):
        self.path = Path(path)
        self.spec = spec
        try:
            self._file = h5py.File(self.path, "r")
        except FileNotFoundError:
            raise RawDataError(f"{self.path}: file not found") from None
        except OSError as err:
            raise RawDataError(
                f"{self.path}: cannot be read as HDF5 ({err}); it is truncated or corrupt: "
                "download or simulate it again"
            ) from None
        try:
            layout = detect_layout(self._file)
            if layout != spec.layout:
                raise RawDataError(
                    f"{self.path}: has the '{layout}' layout but task {spec.name} needs "
                    f"'{spec.layout}' files"
                )
            self.info = self._tensor_info() if layout == "tensor" else self._group_info()
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> "RawReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    # ---- metadata -----------------------------------------------------------------------------

    def _dataset(self, key: str, group: h5py.Group | None = None) -> h5py.Dataset:
        group = self._file if group is None else group
        if key not in group or not isinstance(group[key], h5py.Dataset):
            where = f"{group.name.rstrip('/')}/{key}"
            raise RawDataError(f"{self.path}: dataset '{where}' is missing")
        return group[key]

    def _vector(self, key: str, group: h5py.Group | None = None) -> np.ndarray:
        ds = self._dataset(key, group)
        if ds.ndim != 1:
            raise RawDataError(f"{self.path}: dataset '{ds.name}' has shape {ds.shape}; "
                               "expected a 1D coordinate vector")
        return np.asarray(ds[()], dtype=np.float64)

    def _params(self) -> dict[str, float]:
        params = {}
        for name, attr in zip(self.spec.param_names, self.spec.param_attrs):
            if attr not in self._file.attrs:
                raise RawDataError(f"{self.path}: root attribute '{attr}' ({name}) is missing")
            params[name] = float(np.asarray(self._file.attrs[attr]).reshape(()))
        return params

    def _times(self, t: np.ndarray, n_steps: int, key: str) -> np.ndarray:
        # PDEBench's 1D files store T+1 times for T steps: the first T belong to the data.
        if len(t) < n_steps:
            raise RawDataError(f"{self.path}: '{key}' has {len(t)} entries but the data has "
                               f"{n_steps} time steps")
        return t[:n_steps]

    def _tensor_info(self) -> RawInfo:
        ds = self._dataset("tensor")
        if ds.ndim != 2 + self.spec.dims:
            raise RawDataError(
                f"{self.path}: dataset 'tensor' has shape {ds.shape} but a {self.spec.dims}D "
                f"trajectory file needs (N, T, {', '.join(a.upper() for a in self.spec.axes)})"
            )
        n, n_steps, *spatial = ds.shape
        coords = {a: self._vector(f"{a}-coordinate") for a in self.spec.axes}
        self._check_coords(coords, tuple(spatial), "tensor")
        t = self._times(self._vector("t-coordinate"), n_steps, "t-coordinate")
        return RawInfo(self.path, "tensor", n, t, coords, self._params())

    def _group_keys(self) -> list[str]:
        keys = sorted(k for k in self._file.keys() if k.isdigit())
        if not keys:
            raise RawDataError(f"{self.path}: group file holds no sample groups '0000', ...")
        return keys

    def _group_info(self) -> RawInfo:
        self._keys = self._group_keys()
        first = self._file[self._keys[0]]
        ds = self._dataset("data", first)
        order = self.spec.group_axes  # e.g. "tyxc": the file's axis order
        if ds.ndim != len(order):
            raise RawDataError(f"{self.path}: dataset '{ds.name}' has shape {ds.shape}; "
                               f"expected axes ({', '.join(order.upper())})")
        grid = first["grid"] if "grid" in first else self._file.get("grid")
        if grid is None:
            raise RawDataError(f"{self.path}: no 'grid' group in '{first.name}' or at the root")
        coords = {a: self._vector(a, grid) for a in self.spec.axes}
        sizes = dict(zip(order, ds.shape))
        self._check_coords(coords, tuple(sizes[a] for a in self.spec.axes), ds.name)
        if sizes["c"] != len(self.spec.channels):
            raise RawDataError(f"{self.path}: dataset '{ds.name}' has {sizes['c']} channels; task "
                               f"{self.spec.name} needs {len(self.spec.channels)} "
                               f"{self.spec.channels}")
        t = self._times(self._vector("t", grid), sizes["t"], f"{grid.name}/t")
        self._group_shape = ds.shape
        # Permutation from the file's axis order to (t, x, y, z, c).
        self._perm = tuple(order.index(a) for a in ("t", *self.spec.axes, "c"))
        return RawInfo(self.path, "group", len(self._keys), t, coords, self._params())

    def _check_coords(self, coords: dict, spatial: tuple[int, ...], key: str) -> None:
        for (axis, c), size in zip(coords.items(), spatial):
            if len(c) != size:
                raise RawDataError(f"{self.path}: '{axis}' coordinates have {len(c)} entries but "
                                   f"'{key}' has {size} points along {axis}")

    # ---- data ---------------------------------------------------------------------------------

    def read(self, i: int) -> np.ndarray:
        """Trajectory `i` as float32 (T, *spatial, C); NaN or Inf raises, naming the trajectory."""
        if self.info.layout == "tensor":
            where = f"tensor[{i}]"
            u = np.asarray(self._file["tensor"][i], dtype=np.float32)[..., None]  # (T, *S, 1)
        else:
            key = self._keys[i]
            where = f"{key}/data"
            ds = self._dataset("data", self._file[key])
            if ds.shape != self._group_shape:
                raise RawDataError(f"{self.path}: dataset '{where}' has shape {ds.shape}; "
                                   f"'{self._keys[0]}/data' has {self._group_shape}")
            u = np.asarray(ds[()], dtype=np.float32).transpose(self._perm)  # -> (T, *S, C)
        if not np.isfinite(u).all():
            raise RawDataError(f"{self.path}: {where} contains NaN or Inf values")
        return np.ascontiguousarray(u)
