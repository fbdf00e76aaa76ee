"""The converted grid store: one HDF5 file per task and split, the one place chunking is decided.

Layout (format_version 1):
  fields   float32 (N, T, *spatial, C), one trajectory per chunk, uncompressed (float fields
           compress ~1.1x at a large speed cost)
  t        float64 (T,)
  coords/x (coords/y, coords/z) float64 cell centres
  params   float64 (N, P), attr `names`
  source   int64 (N, 2): (index of the raw file in attr `files`, trajectory index in that file)
  inputs   float32 (N, *spatial, Cin), attr `channels`: fields given rather than predicted
           (Darcy's coefficient, NS's forcing); only for tasks that have them. Steady tasks
           (Darcy) store their solution as `fields` with T = 1.
  attrs    task, channels, format_version
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")


def split_path(root: Path, split: str) -> Path:
    return Path(root) / f"{split}.h5"


class StoreWriter:
    """Writes one split's store trajectory by trajectory.

    `n` is an upper bound; `close(n_written)` shrinks the store when trajectories were skipped.
    """

    def __init__(self, path: Path, *, task: str, channels: tuple[str, ...], n: int,
                 t: np.ndarray, coords: dict[str, np.ndarray], param_names: tuple[str, ...],
                 files: list[str], input_channels: tuple[str, ...] = ()):
        self.path = Path(path)
        spatial = tuple(len(c) for c in coords.values())
        traj_shape = (len(t), *spatial, len(channels))
        self._f = h5py.File(self.path, "w")
        self._fields = self._f.create_dataset(
            "fields", shape=(n, *traj_shape), dtype="float32", chunks=(1, *traj_shape),
            maxshape=(None, *traj_shape))
        self._f.create_dataset("t", data=np.asarray(t, dtype=np.float64))
        for axis, c in coords.items():
            self._f.create_dataset(f"coords/{axis}", data=np.asarray(c, dtype=np.float64))
        self._params = self._f.create_dataset("params", shape=(n, len(param_names)),
                                              dtype="float64", maxshape=(None, len(param_names)))
        self._params.attrs["names"] = list(param_names)
        self._source = self._f.create_dataset("source", shape=(n, 2), dtype="int64",
                                              maxshape=(None, 2))
        self._source.attrs["files"] = list(files)
        self._inputs = None
        if input_channels:
            shape = (*spatial, len(input_channels))
            self._inputs = self._f.create_dataset("inputs", shape=(n, *shape), dtype="float32",
                                                  chunks=(1, *shape), maxshape=(None, *shape))
            self._inputs.attrs["channels"] = list(input_channels)
        self._f.attrs.update(task=task, channels=list(channels), format_version=FORMAT_VERSION)

    def write(self, i: int, fields: np.ndarray, params: np.ndarray, source: tuple[int, int],
              inputs: np.ndarray | None = None) -> None:
        self._fields[i] = fields  # (T, *spatial, C)
        self._params[i] = params
        self._source[i] = source
        if self._inputs is not None:
            self._inputs[i] = inputs  # (*spatial, Cin)

    def close(self, n_written: int | None = None) -> None:
        if n_written is not None and n_written < self._fields.shape[0]:
            for ds in (self._fields, self._params, self._source, self._inputs):
                if ds is not None:
                    ds.resize(n_written, axis=0)
        self._f.close()


@dataclass
class GridStore:
    """A converted split, opened for reading. `fields` stays on disk unless `load()`ed."""

    path: Path
    task: str
    channels: tuple[str, ...]
    t: np.ndarray  # (T,)
    coords: dict[str, np.ndarray]  # axis -> (n_axis,)
    params: np.ndarray  # (N, P)
    param_names: tuple[str, ...]
    source: np.ndarray  # (N, 2)
    files: tuple[str, ...]
    fields: h5py.Dataset | np.ndarray  # (N, T, *spatial, C)
    inputs: h5py.Dataset | None = None  # (N, *spatial, Cin), for tasks with input fields
    input_channels: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return int(self.fields.shape[0])

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.fields.shape[2:-1])

    def load(self) -> "GridStore":
        """Read all fields into memory (for small stores: training samples many random frames)."""
        self.fields = np.asarray(self.fields[()])
        return self


def open_store(path: Path) -> GridStore:
    """Open a converted split; a missing or foreign file raises naming the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: converted store not found (run the convert stage)")
    f = h5py.File(path, "r")
    version = f.attrs.get("format_version")
    if version != FORMAT_VERSION:
        f.close()
        raise ValueError(f"{path}: store format_version is {version!r}, this UPS reads "
                         f"{FORMAT_VERSION}; convert the task again")
    return GridStore(
        path=path,
        task=str(f.attrs["task"]),
        channels=tuple(str(c) for c in f.attrs["channels"]),
        t=f["t"][()],
        coords={axis: f[f"coords/{axis}"][()] for axis in ("x", "y", "z") if f"coords/{axis}" in f},
        params=f["params"][()],
        param_names=tuple(str(p) for p in f["params"].attrs["names"]),
        source=f["source"][()],
        files=tuple(str(s) for s in f["source"].attrs["files"]),
        fields=f["fields"],
        inputs=f["inputs"] if "inputs" in f else None,
        input_channels=tuple(str(c) for c in f["inputs"].attrs["channels"]) if "inputs" in f
        else (),
    )
