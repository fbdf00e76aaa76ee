"""UPS's own raw layouts for the mesh and particle tasks (PDEBench has none): zarr v3 groups.

Mesh store (`Darcy_2D_mesh.zarr`, task darcy2d_mesh; steady), root attrs
  {"ups_layout": "mesh", "format_version": 1, "task", "dims": 2, "bounds": [[lo, hi], ...],
   "params": {name: value}, "description"}:
  nodes        float32 (P, d)   node coordinates, one mesh shared by every sample
  cells        int32   (E, d+1) simplices (triangles), node indices, counter-clockwise
  boundary     bool    (P,)     nodes on the domain boundary
  coefficient  float32 (N, P)   the input field at the nodes (Darcy's a(x), UPS field `nu`)
  solution     float32 (N, P)   the solution at the nodes (UPS field `u`)

Particle store (`Particles_advect.zarr`, task particles_advect), root attrs
  {"ups_layout": "particles", "format_version": 1, "task", "dims": 2, "bounds", "periodic",
   "channels": [...], "params", "description"}:
  t            float32 (T,)          saved times
  positions    float32 (N, T, P, d)  particle positions (inside `bounds`; wrapped if periodic)
  fields       float32 (N, T, P, C)  per-particle fields, channels named in attrs `channels`

Trajectory-sized arrays are chunked one trajectory per chunk, so a reader pulls one sample with
one read. Writers build the store under a temporary name and rename it into place when complete.
`ZarrReader` reads both with the interface of `ups.data.pdebench.RawReader`, so the converter
treats a point set like any raw file: `read(i)` gives (T, P, C), `read_points(i)` (T or 1, P, d).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ups.data.pdebench import RawDataError, RawInfo, TrajectoryReader, names_damage
from ups.io import atomic_dir
from ups.tasks import TaskSpec

FORMAT_VERSION = 1


def _array(group: zarr.Group, name: str, data: np.ndarray, per_trajectory: bool) -> None:
    chunks = (1, *data.shape[1:]) if per_trajectory else data.shape
    arr = group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=chunks)
    arr[...] = data


def _bounds(bounds: Sequence[Sequence[float]], dims: int, where: str) -> list[list[float]]:
    out = [[float(lo), float(hi)] for lo, hi in bounds]
    if len(out) != dims or any(not lo < hi for lo, hi in out):
        raise ValueError(f"{where}: bounds must be {dims} pairs (lo < hi); got {bounds}")
    return out


def write_mesh_zarr(
    path: str | Path,
    nodes: np.ndarray,
    cells: np.ndarray,
    boundary: np.ndarray,
    coefficient: np.ndarray,
    solution: np.ndarray,
    *,
    task: str,
    bounds: Sequence[Sequence[float]],
    params: Mapping[str, float] | None = None,
    description: str = "",
) -> Path:
    """Write a mesh store (see the module docstring) and return its path.

    nodes (P, d), cells (E, d+1), boundary (P,) bool, coefficient and solution (N, P).
    """
    path = Path(path)
    nodes32 = np.asarray(nodes, np.float32)
    cells32 = np.asarray(cells, np.int32)
    bnd = np.asarray(boundary, bool)
    a32, u32 = np.asarray(coefficient, np.float32), np.asarray(solution, np.float32)
    if nodes32.ndim != 2:
        raise ValueError(f"{path.name}: nodes must be (P, d); got {nodes32.shape}")
    p, d = nodes32.shape
    if cells32.ndim != 2 or cells32.shape[1] != d + 1:
        raise ValueError(f"{path.name}: cells must be (E, {d + 1}); got {cells32.shape}")
    if cells32.size and (cells32.min() < 0 or cells32.max() >= p):
        raise ValueError(f"{path.name}: cells index nodes outside 0..{p - 1}")
    if bnd.shape != (p,) or a32.ndim != 2 or a32.shape[1] != p or u32.shape != a32.shape:
        raise ValueError(f"{path.name}: expected boundary ({p},), coefficient and solution "
                         f"(N, {p}); got {bnd.shape}, {a32.shape}, {u32.shape}")
    attrs: dict[str, Any] = {
        "ups_layout": "mesh", "format_version": FORMAT_VERSION, "task": task, "dims": d,
        "bounds": _bounds(bounds, d, path.name), "params": dict(params or {}),
        "description": description}
    with atomic_dir(path) as tmp:
        group = zarr.open_group(tmp, mode="w")
        _array(group, "nodes", nodes32, False)
        _array(group, "cells", cells32, False)
        _array(group, "boundary", bnd, False)
        _array(group, "coefficient", a32, True)
        _array(group, "solution", u32, True)
        group.attrs.update(attrs)
    return path


def write_particles_zarr(
    path: str | Path,
    t: np.ndarray,
    positions: np.ndarray,
    fields: np.ndarray,
    *,
    task: str,
    channels: Sequence[str],
    bounds: Sequence[Sequence[float]],
    periodic: bool,
    params: Mapping[str, float] | None = None,
    description: str = "",
) -> Path:
    """Write a particle store (see the module docstring) and return its path.

    t (T,), positions (N, T, P, d), fields (N, T, P, C) with C = len(channels).
    """
    path = Path(path)
    t32 = np.asarray(t, np.float32)
    pos32, f32 = np.asarray(positions, np.float32), np.asarray(fields, np.float32)
    if (t32.ndim != 1 or pos32.ndim != 4 or pos32.shape[1] != len(t32)
            or f32.shape != (*pos32.shape[:3], len(channels))):
        raise ValueError(f"{path.name}: expected t (T,), positions (N, T, P, d), fields "
                         f"(N, T, P, {len(channels)}); got {t32.shape}, {pos32.shape}, "
                         f"{f32.shape}")
    d = pos32.shape[-1]
    attrs: dict[str, Any] = {
        "ups_layout": "particles", "format_version": FORMAT_VERSION, "task": task, "dims": d,
        "bounds": _bounds(bounds, d, path.name), "periodic": bool(periodic),
        "channels": list(channels), "params": dict(params or {}), "description": description}
    with atomic_dir(path) as tmp:
        group = zarr.open_group(tmp, mode="w")
        _array(group, "t", t32, False)
        _array(group, "positions", pos32, True)
        _array(group, "fields", f32, True)
        group.attrs.update(attrs)
    return path


# What each task's store must be, per `TaskSpec.kind`: the layout name and the arrays it holds.
_KIND_LAYOUT = {"mesh": ("mesh", ("nodes", "cells", "boundary", "coefficient", "solution")),
                "particles": ("particles", ("t", "positions", "fields"))}


class ZarrReader(TrajectoryReader):
    """An open UPS zarr store of one point-set task, read one trajectory at a time.

    Mirrors `RawReader`: `info` (with `n_points`, `bounds` and a mesh's `cells`), `read(i)`
    (T, P, C) float32 in the task's channel order (a steady mesh sample: T = 1),
    `read_inputs(i)` (P, Cin), `read_points(i)` (T, P, d) for particles or (1, P, d) for a
    mesh, `times(i)`. Every problem raises `RawDataError` naming the store and the array.
    """

    @names_damage
    def __init__(self, path: Path, spec: TaskSpec):
        self.path = Path(path)
        self.spec = spec
        if spec.kind not in _KIND_LAYOUT:
            raise RawDataError(f"{self.path}: task {spec.name} is a {spec.kind} task; the zarr "
                               "layouts hold meshes and particles only")
        if not self.path.exists():
            raise RawDataError(f"{self.path}: store not found")
        try:
            self._group = zarr.open_group(self.path, mode="r")
            attrs = dict(self._group.attrs)
        except Exception as err:  # zarr raises several types for a damaged store
            raise RawDataError(f"{self.path}: cannot be read as a zarr group ({err}); it is "
                               "truncated or corrupt: simulate it again") from None
        self.info = self._info(attrs)

    def close(self) -> None:
        """Nothing to release: zarr opens chunk files per read."""

    def _array(self, key: str, ndim: int, expect: str) -> zarr.Array:
        try:
            arr = self._group[key]
        except KeyError:
            arr = None
        if not isinstance(arr, zarr.Array):
            raise RawDataError(f"{self.path}: array '{key}' is missing; expected {expect}")
        if arr.ndim != ndim:
            raise RawDataError(f"{self.path}: array '{key}' has shape {arr.shape}; expected "
                               f"{expect}")
        return arr

    def _info(self, attrs: dict) -> RawInfo:
        spec = self.spec
        layout, _ = _KIND_LAYOUT[spec.kind]
        if attrs.get("ups_layout") != layout or attrs.get("format_version") != FORMAT_VERSION:
            raise RawDataError(
                f"{self.path}: attrs say ups_layout={attrs.get('ups_layout')!r}, format_version="
                f"{attrs.get('format_version')!r}; task {spec.name} needs a '{layout}' store of "
                f"format_version {FORMAT_VERSION}")
        if attrs.get("dims") != spec.dims:
            raise RawDataError(f"{self.path}: attr dims is {attrs.get('dims')!r}; task "
                               f"{spec.name} is {spec.dims}D")
        stored = attrs.get("params") or {}
        missing = [p for p in spec.param_names if p not in stored]
        if missing:
            raise RawDataError(f"{self.path}: attr 'params' lacks {missing} (has {sorted(stored)})")
        params = {p: float(stored[p]) for p in spec.param_names}
        bounds = tuple((float(lo), float(hi)) for lo, hi in attrs.get("bounds", ()))
        if len(bounds) != spec.dims:
            raise RawDataError(f"{self.path}: attr 'bounds' is {attrs.get('bounds')!r}; expected "
                               f"{spec.dims} [lo, hi] pairs")
        reader = self._mesh_info if layout == "mesh" else self._particles_info
        n, t, n_points, cells = reader(attrs)
        return RawInfo(self.path, "ups_zarr", n, t, {}, params, n_points=n_points,
                       bounds=bounds, cells=cells)

    def _mesh_info(self, attrs: dict) -> tuple[int, np.ndarray, int, np.ndarray]:
        d = self.spec.dims
        nodes = self._array("nodes", 2, f"(P, {d}) node coordinates")
        cells = self._array("cells", 2, f"(E, {d + 1}) simplices")
        p = nodes.shape[0]
        sol = self._array("solution", 2, f"(N, {p}): the solution at the nodes")
        coef = self._array("coefficient", 2, f"(N, {p}): the coefficient at the nodes")
        if nodes.shape[1] != d or cells.shape[1] != d + 1:
            raise RawDataError(f"{self.path}: nodes {nodes.shape} and cells {cells.shape}; "
                               f"expected (P, {d}) and (E, {d + 1})")
        if sol.shape[1] != p or coef.shape != sol.shape:
            raise RawDataError(f"{self.path}: solution {sol.shape} and coefficient {coef.shape}; "
                               f"expected both (N, {p}) for {p} nodes")
        if len(self.spec.channels) != 1 or len(self.spec.input_channels) != 1:
            raise RawDataError(f"{self.path}: a mesh store holds one solution and one "
                               f"coefficient; task {self.spec.name} has channels "
                               f"{self.spec.channels} and inputs {self.spec.input_channels}")
        cell_idx = self._whole("cells").astype(np.int64)
        if cell_idx.size and (cell_idx.min() < 0 or cell_idx.max() >= p):
            raise RawDataError(f"{self.path}: 'cells' index nodes outside 0..{p - 1}")
        self._nodes = self._finite(self._whole("nodes").astype(np.float32), "nodes")
        return sol.shape[0], np.zeros(1), p, cell_idx

    def _particles_info(self, attrs: dict) -> tuple[int, np.ndarray, int, None]:
        d = self.spec.dims
        t = self._array("t", 1, "(T,) times")
        pos = self._array("positions", 4, f"(N, T, P, {d}) positions")
        fields = self._array("fields", 4, "(N, T, P, C) per-particle fields")
        n, n_t, p, _ = pos.shape
        names = [str(c) for c in attrs.get("channels", [])]
        if pos.shape != (n, t.shape[0], p, d) or fields.shape != (n, n_t, p, len(names)):
            raise RawDataError(f"{self.path}: t {t.shape}, positions {pos.shape}, fields "
                               f"{fields.shape} with channels {names}; expected (T,), "
                               f"(N, T, P, {d}) and (N, T, P, {len(names)})")
        absent = [c for c in self.spec.channels if c not in names]
        if absent:
            raise RawDataError(f"{self.path}: channels {absent} of task {self.spec.name} are not "
                               f"in the store's channels {names}")
        self._channel_index = [names.index(c) for c in self.spec.channels]
        return n, self._finite(self._whole("t").astype(np.float64), "t"), p, None

    # ---- data ---------------------------------------------------------------------------------

    def times(self, i: int) -> np.ndarray:
        return self.info.t

    def _decode(self, key: str, index: Any, where: str) -> np.ndarray:
        """`self._group[key][index]`; a chunk that fails to decode raises naming it."""
        try:
            return np.asarray(self._group[key][index])
        except Exception as err:  # codec errors come as RuntimeError, ValueError, ...
            raise RawDataError(f"{self.path}: {where} cannot be decoded ({err}); the store is "
                               "truncated or corrupt: simulate it again") from None

    def _whole(self, key: str) -> np.ndarray:
        return self._decode(key, Ellipsis, f"array '{key}'")

    def _sample(self, key: str, i: int) -> np.ndarray:
        """Sample `i` of array `key` as float32, finite."""
        self._check_index(i)
        where = f"{key}[{i}]"
        return self._finite(self._decode(key, i, where).astype(np.float32), where)

    @names_damage
    def read(self, i: int) -> np.ndarray:
        """Trajectory `i` as float32 (T, P, C); a mesh sample is (1, P, 1)."""
        if self.spec.kind == "mesh":
            return self._sample("solution", i)[None, :, None]  # (P,) -> (1, P, 1)
        return np.ascontiguousarray(self._sample("fields", i)[..., self._channel_index])

    @names_damage
    def read_inputs(self, i: int) -> np.ndarray:
        """Input fields of sample `i` as float32 (P, Cin): the mesh's coefficient."""
        if not self.spec.input_channels:
            raise RawDataError(f"{self.path}: task {self.spec.name} has no input fields")
        return self._sample("coefficient", i)[:, None]  # (P,) -> (P, 1)

    @names_damage
    def read_points(self, i: int) -> np.ndarray:
        """Point coordinates of sample `i`: (T, P, d) moving particles, (1, P, d) a mesh."""
        if self.spec.kind == "mesh":
            self._check_index(i)
            return self._nodes[None]
        return self._sample("positions", i)
