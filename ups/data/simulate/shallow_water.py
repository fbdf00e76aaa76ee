"""2D shallow-water radial dam break, PDEBench's `2D_rdb` task at small size.

    h_t + (hu)_x + (hv)_y = 0
    (hu)_t + (hu^2 + g h^2 / 2)_x + (huv)_y = 0
    (hv)_t + (huv)_x + (hv^2 + g h^2 / 2)_y = 0

with gravity g = 1 on [-2.5, 2.5]^2 and t in [0, 1]: water at rest, h = 2 inside a centred disc
of radius r ~ U(0.3, 0.7) (one radius per sample) and h = 1 outside. As released, only h is
written, as `data` (T, X, Y, 1) -- axis 1 is x -- in uncompressed groups of `2D_rdb_NA_NA.h5`.

Finite volume on cell averages: MUSCL reconstruction of the primitive variables (h, u, v) with a
symmetric limiter, the HLL Riemann solver at every face, unsplit in x and y, SSP-RK2 in time.
Reconstructing h with a limiter keeps every face depth between two neighbouring cell depths, so h
stays positive. The step obeys dt * max(a_x / dx + a_y / dy) = cfl with a = |u| + sqrt(g h); the
update is then a convex combination of 1D updates each within MUSCL's limit 1/2, hence `cfl` is
refused above 1/2.

Boundaries (one ghost layer of two cells per side): "outflow" copies the edge cells (transmissive,
PDEBench's choice), "reflective" mirrors them with the normal velocity negated (a wall: the HLL
mass flux through it is exactly 0), "periodic" wraps. With the last two, total mass is conserved
to round-off.

Deliberate choice: the initial depth is the exact-ish cell average of the disc (the fraction of
SUBCELLS^2 sub-points inside it) rather than a staircase of cell centres, so the coarse initial
state stays close to radially symmetric and varies continuously with r. Each trajectory is
solved on its own, at its own CFL-limited step, so sample i does not depend on the batch size.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from ups.data.simulate.advection import cell_centres, march, muscl_faces
from ups.data.simulate.layouts import write_group_file
from ups.data.simulate.options import COMMON, SimulatorSpec, fail, real_in

GRAVITY = 1.0
HALF_WIDTH = 2.5  # the domain is [-2.5, 2.5]^2
H_IN, H_OUT = 2.0, 1.0  # depth inside / outside the dam
SUBCELLS = 4  # sub-points per cell and axis for the initial cell averages
CFL_LIMIT = 0.5  # MUSCL + SSP-RK2, unsplit 2D: dt * max(a_x/dx + a_y/dy) <= 1/2
BOUNDARIES = ("outflow", "reflective", "periodic")
FILE_NAME = "2D_rdb_NA_NA.h5"

# ---- reconstruction and fluxes -----------------------------------------------------------------


def pad_ghosts(w: np.ndarray, boundary: str, normal: int) -> np.ndarray:
    """Two ghost cells at both ends of the LAST axis of primitives w (N, 3, ..., n).

    `normal` is the channel of the velocity normal to that axis (1 for u, 2 for v), negated in
    the ghosts of a reflective wall. Returns (N, 3, ..., n + 4).
    """
    widths = [(0, 0)] * (w.ndim - 1) + [(2, 2)]
    if boundary == "periodic":
        return np.pad(w, widths, mode="wrap")
    if boundary == "outflow":
        return np.pad(w, widths, mode="edge")  # zero-gradient: waves leave unreflected
    padded = np.pad(w, widths, mode="symmetric")  # ghost k mirrors interior cell k
    padded[:, normal, ..., :2] *= -1.0
    padded[:, normal, ..., -2:] *= -1.0
    return padded


def face_states(w: np.ndarray, boundary: str, normal: int,
                limiter: str) -> tuple[np.ndarray, np.ndarray]:
    """Limited left/right primitive states at the n + 1 faces along the last axis of w.

    w: (N, 3, ..., n) -> (wL, wR), each (N, 3, ..., n + 1); face j sits between cells j-1 and j.
    """
    padded = pad_ghosts(w, boundary, normal)  # (..., n + 4)
    left, right = muscl_faces(padded, limiter)  # face i+1/2 of the padded row: (..., n + 4)
    # Padded faces 1 .. n+1 are the physical ones; their slopes never reach past the ghosts,
    # so muscl_faces' periodic wrap of the padded row is harmless.
    n = w.shape[-1]
    return left[..., 1:n + 2], right[..., 1:n + 2]


def physical_flux(h: np.ndarray, un: np.ndarray, ut: np.ndarray) -> np.ndarray:
    """Normal flux of (h, h un, h ut) for depth h and normal/tangential velocity: (3, ...)."""
    mass = h * un
    return np.stack([mass, mass * un + 0.5 * GRAVITY * h * h, mass * ut])


def hll_flux(left: np.ndarray, right: np.ndarray, normal: int) -> np.ndarray:
    """HLL flux of (h, h un, h ut) between primitive face states (N, 3, ...): (N, 3, ...).

    Davis wave-speed bounds sL = min(un - c), sR = max(un + c) over both sides (c = sqrt(g h)),
    clipped to sL <= 0 <= sR: the one HLL formula then reduces to the left (right) physical flux
    when every wave moves right (left), without branching. Output channels follow the input
    (h, hu, hv) order whichever axis is normal.
    """
    tangent = 3 - normal  # channel of the tangential velocity
    hl, hr = left[:, 0], right[:, 0]
    ul, ur = left[:, normal], right[:, normal]
    cl, cr = np.sqrt(GRAVITY * hl), np.sqrt(GRAVITY * hr)
    s_left = np.minimum(np.minimum(ul - cl, ur - cr), 0.0)
    s_right = np.maximum(np.maximum(ul + cl, ur + cr), 0.0)  # > s_left: h > 0 makes c > 0
    fl = physical_flux(hl, ul, left[:, tangent])  # (3, N, ...) in (h, normal, tangent) order
    fr = physical_flux(hr, ur, right[:, tangent])
    jump = np.stack([hr - hl, hr * ur - hl * ul, hr * right[:, tangent] - hl * left[:, tangent]])
    flux = (s_right * fl - s_left * fr + s_left * s_right * jump) / (s_right - s_left)
    order = (0, 1, 2) if normal == 1 else (0, 2, 1)  # back to (h, hu, hv)
    return np.moveaxis(flux[list(order)], 0, 1)  # (3, N, ...) -> (N, 3, ...)


def primitives(q: np.ndarray) -> np.ndarray:
    """(h, hu, hv) -> (h, u, v); both (N, 3, X, Y)."""
    h = q[:, 0]
    return np.stack([h, q[:, 1] / h, q[:, 2] / h], axis=1)


def flux_divergence(w: np.ndarray, axis: int, spacing: float, boundary: str,
                    limiter: str) -> np.ndarray:
    """-(F_{i+1/2} - F_{i-1/2}) / spacing along spatial `axis` (0 = x, 1 = y); (N, 3, X, Y)."""
    moved = np.moveaxis(w, 2 + axis, -1)  # the axis to sweep goes last
    left, right = face_states(moved, boundary, 1 + axis, limiter)
    flux = hll_flux(left, right, 1 + axis)  # (N, 3, ..., n + 1)
    return np.moveaxis(-(flux[..., 1:] - flux[..., :-1]) / spacing, -1, 2 + axis)


def swe_rhs(q: np.ndarray, dx: float, dy: float, boundary: str = "outflow",
            limiter: str = "vanleer") -> np.ndarray:
    """d/dt of conserved cell averages q (N, 3, X, Y), channels (h, hu, hv)."""
    w = primitives(q)
    # x and y use the same arithmetic on transposed data, so x <-> y symmetry is kept exactly.
    return (flux_divergence(w, 0, dx, boundary, limiter)
            + flux_divergence(w, 1, dy, boundary, limiter))


def stable_dt(q: np.ndarray, dx: float, dy: float, cfl: float) -> float:
    """The step with cfl = dt * max over cells of (|u| + c) / dx + (|v| + c) / dy."""
    w = primitives(q)
    c = np.sqrt(GRAVITY * w[:, 0])
    rate = float(np.max((np.abs(w[:, 1]) + c) / dx + (np.abs(w[:, 2]) + c) / dy))
    return cfl / rate


def solve_swe(
    q0: np.ndarray,
    dx: float,
    dy: float,
    times: np.ndarray,
    *,
    cfl: float = 0.4,
    boundary: str = "outflow",
    limiter: str = "vanleer",
    observe_depth: bool = True,
    progress: bool = True,
) -> np.ndarray:
    """Evolve q0 (N, 3, X, Y) = (h, hu, hv); returns h (N, T, X, Y), or all of q (N, T, 3, X, Y)
    if not `observe_depth`."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary is {boundary!r}; expected one of {BOUNDARIES}")
    if not 0.0 < cfl <= CFL_LIMIT:
        raise ValueError(f"cfl is {cfl!r}; expected a number in (0, {CFL_LIMIT}]")
    if np.min(q0[:, 0]) <= 0.0:
        raise ValueError("the initial depth must be positive everywhere (no dry cells)")
    return march(
        q0,
        lambda q: swe_rhs(q, dx, dy, boundary, limiter),
        times,
        lambda q: stable_dt(q, dx, dy, cfl),
        observe=(lambda q: q[:, 0].copy()) if observe_depth else None,
        desc="shallow water",
        progress=progress,
    )


# ---- radial dam break --------------------------------------------------------------------------


def disc_fraction(x: np.ndarray, y: np.ndarray, radius: np.ndarray,
                  subcells: int = SUBCELLS) -> np.ndarray:
    """Fraction of each cell (centres x (X,), y (Y,), equal widths) inside a centred disc.

    radius (N,) -> (N, X, Y), estimated on subcells x subcells sub-points per cell.
    """
    def sub_points(c: np.ndarray) -> np.ndarray:  # (n,) -> (n, subcells)
        width = c[1] - c[0] if len(c) > 1 else 1.0
        offsets = (np.arange(subcells) + 0.5) / subcells - 0.5
        return c[:, None] + width * offsets[None, :]

    xs, ys = sub_points(np.asarray(x, float)), sub_points(np.asarray(y, float))
    r2 = xs[:, None, :, None] ** 2 + ys[None, :, None, :] ** 2  # (X, Y, s, s)
    inside = r2[None] < (np.asarray(radius, float) ** 2)[:, None, None, None, None]
    return inside.mean(axis=(-2, -1))  # (N, X, Y, s, s) -> (N, X, Y)


def dam_break_state(x: np.ndarray, y: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Still water, depth H_IN in the disc and H_OUT outside: (N, 3, X, Y) = (h, hu, hv)."""
    h = H_OUT + (H_IN - H_OUT) * disc_fraction(x, y, radius)  # (N, X, Y)
    return np.stack([h, np.zeros_like(h), np.zeros_like(h)], axis=1)


def config_yaml(opts: Mapping[str, Any]) -> str:
    """The constants of the run, as each group's `config` attribute (YAML)."""
    config = {"g": GRAVITY, "h_in": H_IN, "h_out": H_OUT, "domain": [-HALF_WIDTH, HALF_WIDTH],
              "boundary": "outflow", "r_min": opts["r_min"], "r_max": opts["r_max"],
              "cfl": opts["cfl"], "scheme": "MUSCL (van Leer) + HLL + SSP-RK2"}
    return yaml.safe_dump(config, sort_keys=False)


def depth_samples(x: np.ndarray, radius: np.ndarray, times: np.ndarray,
                  cfl: float) -> Iterator[np.ndarray]:
    """Solve one dam break per radius, lazily: yields h as (T, X, Y, 1) samples.

    One trajectory at a time, so each sample's time steps depend on its own state only (sample i
    is the same whatever the batch size) and the temporaries stay small.
    """
    dx = 2.0 * HALF_WIDTH / len(x)
    bar = tqdm(radius, desc="shallow water", file=sys.stderr, disable=None, leave=False)
    for r in bar:
        h = solve_swe(dam_break_state(x, x, np.array([r])), dx, dx, times, cfl=cfl,
                      progress=False)  # (1, T, X, Y)
        yield h[0][..., None]  # -> (T, X, Y, 1)


def simulate_shallow_water2d(opts: Mapping[str, Any], out_dir: Path, seed: int) -> list[Path]:
    """Write `2D_rdb_NA_NA.h5`: groups of (T, X, Y, 1) water heights on an nx x nx grid.

    opts: validated options {n_traj, nx, nt, t_end, cfl, r_min, r_max}.
    """
    x = cell_centres(int(opts["nx"]), -HALF_WIDTH, HALF_WIDTH)  # y is the same
    times = np.linspace(0.0, float(opts["t_end"]), int(opts["nt"]))
    rng = np.random.default_rng(seed)
    radius = rng.uniform(opts["r_min"], opts["r_max"], size=int(opts["n_traj"]))
    samples = depth_samples(x, radius, times, float(opts["cfl"]))
    path = Path(out_dir) / FILE_NAME
    return [write_group_file(path, samples, {"x": x, "y": x, "t": times}, compression=None,
                             config=config_yaml(opts))]


def _check_radii(task: str, opts: dict[str, Any]) -> None:
    if opts["r_max"] < opts["r_min"]:
        fail(task, "r_max", opts["r_max"], f"a radius >= r_min = {opts['r_min']:g}")
    dx = 2.0 * HALF_WIDTH / opts["nx"]
    if opts["r_min"] < dx:  # a dam inside one cell is not a dam on this grid
        fail(task, "r_min", opts["r_min"],
             f"a radius >= one cell width {dx:g} (or a larger nx) so the grid resolves the dam")


SPECS = {
    "shallow_water2d": SimulatorSpec(
        simulate_shallow_water2d,
        COMMON,
        {"cfl": (0.4, real_in(0.0, CFL_LIMIT, low_open=True)),
         "r_min": (0.3, real_in(0.0, HALF_WIDTH, low_open=True, high_open=True)),
         "r_max": (0.7, real_in(0.0, HALF_WIDTH, low_open=True, high_open=True))},
        check=_check_radii,
    ),
}
