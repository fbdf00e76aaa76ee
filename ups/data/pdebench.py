"""Readers for PDEBench raw files: one trajectory at a time, never a whole file.

The layout is recognised from a file's contents, not from its extension (users mix up `.h5` and
`.hdf5`):

* "ns_incom": `velocity` (4, T, X, Y, 2), `particles` (4, T, X, Y, 1), `force` (4, X, Y, 2),
  `t` (4, T) -- four trajectories per file. No coordinates are stored: cell centres of [0, 1]^2.
* "cfd": one dataset per field (`density`, `pressure`, `Vx`[, `Vy`[, `Vz`]]) each
  (N, T, *spatial), `x-`/`y-`/`z-coordinate`, `t-coordinate` (T+1).
* "darcy": `tensor` (N, 1, X, Y) steady solution and `nu` (N, X, Y) coefficient.
* "tensor": `tensor` (N, T, X), `x-coordinate`, `t-coordinate` (T+1).
* "group": groups `0000`, `0001`, ... each holding `data` (axis order from the task's
  `group_axes`) and `grid/x`[, `grid/y`], `grid/t` (inside each group, or at the root).

Coordinates, times and PDE parameters are read from each file, never assumed (PDEBench
regenerated some sets with other domains). Every problem raises `RawDataError` naming the file,
the dataset and what was expected.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import yaml

from ups.tasks import TaskSpec


class RawDataError(ValueError):
    """A raw file is missing, corrupt, or not in the layout its task needs."""


class NonFiniteError(RawDataError):
    """A trajectory holds NaN or Inf values (the converter may skip it if params allow)."""


@dataclass
class RawInfo:
    """What a raw file holds, read from its metadata alone."""

    path: Path
    layout: str  # "tensor", "darcy", "cfd", "group", "ns_incom" or "ups_zarr"
    n: int  # trajectories in the file
    t: np.ndarray  # (T,) times of the stored steps (steady tasks: [0.0])
    coords: dict[str, np.ndarray]  # axis name -> (n_axis,) cell centres; {} for point sets
    params: dict[str, float] = field(default_factory=dict)  # UPS parameter name -> value
    config: dict = field(default_factory=dict)  # parsed `config` YAML ("config" tasks only)
    # Point sets (meshes, particles; see ups.data.zarr_layout): P points per sample, the
    # domain's [lo, hi] per axis, and a mesh's simplices (E, d+1).
    n_points: int = 0
    bounds: tuple[tuple[float, float], ...] = ()
    cells: np.ndarray | None = None

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Grid points per axis, or (P,) for a point set."""
        if self.n_points:
            return (self.n_points,)
        return tuple(len(c) for c in self.coords.values())


def detect_layout(f: h5py.File) -> str:
    """The PDEBench layout of an open file, from its keys."""
    if "velocity" in f:
        return "ns_incom"
    if "density" in f:
        return "cfd"
    if "tensor" in f:
        tensor = f["tensor"]
        if "nu" in f or (isinstance(tensor, h5py.Dataset) and tensor.ndim == 4):
            return "darcy"
        return "tensor"
    if any(k.isdigit() for k in f.keys()) or "grid" in f:
        return "group"  # sample groups (or only a root `grid`: an empty group file)
    keys = sorted(f.keys())[:8]
    what = f"top-level keys {keys}" if keys else "no datasets or groups at all (an empty file)"
    raise RawDataError(
        f"{f.filename}: unknown PDEBench layout ({what}); expected a 'tensor' dataset, field "
        "datasets 'density', 'Vx', ..., a 'velocity' dataset, or groups '0000', '0001', ... "
        "holding 'data'"
    )


def param_from_filename(name: str, key: str) -> float | None:
    """The number after `_<key>` in a file name, e.g. ('..._M0.1_Eta1.e-8_...', 'Eta') -> 1e-8."""
    stem = name.rsplit(".", 1)[0] if name.endswith((".h5", ".hdf5")) else name
    m = re.search(rf"(?:^|_){re.escape(key)}([0-9][0-9.eE+-]*)(?=_|$)", stem)
    if m is None:
        return None
    try:
        return float(m.group(1))
    except ValueError:
        return None


# NS incompressible: UPS channel -> (dataset, component).
_NS_SOURCES = {"Vx": ("velocity", 0), "Vy": ("velocity", 1), "particles": ("particles", 0),
               "force_x": ("force", 0), "force_y": ("force", 1)}


# What h5py, zarr and json raise for a damaged file (a flipped bit, a truncation): RuntimeError
# "bad symbol table node signature", KeyError "message not aligned", JSONDecodeError ...
READ_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError, IndexError)


def names_damage(method):
    """Re-raise what a damaged file makes the libraries raise as a RawDataError naming the
    file (the library messages do not), leaving the readers' own errors as they are."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except RawDataError:
            raise
        except READ_ERRORS as err:
            if str(self.path) in str(err):  # already says which file
                raise
            raise RawDataError(f"{self.path}: cannot be read ({type(err).__name__}: {err}); it "
                               "is truncated or corrupt: download or simulate it again") from None

    return wrapper


class TrajectoryReader:
    """What every raw reader shares: `path`, `spec`, `info`, context management and checks."""

    path: Path
    spec: TaskSpec
    info: RawInfo

    def __enter__(self) -> "TrajectoryReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    def _check_index(self, i: int) -> None:
        if not 0 <= i < self.info.n:
            raise IndexError(f"{self.path}: trajectory {i} out of range (the file holds "
                             f"{self.info.n})")

    def _finite(self, u: np.ndarray, where: str) -> np.ndarray:
        if not np.isfinite(u).all():
            raise NonFiniteError(f"{self.path}: {where} contains NaN or Inf values")
        return np.ascontiguousarray(u)


class RawReader(TrajectoryReader):
    """An open raw file of one task: `info` from metadata, `read(i)` one trajectory.

    `read(i)` returns float32 (T, *spatial, C) with spatial axes in the order x, y, z and channels
    in the task's order, whatever the file's own axis order. `read_inputs(i)` returns the task's
    input fields (Darcy's coefficient, NS's forcing) as float32 (*spatial, Cin).
    """

    @names_damage
    def __init__(self, path: Path, spec: TaskSpec):
        self.path = Path(path)
        self.spec = spec
        if spec.layout == "ups_zarr":
            raise RawDataError(f"{self.path}: task {spec.name} keeps its {spec.kind} data in "
                               "UPS's zarr layout; open it with ups.data.raw.open_raw")
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
            self.info = getattr(self, f"_{layout}_info")()
        except BaseException:
            self._file.close()
            raise

    def close(self) -> None:
        self._file.close()

    # ---- metadata helpers ---------------------------------------------------------------------

    def _dataset(self, key: str, group: h5py.Group | None = None,
                 ndim: int | None = None, expect: str = "") -> h5py.Dataset:
        group = self._file if group is None else group
        where = f"{group.name.rstrip('/')}/{key}".lstrip("/")
        if key not in group or not isinstance(group[key], h5py.Dataset):
            raise RawDataError(f"{self.path}: dataset '{where}' is missing"
                               + (f"; expected {expect}" if expect else ""))
        ds = group[key]
        if ndim is not None and ds.ndim != ndim:
            raise RawDataError(f"{self.path}: dataset '{where}' has shape {ds.shape}; "
                               f"expected {expect or f'{ndim} axes'}")
        return ds

    def _vector(self, key: str, group: h5py.Group | None = None) -> np.ndarray:
        ds = self._dataset(key, group)
        if ds.ndim != 1:
            raise RawDataError(f"{self.path}: dataset '{ds.name}' has shape {ds.shape}; "
                               "expected a 1D coordinate vector")
        return np.asarray(ds[()], dtype=np.float64)

    def _params(self, config: dict | None = None) -> dict[str, float]:
        spec, attrs = self.spec, self._file.attrs
        keys = spec.param_file_keys or ("",) * len(spec.param_names)
        params = {}
        for name, attr, file_key in zip(spec.param_names, spec.param_attrs, keys):
            if spec.param_source == "config":
                value = _lookup(config or {}, attr)
                if value is None:
                    raise RawDataError(f"{self.path}: key '{attr}' ({name}) is missing from the "
                                       "'config' attribute")
            elif attr in attrs:
                value = np.asarray(attrs[attr]).reshape(())
            elif spec.param_source == "attrs_or_filename" and file_key:
                value = param_from_filename(self.path.name, file_key)
                if value is None:
                    raise RawDataError(
                        f"{self.path}: root attribute '{attr}' ({name}) is missing and the file "
                        f"name holds no '_{file_key}<number>' token to take it from")
            else:
                raise RawDataError(f"{self.path}: root attribute '{attr}' ({name}) is missing")
            params[name] = float(value)
        return params

    def _config(self, holder: h5py.Group) -> dict:
        """The parsed YAML `config` attr of `holder` (or the root); {} unless the task needs it."""
        if self.spec.param_source != "config":
            return {}
        for obj in (holder, self._file):
            if "config" in obj.attrs:
                text = obj.attrs["config"]
                text = text.decode() if isinstance(text, bytes) else str(text)
                try:
                    parsed = yaml.safe_load(text)
                except yaml.YAMLError as err:
                    raise RawDataError(f"{self.path}: attribute 'config' of '{obj.name}' is not "
                                       f"valid YAML ({err})") from None
                return parsed if isinstance(parsed, dict) else {}
        if self.spec.param_names:
            raise RawDataError(f"{self.path}: no 'config' attribute on '{holder.name}' or the "
                               "root")
        return {}

    def _times(self, t: np.ndarray, n_steps: int, key: str) -> np.ndarray:
        # PDEBench's files store T+1 times for T steps: the first T belong to the data.
        if len(t) < n_steps:
            raise RawDataError(f"{self.path}: '{key}' has {len(t)} entries but the data has "
                               f"{n_steps} time steps")
        return t[:n_steps]

    def _check_coords(self, coords: dict, spatial: tuple[int, ...], key: str) -> None:
        for (axis, c), size in zip(coords.items(), spatial):
            if len(c) != size:
                raise RawDataError(f"{self.path}: '{axis}' coordinates have {len(c)} entries but "
                                   f"'{key}' has {size} points along {axis}")

    def _file_coords(self, spatial: tuple[int, ...], key: str) -> dict[str, np.ndarray]:
        coords = {a: self._vector(f"{a}-coordinate") for a in self.spec.axes}
        self._check_coords(coords, spatial, key)
        return coords

    def _axes_text(self) -> str:
        return ", ".join(a.upper() for a in self.spec.axes)

    # ---- layouts: metadata --------------------------------------------------------------------

    def _tensor_info(self) -> RawInfo:
        ds = self._dataset("tensor")
        if ds.ndim != 2 + self.spec.dims:
            raise RawDataError(
                f"{self.path}: dataset 'tensor' has shape {ds.shape} but a {self.spec.dims}D "
                f"trajectory file needs (N, T, {self._axes_text()})"
            )
        n, n_steps, *spatial = ds.shape
        coords = self._file_coords(tuple(spatial), "tensor")
        t = self._times(self._vector("t-coordinate"), n_steps, "t-coordinate")
        return RawInfo(self.path, "tensor", n, t, coords, self._params())

    def _darcy_info(self) -> RawInfo:
        sol = self._dataset("tensor", ndim=2 + self.spec.dims, expect="(N, 1, X, Y): the steady "
                            "solution u")
        coef = self._dataset("nu", ndim=1 + self.spec.dims, expect="(N, X, Y): the coefficient")
        if sol.shape[1] != 1 or coef.shape != (sol.shape[0], *sol.shape[2:]):
            raise RawDataError(f"{self.path}: dataset 'tensor' has shape {sol.shape} and 'nu' "
                               f"{coef.shape}; expected (N, 1, X, Y) and (N, X, Y)")
        coords = self._file_coords(sol.shape[2:], "tensor")
        # `t-coordinate` is meaningless for this steady problem: one state at t = 0.
        return RawInfo(self.path, "darcy", sol.shape[0], np.zeros(1), coords, self._params())

    def _cfd_info(self) -> RawInfo:
        """Multi-field CFD files; parameters from root attrs `M`, `eta`, `zeta`, or, where an attr
        is missing, from the file name (`..._M0.1_Eta0.01_Zeta0.01_...`)."""
        expect = f"(N, T, {self._axes_text()})"
        first = self.spec.channels[0]
        ref = self._dataset(first, ndim=2 + self.spec.dims, expect=expect)
        for name in self.spec.channels[1:]:
            ds = self._dataset(name, ndim=2 + self.spec.dims, expect=expect)
            if ds.shape != ref.shape:
                raise RawDataError(f"{self.path}: dataset '{name}' has shape {ds.shape} but "
                                   f"'{first}' has {ref.shape}; every field must match")
        n, n_steps, *spatial = ref.shape
        coords = self._file_coords(tuple(spatial), first)
        t = self._times(self._vector("t-coordinate"), n_steps, "t-coordinate")
        return RawInfo(self.path, "cfd", n, t, coords, self._params())

    def _group_keys(self) -> list[str]:
        keys = sorted(k for k in self._file.keys() if k.isdigit())
        if not keys:
            raise RawDataError(f"{self.path}: group file holds no sample groups '0000', ... "
                               "(dataset '0000/data' expected): an empty group file")
        return keys

    def _group_info(self) -> RawInfo:
        self._keys = self._group_keys()
        first = self._file[self._keys[0]]
        order = self.spec.group_axes  # e.g. "tyxc": the file's axis order
        ds = self._dataset("data", first, ndim=len(order),
                           expect=f"axes ({', '.join(order.upper())})")
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
        config = self._config(first)
        return RawInfo(self.path, "group", len(self._keys), t, coords, self._params(config),
                       config)

    def _ns_incom_info(self) -> RawInfo:
        """NS incompressible: coordinates are not stored, so UPS uses the cell centres of
        [0, 1]^2; times come from `t[i]` (see `times`)."""
        vel = self._dataset("velocity", ndim=5, expect="(N, T, X, Y, 2)")
        part = self._dataset("particles", ndim=5, expect="(N, T, X, Y, 1)")
        force = self._dataset("force", ndim=4, expect="(N, X, Y, 2)")
        t = self._dataset("t", ndim=2, expect="(N, T)")
        n, n_steps, nx, ny, _ = vel.shape
        checks = (("velocity", vel.shape, (n, n_steps, nx, ny, 2)),
                  ("particles", part.shape, (n, n_steps, nx, ny, 1)),
                  ("force", force.shape, (n, nx, ny, 2)))
        for key, got, want in checks:
            if got != want:
                raise RawDataError(f"{self.path}: dataset '{key}' has shape {got}; expected "
                                   f"{want} (from 'velocity' {vel.shape})")
        if t.shape[0] != n:
            raise RawDataError(f"{self.path}: dataset 't' has shape {t.shape}; expected "
                               f"({n}, T) for {n} trajectories")
        self._times(np.empty(t.shape[1]), n_steps, "t")
        self._n_steps = n_steps
        coords = {"x": (np.arange(nx) + 0.5) / nx, "y": (np.arange(ny) + 0.5) / ny}
        times = np.asarray(t[0], dtype=np.float64)[:n_steps]
        return RawInfo(self.path, "ns_incom", n, times, coords, self._params())

    # ---- data ---------------------------------------------------------------------------------

    @names_damage
    def times(self, i: int) -> np.ndarray:
        """(T,) times of trajectory `i` (NS files store one time axis per trajectory)."""
        if self.info.layout == "ns_incom":
            return np.asarray(self._file["t"][i], dtype=np.float64)[: self._n_steps]
        return self.info.t

    @names_damage
    def read(self, i: int) -> np.ndarray:
        """Trajectory `i` as float32 (T, *spatial, C); NaN or Inf raises, naming the trajectory.

        Steady tasks return their one state as (1, *spatial, C)."""
        self._check_index(i)
        layout = self.info.layout
        if layout in ("tensor", "darcy"):
            where = f"tensor[{i}]"
            u = np.asarray(self._file["tensor"][i], dtype=np.float32)  # (T, *S) / (1, X, Y)
            u = u[..., None]
        elif layout == "cfd":
            where = f"{self.spec.channels}[{i}]"
            u = np.stack([self._finite(np.asarray(self._file[c][i], np.float32), f"{c}[{i}]")
                          for c in self.spec.channels], axis=-1)  # (T, *S, C)
        elif layout == "ns_incom":
            where = f"velocity[{i}], particles[{i}]"
            u = self._ns_fields(i, self.spec.channels)
        else:
            key = self._keys[i]
            where = f"{key}/data"
            ds = self._dataset("data", self._file[key])
            if ds.shape != self._group_shape:
                raise RawDataError(f"{self.path}: dataset '{where}' has shape {ds.shape}; "
                                   f"'{self._keys[0]}/data' has {self._group_shape}")
            u = np.asarray(ds[()], dtype=np.float32).transpose(self._perm)  # -> (T, *S, C)
        return self._finite(u, where)

    @names_damage
    def read_inputs(self, i: int) -> np.ndarray:
        """Input fields of trajectory `i` as float32 (*spatial, Cin), in `spec.input_channels`
        order: Darcy's coefficient `nu`, NS's forcing. Tasks without inputs raise."""
        if not self.spec.input_channels:
            raise RawDataError(f"{self.path}: task {self.spec.name} has no input fields "
                               "(transient tasks: read(i) holds the whole trajectory)")
        self._check_index(i)
        if self.info.layout == "darcy":
            return self._finite(np.asarray(self._file["nu"][i], np.float32)[..., None], f"nu[{i}]")
        return self._finite(self._ns_fields(i, self.spec.input_channels), f"force[{i}]")

    def _ns_fields(self, i: int, names: tuple[str, ...]) -> np.ndarray:
        try:
            sources = [_NS_SOURCES[c] for c in names]
        except KeyError as err:
            raise RawDataError(f"{self.path}: NS files hold no field {err}; known "
                               f"{sorted(_NS_SOURCES)}") from None
        arrays = {key: self._finite(np.asarray(self._file[key][i], np.float32), f"{key}[{i}]")
                  for key in dict.fromkeys(k for k, _ in sources)}  # one read per dataset
        return np.stack([arrays[key][..., comp] for key, comp in sources], axis=-1)



def _lookup(config: dict, dotted: str) -> float | None:
    """`config['a']['b']` for 'a.b', as a float; None where a key is missing or not a number."""
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    try:
        return float(node)
    except (TypeError, ValueError):
        return None
