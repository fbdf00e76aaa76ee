"""Compressible Navier-Stokes in 1D, 2D and 3D: PDEBench's "CFD" tasks at small size.

    rho_t + div(rho v) = 0
    (rho v)_t + div(rho v v + p I - sigma) = 0
    E_t + div((E + p) v - sigma v) = 0,        E = p / (gamma - 1) + rho |v|^2 / 2

with gamma = 5/3 and PDEBench's viscous stress (shear viscosity eta, bulk viscosity zeta, no heat
conduction):

    sigma = eta (grad v + grad v^T - 2/3 div(v) I) + zeta div(v) I.

One dimension-generic conservative finite-volume scheme serves all three tasks (state arrays are
(N, C, *spatial), C = d + 2, components rho, v_x.., p or rho, m_x.., E; the spatial axes are x, y,
z in that order and every axis is handled by the same loop):

* MUSCL reconstruction of the primitive variables with a limited slope (van Leer by default).
  The limited face values lie between neighbouring cell values, so positive densities and
  pressures stay positive at the faces.
* The HLLC Riemann solver (Toro) with Davis wave-speed bounds. HLLC resolves contact and shear
  waves exactly, so the viscosity of a shear layer is the physical one, not the scheme's.
* Viscous fluxes by central differences at the same faces: normal derivatives compactly across
  the face, tangential ones as the mean of the two neighbouring cells' centred differences.
  Both fluxes are summed per face, so mass, momentum and energy change only by round-off.
* SSP-RK2 (`advection.march`) with dt = cfl / (sum_a max(|v_a| + c) / dx_a
  + max((4/3 eta + zeta) / rho) sum_a 1 / dx_a^2), refused above cfl = 1/2: the convective
  term alone is then the MUSCL-TVD bound, and the viscous term alone keeps dt times the
  viscous operator's largest eigenvalue (<= 4 nu sum_a 1/dx_a^2) within RK2's limit of 2.

Boundaries are periodic (the task files) or transmissive (zero-gradient ghost cells; `outflow`,
used by the shock-tube test): both by two layers of ghost cells, so one code path serves both.

Initial states, like PDEBench's "Rand" sets: density and pressure are log-normal random fields
rho = exp(s_rho f_rho), p = exp(s_p f_p) (always positive; background 1, s ~ U(0.1, 0.3) per
trajectory) and the velocity is a vector of random fields scaled so that its largest magnitude
on the grid is M c0, c0 = sqrt(gamma) the background sound speed (M is the peak initial Mach
number). The random fields f are band-limited sums of Fourier modes 0 < |k| <= `ic_modes` with
unit pointwise variance (`random_fields`). In 1D the Mach number is drawn per trajectory from
U(0.1, 1) (PDEBench's 1D files carry no `M`). In 3D the
task's files are PDEBench's "Turb" set, so density and pressure start uniform (rho = p = 1) and the
velocity has a Kolmogorov-like spectrum (mode amplitudes ~ |k|^(-11/6), E(k) ~ k^(-5/3)).

Domains and files: 1D on x in [-1, 1] (PDEBench's), 2D and 3D on [0, 1]^d (cell centres), times
t in [0, t_end] at `nt` saved frames. Every (mach, eta, zeta) combination is one file, all files
of one call sharing the same random fields (the velocity scales with M). `eta` and `zeta` are
lists of equal length, paired entry by entry (PDEBench's files pair them: Eta0.1_Zeta0.1). The
2D names keep PDEBench's `_128_` token although the grid is `nx`^2: the task's file pattern
selects the 128^2 files by it. Trajectories are stepped in groups of ~4096 cells
(`solve_in_chunks`), each group at its own stable time step.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from functools import partial
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ups.data.simulate.advection import cell_centres, march, muscl_faces, save_times
from ups.data.simulate.layouts import write_cfd_file
from ups.data.simulate.options import COMMON, SimulatorSpec, fail, int_at_least, is_real, real_list

GAMMA = 5.0 / 3.0
CFL_LIMIT = 0.5  # MUSCL + SSP-RK2 is TVD (and keeps rho, p > 0 in practice) up to here
GHOSTS = 2  # ghost layers per side: MUSCL needs two neighbours
VELOCITY_NAMES = ("Vx", "Vy", "Vz")
BOUNDARIES = {"periodic": "wrap", "outflow": "edge"}  # np.pad modes of the ghost cells


# ---- state conversions ---------------------------------------------------------------------------


def to_conserved(w: np.ndarray) -> np.ndarray:
    """Primitive (rho, v.., p) -> conserved (rho, rho v.., E); (N, C, *S) -> same."""
    rho, v, p = w[:, :1], w[:, 1:-1], w[:, -1:]
    energy = p / (GAMMA - 1.0) + 0.5 * rho * np.sum(v * v, axis=1, keepdims=True)
    return np.concatenate([rho, rho * v, energy], axis=1)


def to_primitive(u: np.ndarray) -> np.ndarray:
    """Conserved (rho, m.., E) -> primitive (rho, v.., p); (N, C, *S) -> same."""
    rho, m, energy = u[:, :1], u[:, 1:-1], u[:, -1:]
    v = m / rho
    p = (GAMMA - 1.0) * (energy - 0.5 * np.sum(m * v, axis=1, keepdims=True))
    return np.concatenate([rho, v, p], axis=1)


def sound_speed(w: np.ndarray) -> np.ndarray:
    """c = sqrt(gamma p / rho) of primitive states (N, C, ...): (N, ...)."""
    return np.sqrt(GAMMA * w[:, -1] / w[:, 0])


# ---- HLLC ----------------------------------------------------------------------------------------


def hllc_flux(wl: np.ndarray, wr: np.ndarray, normal: int) -> np.ndarray:
    """HLLC flux (Toro, ch. 10) between primitive face states wl, wr (N, C, ...); normal velocity
    = component `normal`. Returns the conserved flux (N, C, ...).

    The flux is F_K + S_K^- (U*_K - U_K) on the upwind side K of the contact (S* >= 0: K = L with
    S_L^- = min(S_L, 0); else K = R with S_R^+ = max(S_R, 0)): only one side's star state is
    built, and a supersonic face (S_L >= 0 or S_R <= 0) reduces to the plain upwind flux.
    """
    ul, ur = wl[:, normal], wr[:, normal]
    cl, cr = sound_speed(wl), sound_speed(wr)
    s_l = np.minimum(ul - cl, ur - cr)  # Davis bounds on the fastest left/right waves
    s_r = np.maximum(ul + cl, ur + cr)
    q_l = wl[:, 0] * (s_l - ul)  # < 0: mass flux through the left wave, in its frame
    q_r = wr[:, 0] * (s_r - ur)  # > 0
    s_star = (wr[:, -1] - wl[:, -1] + ul * q_l - ur * q_r) / (q_l - q_r)

    left = s_star >= 0.0
    w = np.where(left[:, None], wl, wr)  # the upwind state K: (N, C, ...)
    s_k = np.where(left, s_l, s_r)
    q_k = np.where(left, q_l, q_r)
    rho, un, p = w[:, 0], w[:, normal], w[:, -1]
    u_k = to_conserved(w)
    flux = u_k * un[:, None]  # physical flux F_K: U u_n, plus p in the normal momentum ...
    flux[:, normal] += p
    flux[:, -1] += p * un  # ... and p u_n in the energy
    rho_star = q_k / (s_k - s_star)
    star = rho_star[:, None] * w  # star state U*_K: rho*, rho* v (normal -> S*), E*
    star[:, 0] = rho_star
    star[:, normal] = rho_star * s_star
    star[:, -1] = rho_star * (u_k[:, -1] / rho + (s_star - un) * (s_star + p / q_k))
    jump = np.where(left, np.minimum(s_l, 0.0), np.maximum(s_r, 0.0))
    return flux + jump[:, None] * (star - u_k)


# ---- viscous fluxes ------------------------------------------------------------------------------


def _inner(ndim: int, axes: list[int]) -> tuple[slice, ...]:
    """Index dropping the ghost layers along `axes` of an ndim array."""
    index = [slice(None)] * ndim
    for axis in axes:
        index[axis] = slice(GHOSTS, -GHOSTS)
    return tuple(index)


def _centred(v: np.ndarray, axis: int, dx: float) -> np.ndarray:
    """Centred difference along a ghosted axis, kept on its interior cells: n + 4 -> n."""
    hi = [slice(None)] * v.ndim
    lo = [slice(None)] * v.ndim
    hi[axis], lo[axis] = slice(GHOSTS + 1, v.shape[axis] - GHOSTS + 1), slice(1, -GHOSTS - 1)
    return (v[tuple(hi)] - v[tuple(lo)]) / (2.0 * dx)


def viscous_flux(wm: np.ndarray, axis: int, dx: tuple[float, ...], eta: float,
                 zeta: float) -> np.ndarray:
    """Viscous part (0, sigma_a., sigma_a. . v) of the flux through the faces normal to `axis`.

    wm: ghosted primitives with `axis` moved last, (N, C, *others + 4, n + 4); returns
    (N, C, *others, n + 1), the n + 1 faces of the interior cells along `axis`.
    """
    d = wm.shape[1] - 2
    others = list(range(2, 1 + d))  # the other spatial axes of wm, in x, y, z order
    positions = [c for c in range(d) if c != axis]  # their physical axes
    v = wm[:, 1:-1]  # (N, d, *others + 4, n + 4)
    core = v[_inner(v.ndim, others)]  # (N, d, *others, n + 4)
    grads = [np.empty(0)] * d  # grads[c] = d v / d x_c at the faces: (N, d, *others, n + 1)
    grads[axis] = (core[..., 2:-1] - core[..., 1:-2]) / dx[axis]  # compact, across the face
    for c, ax in zip(positions, others):
        rest = [o for o in others if o != ax]
        cen = _centred(v[_inner(v.ndim, rest)], ax, dx[c])[..., 1:-1]  # cells 1 .. n+2 along axis
        grads[c] = 0.5 * (cen[..., 1:] + cen[..., :-1])  # mean of the two cells beside the face
    div = sum(grads[c][:, c] for c in range(d))
    # sigma_{a b} = eta (d_a v_b + d_b v_a) + (zeta - 2/3 eta) delta_ab div v: (N, d, ...)
    sigma = eta * (grads[axis] + np.stack([grads[b][:, axis] for b in range(d)], axis=1))
    sigma[:, axis] += (zeta - 2.0 * eta / 3.0) * div
    v_face = 0.5 * (core[..., 2:-1] + core[..., 1:-2])
    work = np.sum(sigma * v_face, axis=1, keepdims=True)
    return np.concatenate([np.zeros_like(work), sigma, work], axis=1)


# ---- right-hand side and time step ---------------------------------------------------------------


def axis_divergence(wp: np.ndarray, axis: int, dx: tuple[float, ...], eta: float, zeta: float,
                    limiter: str) -> np.ndarray:
    """d(F_axis)/dx_axis of the interior cells from ghosted primitives wp (N, C, *S + 4):
    returns (N, C, *S)."""
    d = wp.ndim - 2
    wm = np.moveaxis(wp, 2 + axis, -1)  # (N, C, *others + 4, n + 4)
    core = wm[_inner(wm.ndim, list(range(2, 1 + d)))]  # interior along the other axes
    wl, wr = muscl_faces(core, limiter)  # face j+1/2 for every ghosted cell j
    wl, wr = wl[..., 1:-2], wr[..., 1:-2]  # the n + 1 faces around the interior cells
    flux = hllc_flux(wl, wr, 1 + axis)  # (N, C, *others, n + 1)
    if eta or zeta:
        flux -= viscous_flux(wm, axis, dx, eta, zeta)
    div = (flux[..., 1:] - flux[..., :-1]) / dx[axis]  # (N, C, *others, n)
    return np.moveaxis(div, -1, 2 + axis)


def ns_rhs(u: np.ndarray, dx: tuple[float, ...], eta: float, zeta: float, boundary: str,
           limiter: str = "vanleer") -> np.ndarray:
    """du/dt of conserved cell averages u (N, C, *S)."""
    d = u.ndim - 2
    pad = [(0, 0), (0, 0)] + [(GHOSTS, GHOSTS)] * d
    wp = np.pad(to_primitive(u), pad, mode=BOUNDARIES[boundary])  # (N, C, *S + 4)
    rate = np.zeros_like(u)
    for axis in range(d):
        rate -= axis_divergence(wp, axis, dx, eta, zeta, limiter)
    return rate


def stable_dt(u: np.ndarray, dx: tuple[float, ...], eta: float, zeta: float,
              cfl: float) -> float:
    """cfl / (convective rate + viscous rate) for conserved states u (N, C, *S).

    Adding the rates (rather than taking the smaller step) keeps the update a convex mix of a
    stable convective and a stable viscous step, whatever the cell Reynolds number.
    """
    w = to_primitive(u)
    c = sound_speed(w)
    rate = sum(float(np.max(np.abs(w[:, 1 + a]) + c)) / h for a, h in enumerate(dx))
    nu = (4.0 * eta / 3.0 + zeta) * float(np.max(1.0 / w[:, 0]))  # largest kinematic viscosity
    rate += nu * sum(1.0 / (h * h) for h in dx)
    return cfl / rate if rate > 0.0 else math.inf


def solve_compressible(
    w0: np.ndarray,
    dx: tuple[float, ...],
    times: np.ndarray,
    *,
    eta: float = 0.0,
    zeta: float = 0.0,
    boundary: str = "periodic",
    cfl: float = 0.4,
    limiter: str = "vanleer",
    progress: bool = True,
) -> np.ndarray:
    """Evolve primitive states w0 (N, C, *S) = (rho, v.., p) on cells dx (one per axis).

    Returns the primitive states at `times`: (N, T, C, *S). `boundary` is "periodic" or
    "outflow" (zero-gradient ghost cells).
    """
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary is {boundary!r}; expected one of {sorted(BOUNDARIES)}")
    if not 0.0 < cfl <= CFL_LIMIT:
        raise ValueError(f"cfl is {cfl!r}; expected a number in (0, {CFL_LIMIT}]")
    w0 = np.asarray(w0, dtype=np.float64)
    if w0.ndim != 2 + len(dx) or w0.shape[1] != len(dx) + 2:
        raise ValueError(f"w0 has shape {w0.shape}; expected (N, {len(dx) + 2}, *{len(dx)} axes)")
    if np.any(w0[:, 0] <= 0.0) or np.any(w0[:, -1] <= 0.0):
        raise ValueError("w0: density and pressure must be positive")
    return march(to_conserved(w0), lambda u: ns_rhs(u, dx, eta, zeta, boundary, limiter), times,
                 lambda u: stable_dt(u, dx, eta, zeta, cfl), observe=to_primitive,
                 desc=f"compressible NS {len(dx)}D eta={eta:g} zeta={zeta:g}", progress=progress)


# ---- random initial states ---------------------------------------------------------------------


def wave_vectors(dims: int, max_mode: int) -> np.ndarray:
    """Integer wave vectors k with 0 < |k| <= max_mode, one of each +-k pair: (M, dims)."""
    r = np.arange(-max_mode, max_mode + 1)
    k = np.stack([a.ravel() for a in np.meshgrid(*[r] * dims, indexing="ij")], axis=1)
    k = k[np.sum(k * k, axis=1) <= max_mode**2]
    first = np.array([row[np.flatnonzero(row)[0]] if row.any() else 0 for row in k])
    return k[first > 0]  # the first non-zero component positive: drops k = 0 and one of +-k


def random_fields(rng: np.random.Generator, n: int, coords: list[np.ndarray], max_mode: int,
                  length: float, slope: float = 0.0) -> np.ndarray:
    """n band-limited random fields on the grid coords (x[, y[, z]]): (n, *S), unit variance.

    f = sum_k a_k cos(2 pi k.x / length) + b_k sin(...), over 0 < |k| <= max_mode, with a_k, b_k
    ~ N(0, s_k^2), s_k ~ |k|^-slope normalised so that sum s_k^2 = 1: every point then has
    variance exactly 1. The coefficients do not depend on the grid (same seed, same continuous
    field at any resolution).
    """
    k = wave_vectors(len(coords), max_mode)  # (M, d)
    scale = np.sqrt(np.sum(k * k, axis=1)) ** -slope
    scale /= np.sqrt(np.sum(scale**2))
    coef = rng.normal(size=(n, 2, len(k))) * scale  # (n, {cos, sin}, M)
    grid = np.meshgrid(*[np.asarray(c, float) for c in coords], indexing="ij")  # d x (*S)
    phase = 2.0 * np.pi / length * sum(k[:, a, None] * g.ravel() for a, g in enumerate(grid))
    field = coef[:, 0] @ np.cos(phase) + coef[:, 1] @ np.sin(phase)  # (n, M) @ (M, prod S)
    return field.reshape(n, *grid[0].shape)


def random_initial_state(rng: np.random.Generator, n: int, coords: list[np.ndarray],
                         length: float, max_mode: int, *, uniform_thermo: bool = False,
                         slope: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Random smooth states at peak Mach number 1: (w (N, C, *S) primitives, mach (N,) drawn
    U(0.1, 1) for callers without a Mach option).

    The velocity's largest magnitude on the grid is c0 = sqrt(gamma), the sound speed of the
    background rho = p = 1; callers scale w[:, 1:-1] by their Mach number. Every random number
    is drawn whatever the options, so the stream (and every trajectory) depends only on the
    seed, n and the grid.
    """
    d = len(coords)
    f = random_fields(rng, n * (d + 2), coords, max_mode, length, slope)
    f = f.reshape(n, d + 2, *f.shape[1:])  # (N, C, *S): rho, v.., p
    spread = rng.uniform(0.1, 0.3, size=(n, 2))  # log-amplitudes of rho and p
    mach = rng.uniform(0.1, 1.0, size=n)
    if uniform_thermo:
        spread[:] = 0.0
    expand = (slice(None),) + (None,) * d
    v = f[:, 1:-1]
    peak = np.sqrt(np.sum(v * v, axis=1)).reshape(n, -1).max(axis=1)  # (N,)
    w = np.empty_like(f)
    w[:, 0] = np.exp(spread[:, 0][expand] * f[:, 0])
    w[:, -1] = np.exp(spread[:, 1][expand] * f[:, -1])
    w[:, 1:-1] = v * (math.sqrt(GAMMA) / peak)[(slice(None), None) + (None,) * d]
    return w, mach


# ---- tasks ---------------------------------------------------------------------------------------


TASKS = {  # dims -> (domain (lo, hi), file name, default ic_modes, 3D "Turb" flavour)
    1: ((-1.0, 1.0), "1D_CFD_Rand_Eta{eta}_Zeta{zeta}_periodic_Train.hdf5", 4, False),
    2: ((0.0, 1.0), "2D_CFD_Rand_M{M}_Eta{eta}_Zeta{zeta}_periodic_128_Train.hdf5", 3, False),
    3: ((0.0, 1.0), "3D_CFD_Turb_M{M}_Eta{eta}_Zeta{zeta}_periodic_Train.hdf5", 2, True),
}
CHUNK_CELLS = 4096  # cells stepped together by `solve_in_chunks`
TURB_SLOPE = 11.0 / 6.0  # mode amplitude ~ |k|^-11/6: energy spectrum k^-5/3 in 3D


def solve_in_chunks(w0: np.ndarray, dx: tuple[float, ...], times: np.ndarray, *, eta: float,
                    zeta: float, cfl: float) -> np.ndarray:
    """`solve_compressible` on groups of about CHUNK_CELLS cells: (N, C, *S) -> (N, T, C, *S).

    Small groups keep the working arrays in cache (several times faster than one big batch on
    one core) and each group steps at its own, usually larger, stable time step.
    """
    size = max(1, CHUNK_CELLS // math.prod(w0.shape[2:]))
    starts = range(0, len(w0), size)
    bar = tqdm(starts, desc=f"compressible NS {len(dx)}D eta={eta:g} zeta={zeta:g}",
               file=sys.stderr, disable=None, leave=False, unit="chunk")
    return np.concatenate([solve_compressible(w0[i : i + size], dx, times, eta=eta, zeta=zeta,
                                              cfl=cfl, progress=False) for i in bar])


def write_trajectories(path: Path, w: np.ndarray, coords: list[np.ndarray], t_coord: np.ndarray,
                       attrs: Mapping[str, float]) -> Path:
    """Write primitive trajectories w (N, T, C, *S) as a PDEBench CFD file."""
    d = len(coords)
    fields = {"density": w[:, :, 0], "pressure": w[:, :, -1]}
    fields.update({VELOCITY_NAMES[a]: w[:, :, 1 + a] for a in range(d)})
    return write_cfd_file(path, fields, dict(zip("xyz", coords)), t_coord, attrs)


def parameter_sets(opts: Mapping[str, Any]) -> list[tuple[float | None, float, float]]:
    """(mach, eta, zeta) of every file: each Mach number (None in 1D, which has no `mach`) with
    each (eta, zeta) pair."""
    return [(mach, eta, zeta) for mach, (eta, zeta)
            in product(opts.get("mach", [None]), zip(opts["eta"], opts["zeta"]))]


def simulate_cfd(opts: Mapping[str, Any], out_dir: Path, seed: int, dims: int) -> list[Path]:
    """Write one file per (mach, eta, zeta) combination (options validated by the caller); all
    files start from the same random fields."""
    (lo, hi), name, _, turb = TASKS[dims]
    nx = int(opts["nx"])
    coords = [cell_centres(nx, lo, hi)] * dims
    dx = ((hi - lo) / nx,) * dims
    times, t_coord = save_times(int(opts["nt"]), float(opts["t_end"]))
    w0, drawn_mach = random_initial_state(
        np.random.default_rng(seed), int(opts["n_traj"]), coords, hi - lo, int(opts["ic_modes"]),
        uniform_thermo=turb, slope=TURB_SLOPE if turb else 0.0)  # (N, C, *S) at peak Mach 1
    paths = []
    for mach, eta, zeta in parameter_sets(opts):
        scale = drawn_mach if mach is None else np.full(len(w0), mach)  # (N,)
        w = w0.copy()
        w[:, 1:-1] *= scale.reshape(-1, *[1] * (dims + 1))
        traj = solve_in_chunks(w, dx, times, eta=eta, zeta=zeta, cfl=float(opts["cfl"]))
        attrs = {"eta": eta, "zeta": zeta} if mach is None else {"M": mach, "eta": eta,
                                                                  "zeta": zeta}
        path = Path(out_dir) / name.format(M=mach, eta=eta, zeta=zeta)
        paths.append(write_trajectories(path, traj, coords, t_coord, attrs))
    return paths


# ---- options -------------------------------------------------------------------------------------


def viscosity_list(task: str, key: str, value: Any) -> list[float]:
    """A non-empty list of finite numbers >= 0 (repeats allowed: zeta pairs with eta)."""
    expected = "a non-empty list of finite numbers >= 0 (paired entry by entry with the other)"
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        fail(task, key, value, expected)
    items = list(value)
    if not items or not all(is_real(v) and v >= 0 for v in items):
        fail(task, key, value, expected)
    return [float(v) for v in items]


def cfl_number(task: str, key: str, value: Any) -> float:
    if not is_real(value) or not 0.0 < value <= CFL_LIMIT:
        fail(task, key, value, f"a number in (0, {CFL_LIMIT:g}]: MUSCL + SSP-RK2 is stable only "
             f"up to {CFL_LIMIT:g}")
    return float(value)


def check_cfd(task: str, opts: dict[str, Any]) -> None:
    """eta and zeta pair up into distinct files; the grid resolves every initial mode."""
    eta, zeta = opts["eta"], opts["zeta"]
    if len(zeta) != len(eta):
        fail(task, "zeta", zeta, f"a list as long as eta ({len(eta)} entries): one (eta, zeta) "
             "pair per file")
    if len(set(zip(eta, zeta))) != len(eta):
        fail(task, "zeta", zeta, f"(eta, zeta) pairs that are distinct (eta = {eta})")
    if 2 * opts["ic_modes"] >= opts["nx"]:
        fail(task, "ic_modes", opts["ic_modes"],
             f"an integer < nx/2 = {opts['nx'] / 2:g} so the grid resolves every mode")


def _spec(dims: int) -> SimulatorSpec:
    required = {**COMMON, "eta": viscosity_list, "zeta": viscosity_list}
    if dims > 1:
        required["mach"] = real_list(0.0, "initial Mach numbers; one file each", strict=True)
    return SimulatorSpec(
        partial(simulate_cfd, dims=dims),
        required,
        {"cfl": (0.4, cfl_number), "ic_modes": (TASKS[dims][2], int_at_least(1))},
        check=check_cfd,
    )


SPECS = {f"compressible_ns{d}d": _spec(d) for d in (1, 2, 3)}
