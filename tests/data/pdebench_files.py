"""Small files in the EXACT released PDEBench layouts, for tests (shared/reference/pdebench.md s.2).

Every value encodes where it belongs: `encoded((N, T, *S, C))` puts the digits of
(trajectory, step, channel, x, y, z) into one integer (exact in float32), so a reader that swaps
an axis, a channel or a trajectory returns visibly wrong numbers. Each `make_<family>(folder)`
writes one file named as the official downloader names it and returns an `Expected` with what a
correct reader must give: fields as (N, T, x, y, z, C) in the task's channel order, coordinates,
the first T times, parameters and (steady / forced tasks) input fields.

Layout facts reproduced: float32 arrays, float64 root attrs; `t-coordinate` one longer than the
data; contiguous uncompressed tensor / CFD / Darcy files; group files with per-sample `grid`
(lzf for diff-sorp, uncompressed SWE, diff-react (T, Y, X, C)); NS with 4 trajectories per file,
chunks (1, 1, X, Y, C), lzf + shuffle, root attrs `config` and `latestIndex`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

F32 = np.float32


@dataclass
class Expected:
    path: Path
    fields: np.ndarray  # (N, T, *spatial xyz, C) in the task's channel order
    coords: dict[str, np.ndarray]
    t: np.ndarray  # (T,): the times that belong to the data
    params: dict[str, float] = field(default_factory=dict)
    inputs: np.ndarray | None = None  # (N, *spatial, Cin)


def encoded(shape: tuple[int, ...], offset: float = 0.0) -> np.ndarray:
    """(N, T, *S, C) float32 whose value at (n, t, x[, y[, z]], c) is the decimal number with
    digits n t c x y z (each axis must be shorter than 10), plus `offset`."""
    n, t, *spatial, c = shape
    assert all(s < 10 for s in shape), shape
    idx = np.indices(shape, dtype=np.int64)
    # Digit order: n, t, c, then the spatial axes x, y, z.
    digits = [idx[0], idx[1], idx[-1], *idx[2:-1]]
    value = np.zeros(shape, np.int64)
    for d in digits:
        value = value * 10 + d
    return (value + offset).astype(F32)


def centres(n: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    return (lo + (np.arange(n) + 0.5) * (hi - lo) / n).astype(F32)


def times(n_steps: int, t_end: float = 1.0, plus_one: bool = True) -> np.ndarray:
    """`n_steps` (+1, as PDEBench's `t-coordinate`) equally spaced times from 0."""
    k = n_steps + 1 if plus_one else n_steps
    return (np.arange(k) * t_end / n_steps).astype(F32)


def _attrs(obj, attrs: dict) -> None:
    for key, value in attrs.items():
        obj.attrs[key] = value if isinstance(value, str) else np.float64(value)


# ---- single-file layouts -------------------------------------------------------------------------

def write_tensor(path, tensor, x, t_plus_one, **attrs) -> Path:
    """Advection / Burgers / 1D ReacDiff: `tensor` (N, T, X), `x-coordinate`, `t-coordinate`."""
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=np.asarray(tensor, F32))
        f.create_dataset("x-coordinate", data=np.asarray(x, F32))
        f.create_dataset("t-coordinate", data=np.asarray(t_plus_one, F32))
        _attrs(f, attrs)
    return Path(path)


def write_darcy(path, u, nu, x, y, t_coord, **attrs) -> Path:
    """Darcy: `tensor` (N, 1, X, Y) solution, `nu` (N, X, Y) coefficient, coordinates, attr beta."""
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=np.asarray(u, F32))
        f.create_dataset("nu", data=np.asarray(nu, F32))
        f.create_dataset("x-coordinate", data=np.asarray(x, F32))
        f.create_dataset("y-coordinate", data=np.asarray(y, F32))
        f.create_dataset("t-coordinate", data=np.asarray(t_coord, F32))
        _attrs(f, attrs)
    return Path(path)


def write_cfd(path, fields: dict, coords: dict, t_plus_one, **attrs) -> Path:
    """1D/2D/3D CFD: one (N, T, *S) dataset per field, `x-`/`y-`/`z-coordinate`, `t-coordinate`."""
    with h5py.File(path, "w") as f:
        for name, arr in fields.items():
            f.create_dataset(name, data=np.asarray(arr, F32))
        for axis, c in coords.items():
            f.create_dataset(f"{axis}-coordinate", data=np.asarray(c, F32))
        f.create_dataset("t-coordinate", data=np.asarray(t_plus_one, F32))
        _attrs(f, attrs)
    return Path(path)


def write_groups(path, samples, grid: dict, compression: str | None = "lzf",
                 config: str | None = None, grid_at_root: bool = False) -> Path:
    """Group files: `0000`, `0001`, ... each `data` (in the file's own axis order) and `grid/*`
    (inside each group as released, or once at the root); optional group attr `config`."""
    with h5py.File(path, "w") as f:
        for i, s in enumerate(samples):
            g = f.create_group(f"{i:04d}")
            g.create_dataset("data", data=np.asarray(s, F32), compression=compression)
            if config is not None:
                g.attrs["config"] = config
            if not grid_at_root:
                for key, v in grid.items():
                    g.create_dataset(f"grid/{key}", data=np.asarray(v, F32))
        if grid_at_root:
            for key, v in grid.items():
                f.create_dataset(f"grid/{key}", data=np.asarray(v, F32))
    return Path(path)


def write_ns(path, velocity, particles, force, t, config: str = "nu: 0.01\n") -> Path:
    """NS incompressible: `velocity` (4, T, X, Y, 2), `particles` (4, T, X, Y, 1), `force`
    (4, X, Y, 2), `t` (4, T); chunks (1, 1, X, Y, C), lzf + shuffle; attrs config, latestIndex."""
    with h5py.File(path, "w") as f:
        for key, arr in (("velocity", velocity), ("particles", particles)):
            arr = np.asarray(arr, F32)
            f.create_dataset(key, data=arr, chunks=(1, 1, *arr.shape[2:]), compression="lzf",
                             shuffle=True)
        force = np.asarray(force, F32)
        f.create_dataset("force", data=force, chunks=(1, *force.shape[1:]), compression="lzf",
                         shuffle=True)
        f.create_dataset("t", data=np.asarray(t, F32))
        f.attrs["config"] = config
        f.attrs["latestIndex"] = np.int64(np.asarray(t).shape[1] - 1)
    return Path(path)


# ---- one file per family, with its expected reading ----------------------------------------------

N, T = 3, 3  # trajectories and steps of the small files (NS: 4 trajectories, as released)


def make_tensor1d(folder, name: str, offset: float = 0.0, n_x: int = 5, **attrs) -> Expected:
    u = encoded((N, T, n_x, 1), offset)
    x, t = centres(n_x), times(T, 2.0)
    path = write_tensor(Path(folder) / name, u[..., 0], x, t, **attrs)
    return Expected(path, u, {"x": x}, t[:T])


def make_advection(folder, beta: float = 0.4) -> Expected:
    e = make_tensor1d(folder, f"1D_Advection_Sols_beta{beta}.hdf5", beta * 1e6, beta=beta)
    e.params = {"beta": beta}
    return e


def make_burgers(folder, nu: float = 0.01) -> Expected:
    e = make_tensor1d(folder, f"1D_Burgers_Sols_Nu{nu}.hdf5", nu * 1e6, Nu=nu)
    e.params = {"nu": nu}
    return e


def make_reacdiff1d(folder, nu: float = 0.5, rho: float = 2.0) -> Expected:
    e = make_tensor1d(folder, f"ReacDiff_Nu{nu}_Rho{rho}.hdf5", rho * 1e6, Nu=nu, rho=rho)
    e.params = {"nu": nu, "rho": rho}
    return e


def make_darcy(folder, beta: float = 1.0, n_x: int = 4, n_y: int = 3) -> Expected:
    u = encoded((N, 1, n_x, n_y, 1))
    nu = encoded((N, 1, n_x, n_y, 1), 0.5)[:, 0, ..., 0]  # (N, X, Y), distinct from u
    x, y = centres(n_x), centres(n_y)
    path = write_darcy(Path(folder) / f"2D_DarcyFlow_beta{beta}_Train.hdf5", u[:, :, :, :, 0],
                       nu, x, y, times(1), beta=beta)
    return Expected(path, u, {"x": x, "y": y}, np.zeros(1), {"forcing": beta}, nu[..., None])


CFD_FIELDS = {1: ("density", "pressure", "Vx"), 2: ("density", "pressure", "Vx", "Vy"),
              3: ("density", "pressure", "Vx", "Vy", "Vz")}
CFD_SHAPES = {1: (5,), 2: (4, 3), 3: (3, 2, 2)}


def make_cfd(folder, dims: int, name: str | None = None, attrs: dict | None = None,
             params: dict | None = None) -> Expected:
    """A `dims`-D CFD file; by default the attrs of the released files and their values."""
    spatial = CFD_SHAPES[dims]
    names = CFD_FIELDS[dims]
    u = encoded((N, T, *spatial, len(names)))
    coords = {a: centres(s, -1.0, 1.0) for a, s in zip("xyz", spatial)}
    t = times(T)
    default_name = {1: "1D_CFD_Rand_Eta0.01_Zeta0.1_periodic_Train.hdf5",
                    2: "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.1_periodic_128_Train.hdf5",
                    3: "3D_CFD_Turb_M1.0_Eta1e-08_Zeta1e-08_periodic_Train.hdf5"}[dims]
    if attrs is None:
        attrs = {1: {"eta": 0.01, "zeta": 0.1}, 2: {"M": 0.1, "eta": 0.01, "zeta": 0.1},
                 3: {"M": 1.0, "eta": 1e-8, "zeta": 1e-8}}[dims]
    if params is None:
        params = {"mach": attrs.get("M"), "eta": attrs["eta"], "zeta": attrs["zeta"]}
        params = {k: v for k, v in params.items() if v is not None}
    # Stored in a scrambled order: the reader must go by name.
    fields = {n: u[..., k] for k, n in reversed(list(enumerate(names)))}
    path = write_cfd(Path(folder) / (name or default_name), fields, coords, t, **attrs)
    return Expected(path, u, coords, t[:T], params)


def make_diff_sorp(folder, config: str = "sim:\n  D: 0.0005\n  por: 0.29\n",
                   grid_at_root: bool = False) -> Expected:
    u = encoded((N, T, 5, 1))
    x, t = centres(5), times(T, 500.0, plus_one=False)
    path = write_groups(Path(folder) / "1D_diff-sorp_NA_NA.h5", list(u), {"x": x, "t": t},
                        config=config, grid_at_root=grid_at_root)
    return Expected(path, u, {"x": x}, t)


def make_diff_react(folder, n_x: int = 4, n_y: int = 3) -> Expected:
    u = encoded((N, T, n_x, n_y, 2))
    x, y, t = centres(n_x, -1, 1), centres(n_y, -1, 1), times(T, 5.0, plus_one=False)
    samples = [s.transpose(0, 2, 1, 3) for s in u]  # released as (T, Y, X, C)
    path = write_groups(Path(folder) / "2D_diff-react_NA_NA.h5", samples,
                        {"x": x, "y": y, "t": t})
    return Expected(path, u, {"x": x, "y": y}, t)


def make_swe(folder, n_x: int = 4, n_y: int = 3) -> Expected:
    u = encoded((N, T, n_x, n_y, 1))
    x, y, t = centres(n_x, -2.5, 2.5), centres(n_y, -2.5, 2.5), times(T, plus_one=False)
    path = write_groups(Path(folder) / "2D_rdb_NA_NA.h5", list(u), {"x": x, "y": y, "t": t},
                        compression=None)  # released as (T, X, Y, 1), uncompressed
    return Expected(path, u, {"x": x, "y": y}, t)


def make_ns(folder, index: int = 0, n_x: int = 4, n_y: int = 3) -> Expected:
    n = 4  # trajectories per released file
    u = encoded((n, T, n_x, n_y, 3))  # channels (Vx, Vy, particles)
    force = encoded((n, 1, n_x, n_y, 2), 0.25)[:, 0]  # (4, X, Y, 2)
    t = np.stack([times(T, 5.0, plus_one=False) * (1 + 0.1 * k) for k in range(n)])
    path = write_ns(Path(folder) / f"ns_incom_inhom_2d_512-{index}.h5", u[..., :2],
                    u[..., 2:], force, t)
    coords = {"x": centres(n_x), "y": centres(n_y)}
    return Expected(path, u, coords, t[0], {}, force)


# PDEBench download group -> (UPS task, writer of one small file in the released layout).
FAMILIES = {
    "advection": ("advection1d", make_advection),
    "burgers": ("burgers1d", make_burgers),
    "1d_cfd": ("compressible_ns1d", lambda d: make_cfd(d, 1)),
    "diff_sorp": ("diffusion_sorption1d", make_diff_sorp),
    "1d_reacdiff": ("reaction_diffusion1d", make_reacdiff1d),
    "darcy": ("darcy2d", make_darcy),
    "2d_reacdiff": ("reaction_diffusion2d", make_diff_react),
    "swe": ("shallow_water2d", make_swe),
    "2d_cfd": ("compressible_ns2d", lambda d: make_cfd(d, 2)),
    "3d_cfd": ("compressible_ns3d", lambda d: make_cfd(d, 3)),
    "ns_incom": ("navier_stokes2d", make_ns),
}
