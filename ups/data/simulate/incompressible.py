"""2D forced incompressible Navier-Stokes with a passive density, PDEBench's `NS_incom` task.

    u_t + (u . grad) u = -grad p + nu Lap u + f,   div u = 0
    rho_t + div(u rho) = kappa Lap rho

on the periodic unit square, nu = 0.01 as in PDEBench; `rho` is the passively advected density
PDEBench calls "particles". Solved in vorticity form, w = v_x - u_y:

    w_t + div(u w) = nu Lap w + curl f,   u = (psi_y, -psi_x),   -Lap psi = w,

which removes the pressure and keeps the velocity divergence-free to round-off: the velocity is
rebuilt spectrally from the stream function at every stage. Pseudo-spectral in space (rfft2 on
the cell centres of an nx x nx grid, axis order [x, y]), the quadratic products dealiased by the
2/3 rule. In time a Lawson (integrating-factor) RK4 on the deviation from the linear steady
state (diffusion balancing the constant forcing): diffusion and forcing are integrated exactly,
the advection explicitly at a CFL-limited step. Both advection terms are written in divergence
form, so the mean of the density is conserved to round-off.

Random data per trajectory (band-limited fields of integer Fourier modes |k| <= `modes` of
the unit square, see `initial.band_limited_modes`): the initial velocity comes from a random
stream function scaled to rms speed `u_rms`; the initial density is 0.5 (1 + tanh g) of a
unit-variance random field g, in (0, 1) up to a small overshoot from the 2/3-rule truncation;
the forcing is a smooth random vector field, constant in time, each component an independent
random field of rms `force_rms` -- not divergence-free, like PDEBench's noise forcing; its
gradient part is balanced by the pressure and only its curl drives the flow. Every field has
zero mean, so the mean velocity stays zero (the vorticity form carries none).

File names keep the released `512` token (`ns_incom_inhom_2d_512-{k}.h5`, 4 trajectories per
file) although the grid here is nx x nx: the task's file patterns match the released names.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import fft
from tqdm import tqdm

from ups.data.simulate.advection import cell_centres, save_times
from ups.data.simulate.initial import gaussian_random_field_2d
from ups.data.simulate.layouts import write_ns_file
from ups.data.simulate.options import (
    COMMON,
    SimulatorSpec,
    fail,
    int_at_least,
    nonnegative_real,
    positive_real,
)

PER_FILE = 4  # trajectories per file, as released
DEFAULTS = {"nu": 0.01, "kappa": 0.01, "cfl": 0.7, "modes": 4, "u_rms": 1.0, "force_rms": 1.0}
# Lawson-RK4 is stable for advective eigenvalues |lambda dt| <= 2.8 (imaginary axis). The
# dealiased spectral advection has |lambda| <= (2 pi / 3) nx (|u| + |v|), so with
# dt = cfl dx / max(|u| + |v|) stability needs cfl <= 2.8 / (2 pi / 3) = 1.34; 1.0 keeps a margin.
MAX_CFL = 1.0


# ---- spectral grid -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SpectralGrid:
    """Angular wave numbers of an n x n periodic unit square for rfft2 over axes (x, y)."""

    n: int
    kx: np.ndarray  # (n, 1): along x, the full fft axis
    ky: np.ndarray  # (1, n//2 + 1): along y, the halved rfft axis
    k2: np.ndarray  # (n, n//2 + 1): |k|^2
    inv_k2: np.ndarray  # 1 / |k|^2, 0 for the mean mode (the stream function has no mean)
    keep: np.ndarray  # 2/3-rule mask: integer modes |kx|, |ky| < n / 3


def spectral_grid(n: int) -> SpectralGrid:
    mx = np.fft.fftfreq(n, 1.0 / n)[:, None]  # integer modes along x
    my = np.fft.rfftfreq(n, 1.0 / n)[None, :]
    kx, ky = 2.0 * np.pi * mx, 2.0 * np.pi * my
    k2 = kx**2 + ky**2
    inv_k2 = np.divide(1.0, k2, out=np.zeros_like(k2), where=k2 > 0)
    # A product of two modes below n/3 lands below 2n/3 and aliases to >= n/3: outside the mask.
    keep = (np.abs(mx) < n / 3.0) & (np.abs(my) < n / 3.0)
    return SpectralGrid(n, kx, ky, k2, inv_k2, keep)


def to_spectral(q: np.ndarray) -> np.ndarray:
    """Real fields (..., X, Y) -> rfft2 coefficients (..., X, Y//2+1)."""
    return fft.rfft2(q, axes=(-2, -1))


def to_physical(q_hat: np.ndarray, n: int) -> np.ndarray:
    """rfft2 coefficients (..., X, Y//2+1) -> real fields (..., X, Y)."""
    return fft.irfft2(q_hat, s=(n, n), axes=(-2, -1))


def velocity_from_vorticity(w_hat: np.ndarray, grid: SpectralGrid) -> np.ndarray:
    """Divergence-free velocity of vorticity w_hat (N, X, Yh): (N, 2, X, Y), components (u, v).

    psi = w / |k|^2 solves -Lap psi = w; u = psi_y and v = -psi_x then have curl w and no
    divergence, mode by mode.
    """
    psi = w_hat * grid.inv_k2
    uv_hat = np.stack([1j * grid.ky * psi, -1j * grid.kx * psi], axis=1)  # (N, 2, X, Yh)
    return to_physical(uv_hat, grid.n)


def curl_hat(vec: np.ndarray, grid: SpectralGrid) -> np.ndarray:
    """Spectral curl v_x - u_y of vector fields (N, X, Y, 2): (N, X, Yh)."""
    u_hat, v_hat = to_spectral(vec[..., 0]), to_spectral(vec[..., 1])
    return 1j * grid.kx * v_hat - 1j * grid.ky * u_hat


def divergence(vec: np.ndarray, grid: SpectralGrid) -> np.ndarray:
    """Spectral divergence u_x + v_y of vector fields (N, X, Y, 2): (N, X, Y)."""
    u_hat, v_hat = to_spectral(vec[..., 0]), to_spectral(vec[..., 1])
    return to_physical(1j * grid.kx * u_hat + 1j * grid.ky * v_hat, grid.n)


# ---- time stepping -----------------------------------------------------------------------------


def advection_hat(q: np.ndarray, vel: np.ndarray, grid: SpectralGrid) -> np.ndarray:
    """-div(u q) of scalars q (N, S, X, Y) carried by vel (N, 2, X, Y), dealiased: (N, S, X, Yh).

    The divergence form has no mean mode, so the mean of every scalar is conserved exactly.
    """
    flux_x = to_spectral(vel[:, None, 0] * q)  # (N, S, X, Yh)
    flux_y = to_spectral(vel[:, None, 1] * q)
    return -(1j * grid.kx * flux_x + 1j * grid.ky * flux_y) * grid.keep


@dataclass(frozen=True)
class Problem:
    """Everything the right-hand side needs besides the state.

    The stepped state is the deviation from `offset`, the steady state of the linear part
    (diffusion + constant forcing), so the integrating factor solves diffusion and forcing
    exactly together; only forcing of modes without diffusion (nu = 0, or the mean) stays in the
    explicit `source`.
    """

    grid: SpectralGrid
    diffusivity: np.ndarray  # (S,) per scalar: nu for the vorticity, kappa for the density
    offset: np.ndarray  # (N, S, X, Yh): source / (diffusivity |k|^2) where that is > 0
    source: np.ndarray  # (N, S, X, Yh): the rest of the source, treated explicitly


def make_problem(grid: SpectralGrid, diffusivity: np.ndarray, source: np.ndarray) -> Problem:
    """Split the constant source (N, S, X, Yh) into the linear steady state and the rest."""
    rate = diffusivity[:, None, None] * grid.k2  # (S, X, Yh)
    damped = np.broadcast_to(rate > 0.0, source.shape)
    offset = np.divide(source, rate, out=np.zeros_like(source), where=damped)
    return Problem(grid, diffusivity, offset, np.where(damped, 0.0, source))


def nonlinear(state: np.ndarray, prob: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Explicit part of d/dt of the deviation `state` (N, S, X, Yh), S = (vorticity, density),
    and the velocity (N, 2, X, Y) it was computed with."""
    full = state + prob.offset
    vel = velocity_from_vorticity(full[:, 0], prob.grid)
    q = to_physical(full, prob.grid.n)  # (N, S, X, Y)
    return advection_hat(q, vel, prob.grid) + prob.source, vel


def stable_dt(vel: np.ndarray, dx: float, cfl: float) -> float:
    """dt = cfl dx / max(|u| + |v|): the step MAX_CFL's bound refers to."""
    speed = float(np.max(np.abs(vel[:, 0]) + np.abs(vel[:, 1])))
    return cfl * dx / speed if speed > 0.0 else math.inf


def lawson_rk4_step(state: np.ndarray, first: np.ndarray, dt: float, prob: Problem) -> np.ndarray:
    """One integrating-factor RK4 step: diffusion exact, the rest classical RK4.

    `first` is nonlinear(state) (already computed to choose dt).
    """
    half = np.exp(-prob.diffusivity[:, None, None] * prob.grid.k2 * (0.5 * dt))  # (S, X, Yh)
    full = half * half
    b = nonlinear(half * (state + 0.5 * dt * first), prob)[0]
    c = nonlinear(half * state + 0.5 * dt * b, prob)[0]
    d = nonlinear(full * state + dt * half * c, prob)[0]
    return full * state + dt / 6.0 * (full * first + 2.0 * half * (b + c) + d)


def density(state: np.ndarray, prob: Problem) -> np.ndarray:
    """The density (N, X, Y) of the deviation `state`."""
    return to_physical(state[:, 1] + prob.offset[:, 1], prob.grid.n)


def integrate(state0: np.ndarray, prob: Problem, times: np.ndarray, cfl: float, *,
              progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """March state0 (N, S, X, Yh) through `times`; returns the velocity (N, T, X, Y, 2) and the
    density (N, T, X, Y) at every time.

    Each interval between two save times is cut into equal steps within the CFL step of the
    state at its start, re-evaluated every step, so the frames land exactly on the save times.
    """
    grid, dx = prob.grid, 1.0 / prob.grid.n
    state = state0 * grid.keep - prob.offset
    first, vel = nonlinear(state, prob)
    vels, dens = [vel], [density(state, prob)]
    bar = tqdm(total=float(times[-1] - times[0]), desc="navier-stokes", file=sys.stderr,
               disable=None if progress else True, mininterval=0.5, leave=False,
               bar_format="{l_bar}{bar}| t={n:.3g}/{total:.3g}")
    t = float(times[0])
    for target in (float(s) for s in times[1:]):
        while t < target:
            remaining = target - t
            dt = remaining / max(1, math.ceil(remaining / stable_dt(vel, dx, cfl) - 1e-9))
            state = lawson_rk4_step(state, first, dt, prob)
            first, vel = nonlinear(state, prob)
            t = target if target - t - dt <= 1e-12 * max(1.0, target) else t + dt
            bar.update(dt)
        if not np.isfinite(state).all():
            bar.close()
            raise FloatingPointError(f"navier-stokes: the solution blew up before t={target:g}")
        vels.append(vel)
        dens.append(density(state, prob))
    bar.close()
    velocity = np.moveaxis(np.stack(vels, axis=1), 2, -1)  # T x (N, 2, X, Y) -> (N, T, X, Y, 2)
    return velocity, np.stack(dens, axis=1)  # (N, T, X, Y, 2), (N, T, X, Y)


def solve_ns(velocity0: np.ndarray, density0: np.ndarray, force: np.ndarray, times: np.ndarray,
             *, nu: float = DEFAULTS["nu"], kappa: float = DEFAULTS["kappa"],
             cfl: float = DEFAULTS["cfl"], progress: bool = True,
             ) -> tuple[np.ndarray, np.ndarray]:
    """Evolve velocity0 (N, X, Y, 2) (its divergence-free, zero-mean part) and density0
    (N, X, Y) under the constant force (N, X, Y, 2) on the periodic unit square.

    Returns the velocity (N, T, X, Y, 2) and the density (N, T, X, Y) at `times`.
    """
    n = velocity0.shape[1]
    grid = spectral_grid(n)
    state0 = np.stack([curl_hat(velocity0, grid), to_spectral(density0)], axis=1)
    source = np.stack([curl_hat(force, grid), np.zeros_like(state0[:, 1])], axis=1) * grid.keep
    prob = make_problem(grid, np.array([nu, kappa]), source)
    return integrate(state0, prob, times, cfl, progress=progress)


# ---- random data -------------------------------------------------------------------------------


def random_fields(rng: np.random.Generator, n: int, nx: int, modes: int,
                  count: int) -> np.ndarray:
    """`count` unit-variance random fields per trajectory on the cell centres: (n, count, X, Y)."""
    x = cell_centres(nx)
    g = gaussian_random_field_2d(rng, n * count, x, x, modes, length=1.0)  # (n*count, Y, X)
    return np.swapaxes(g, -1, -2).reshape(n, count, nx, nx)  # -> [x, y] axis order


def random_initial_state(rng: np.random.Generator, n: int, nx: int, modes: int,
                         u_rms: float) -> tuple[np.ndarray, np.ndarray]:
    """Divergence-free velocity of rms speed u_rms (n, X, Y, 2) and density in (0, 1) (n, X, Y)."""
    grid = spectral_grid(nx)
    psi, g = np.moveaxis(random_fields(rng, n, nx, modes, 2), 1, 0)  # (n, X, Y) each
    vel = velocity_from_vorticity(to_spectral(psi) * grid.k2, grid)  # (n, 2, X, Y)
    rms = np.sqrt(np.mean(np.sum(vel**2, axis=1), axis=(-2, -1)))  # (n,)
    vel *= (u_rms / rms)[:, None, None, None]
    return np.moveaxis(vel, 1, -1), 0.5 * (1.0 + np.tanh(g))


def random_force(rng: np.random.Generator, n: int, nx: int, modes: int,
                 force_rms: float) -> np.ndarray:
    """Smooth random forcing, each component rms force_rms: (n, X, Y, 2)."""
    return force_rms * np.moveaxis(random_fields(rng, n, nx, modes, 2), 1, -1)


# ---- files -------------------------------------------------------------------------------------


def ns_config(opts: Mapping[str, Any], seed: int) -> str:
    """The YAML `config` attribute: the PDE constants and how the data were made."""
    return yaml.safe_dump({
        "equation": "forced incompressible Navier-Stokes + passive density, periodic [0,1]^2",
        "nu": float(opts["nu"]), "kappa": float(opts["kappa"]),
        "nx": int(opts["nx"]), "nt": int(opts["nt"]), "t_end": float(opts["t_end"]),
        "cfl": float(opts["cfl"]), "modes": int(opts["modes"]), "u_rms": float(opts["u_rms"]),
        "force_rms": float(opts["force_rms"]), "seed": int(seed),
        "scheme": "vorticity pseudo-spectral, 2/3 dealiasing, Lawson RK4",
    }, sort_keys=True)


def simulate_navier_stokes2d(opts: Mapping[str, Any], out_dir: Path, seed: int) -> list[Path]:
    """Write `ns_incom_inhom_2d_512-{k}.h5`, 4 trajectories each (options validated)."""
    n, nx, modes = int(opts["n_traj"]), int(opts["nx"]), int(opts["modes"])
    times, _ = save_times(int(opts["nt"]), float(opts["t_end"]))
    rng = np.random.default_rng(seed)
    vel0, rho0 = random_initial_state(rng, n, nx, modes, float(opts["u_rms"]))
    force = random_force(rng, n, nx, modes, float(opts["force_rms"]))
    vel, rho = solve_ns(vel0, rho0, force, times, nu=float(opts["nu"]),
                        kappa=float(opts["kappa"]), cfl=float(opts["cfl"]))
    config = ns_config(opts, seed)
    paths = []
    for k, lo in enumerate(range(0, n, PER_FILE)):
        part = slice(lo, lo + PER_FILE)
        t = np.broadcast_to(times, (PER_FILE, len(times)))  # (4, T): one time axis per sample
        path = Path(out_dir) / f"ns_incom_inhom_2d_512-{k}.h5"
        paths.append(write_ns_file(path, vel[part], rho[part, ..., None], force[part], t, config))
    return paths


def _check(task: str, opts: dict[str, Any]) -> None:
    if opts["n_traj"] % PER_FILE:
        fail(task, "n_traj", opts["n_traj"], f"a multiple of {PER_FILE} (trajectories per file)")
    if opts["cfl"] > MAX_CFL:
        fail(task, "cfl", opts["cfl"], f"a number <= {MAX_CFL:g} (the RK4 stability limit with "
             "a margin)")
    if 3 * opts["modes"] >= opts["nx"]:
        fail(task, "modes", opts["modes"],
             f"an integer < nx/3 = {opts['nx'] / 3:g} so the dealiased grid resolves every mode")


SPECS = {
    "navier_stokes2d": SimulatorSpec(
        simulate_navier_stokes2d,
        dict(COMMON),
        {"nu": (DEFAULTS["nu"], nonnegative_real), "kappa": (DEFAULTS["kappa"], nonnegative_real),
         "cfl": (DEFAULTS["cfl"], positive_real), "modes": (DEFAULTS["modes"], int_at_least(1)),
         "u_rms": (DEFAULTS["u_rms"], positive_real),
         "force_rms": (DEFAULTS["force_rms"], nonnegative_real)},
        check=_check,
    ),
}
