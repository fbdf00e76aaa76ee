"""The converted store: one HDF5 file per task and split, the one place chunking is decided.

Layout (format_version 1):
  fields   float32 (N, T, *spatial, C), one trajectory per chunk, uncompressed (float fields
           compress ~1.1x at a large speed cost); for a point set (mesh, particles) the spatial
           axes are one axis of P points
  t        float64 (T,)
  coords/x (coords/y, coords/z) float64 cell centres (grid tasks)
  points   float32 (N, Tp, P, d) point coordinates (point-set tasks only): Tp = T for moving
           particles, 1 for a mesh; attr `bounds` (d, 2) the domain
  cells    int64 (E, d+1) a mesh's simplices (mesh tasks only)
  params   float64 (N, P), attr `names`
  source   int64 (N, 2): (index of the raw file in attr `files`, trajectory index in that file)
  inputs   float32 (N, *spatial, Cin), attr `channels`: fields given rather than predicted
           (Darcy's coefficient, NS's forcing); only for tasks that have them. Steady tasks
           (Darcy) store their solution as `fields` with T = 1.
  attrs    task, kind ("grid", "mesh" or "particles"), channels, format_version
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


@dataclass(frozen=True)
class PointSet:
    """How a point-set task's points are stored: per sample (n_times, n_points, d) coordinates
    inside `bounds`, and a mesh's simplices."""

    kind: str  # "mesh" or "particles"
    n_times: int  # Tp: T for moving particles, 1 for a fixed mesh
    n_points: int
    bounds: tuple[tuple[float, float], ...]
    cells: np.ndarray | None = None  # (E, d+1)


class StoreWriter:
    """Writes one split's store trajectory by trajectory.

    `n` is an upper bound; `close(n_written)` shrinks the store when trajectories were skipped.
    """

    def __init__(self, path: Path, *, task: str, channels: tuple[str, ...], n: int,
                 t: np.ndarray, coords: dict[str, np.ndarray], param_names: tuple[str, ...],
                 files: list[str], input_channels: tuple[str, ...] = (),
                 points: PointSet | None = None):
        self.path = Path(path)
        spatial = (points.n_points,) if points else tuple(len(c) for c in coords.values())
        traj_shape = (len(t), *spatial, len(channels))
        self._f = h5py.File(self.path, "w")
        try:
            self._create(n, traj_shape, spatial, task, channels, t, coords, param_names, files,
                         input_channels, points)
        except BaseException:
            self.abort()
            raise

    def _create(self, n: int, traj_shape: tuple[int, ...], spatial: tuple[int, ...], task: str,
                channels: tuple[str, ...], t: np.ndarray, coords: dict[str, np.ndarray],
                param_names: tuple[str, ...], files: list[str],
                input_channels: tuple[str, ...], points: PointSet | None) -> None:
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
        self._points = None
        if points:
            shape = (points.n_times, points.n_points, len(points.bounds))
            self._points = self._f.create_dataset("points", shape=(n, *shape), dtype="float32",
                                                  chunks=(1, *shape), maxshape=(None, *shape))
            self._points.attrs["bounds"] = np.asarray(points.bounds, dtype=np.float64)
            if points.cells is not None:
                self._f.create_dataset("cells", data=np.asarray(points.cells, np.int64))
        self._f.attrs.update(task=task, kind=points.kind if points else "grid",
                             channels=list(channels), format_version=FORMAT_VERSION)

    def write(self, i: int, fields: np.ndarray, params: np.ndarray, source: tuple[int, int],
              inputs: np.ndarray | None = None, points: np.ndarray | None = None) -> None:
        self._fields[i] = fields  # (T, *spatial, C)
        self._params[i] = params
        self._source[i] = source
        if self._inputs is not None:
            self._inputs[i] = inputs  # (*spatial, Cin)
        if self._points is not None:
            self._points[i] = points  # (Tp, P, d)

    def close(self, n_written: int | None = None) -> None:
        """Finish the store (`n_written` trajectories); the deferred chunk writes happen here,
        so a full disk often fails here: the file is then released with `abort`."""
        try:
            if n_written is not None and n_written < self._fields.shape[0]:
                for ds in (self._fields, self._params, self._source, self._inputs,
                           self._points):
                    if ds is not None:
                        ds.resize(n_written, axis=0)
            self._f.flush()
            self._f.close()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Close after a failed write (a full disk, say) without finishing the store: the file
        is a temporary about to be removed. h5py's `File.close()` flushes, fails again on the
        full disk and leaves HDF5 in a state that crashes the interpreter (SIGSEGV) at exit; the
        low-level close releases the file without that."""
        try:
            self._f.id.close()
        except Exception:  # the write's own error is on its way up
            pass


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
    kind: str = "grid"
    points: h5py.Dataset | None = None  # (N, Tp, P, d), point-set tasks
    bounds: np.ndarray | None = None  # (d, 2), point-set tasks
    cells: np.ndarray | None = None  # (E, d+1), mesh tasks

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
        kind=str(f.attrs.get("kind", "grid")),
        points=f["points"] if "points" in f else None,
        bounds=f["points"].attrs["bounds"][()] if "points" in f else None,
        cells=f["cells"][()] if "cells" in f else None,
    )
