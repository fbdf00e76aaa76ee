"""2D FitzHugh-Nagumo diffusion-reaction, PDEBench's `2D_diff-react` task at small size.

    u_t = Du Lap u + u - u^3 - k - v
    v_t = Dv Lap v + u - v

on [-1, 1]^2 with no-flux (Neumann) boundaries; Du = 1e-3, Dv = 5e-3, k = 5e-3 by default.
Finite volume on a cell-centred grid: the Laplacian is the divergence of face fluxes with zero
flux through the walls, so with the reactions off sum(u) changes only by round-off. Explicit
SSP-RK2 in time, the step bounded by the diffusion and reaction stability limits and by an
accuracy cap. The solution is computed on a grid `refine` times finer than the written one and
written as cell averages: the u - u^3 fronts are ~sqrt(2 Du) = 0.045 wide, under one cell at 32^2.

Deliberate deviation from PDEBench: PDEBench draws the initial state as N(0, 1) independently per
cell. At 32 x 32 such noise is pure grid-scale content that no solver (or surrogate) resolves and
that depends on the grid, so instead each channel starts from a band-limited Gaussian random field
(integer Fourier modes |k| <= `ic_modes` on the periodic extension of the square, flat spectrum,
unit pointwise standard deviation; see `initial.gaussian_random_field_2d`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ups.data.simulate.advection import cell_centres, march
from ups.data.simulate.initial import gaussian_random_field_2d
from ups.data.simulate.layouts import write_group_file
from ups.data.simulate.options import (
    COMMON,
    SimulatorSpec,
    fail,
    int_at_least,
    nonnegative_real,
    real,
)

DEFAULTS = {"du": 1e-3, "dv": 5e-3, "k": 5e-3}
REFINE = 2  # simulation grid / written grid, per axis
MAX_DT = 0.05  # accuracy cap on the step; at 64^2 the stability limit (~0.035) binds first


def neumann_laplacian(w: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Cell-centred 5-point Laplacian with zero flux through the walls: (..., Y, X) -> same."""
    out = np.zeros_like(w)
    fx = np.diff(w, axis=-1) / (dx * dx)  # flux-like differences at interior x faces: (..., Y, X-1)
    out[..., :-1] += fx
    out[..., 1:] -= fx
    fy = np.diff(w, axis=-2) / (dy * dy)  # interior y faces: (..., Y-1, X)
    out[..., :-1, :] += fy
    out[..., 1:, :] -= fy
    return out


def fhn_rhs(w: np.ndarray, dx: float, dy: float, du: float, dv: float, k: float,
            reactions: bool = True) -> np.ndarray:
    """d/dt of the state w (N, 2, Y, X), channels (u, v)."""
    diff = np.array([du, dv])[:, None, None]  # per-channel diffusivity, broadcast over (Y, X)
    rate = diff * neumann_laplacian(w, dx, dy)
    if reactions:
        u, v = w[:, 0], w[:, 1]
        rate[:, 0] += u - u**3 - k - v
        rate[:, 1] += u - v
    return rate


def stable_dt(w: np.ndarray, dx: float, dy: float, du: float, dv: float, reactions: bool,
              max_dt: float, safety: float = 0.8) -> float:
    """Step within the real-axis stability interval [-2, 0] of RK2 for the stiffest mode.

    The discrete Laplacian's most negative eigenvalue is -4 (1/dx^2 + 1/dy^2); the reaction's
    Jacobian is bounded by 3 max(u^2) + 1 (from d(u - u^3)/du and the coupling).
    """
    stiff = 4.0 * max(du, dv) * (1.0 / dx**2 + 1.0 / dy**2)
    if reactions:
        stiff += 3.0 * float(np.max(w[:, 0] ** 2)) + 1.0
    return min(max_dt, safety * 2.0 / stiff) if stiff > 0.0 else max_dt


def block_average(w: np.ndarray, factor: int) -> np.ndarray:
    """Average factor x factor blocks over the last two axes: (..., Y, X) -> (..., Y/f, X/f)."""
    if factor == 1:
        return w.copy()
    *lead, ny, nx = w.shape
    blocks = w.reshape(*lead, ny // factor, factor, nx // factor, factor)
    return blocks.mean(axis=(-3, -1))


def solve_fhn(
    w0: np.ndarray,
    dx: float,
    dy: float,
    times: np.ndarray,
    *,
    du: float = DEFAULTS["du"],
    dv: float = DEFAULTS["dv"],
    k: float = DEFAULTS["k"],
    reactions: bool = True,
    average: int = 1,
    max_dt: float = MAX_DT,
    progress: bool = True,
) -> np.ndarray:
    """Evolve w0 (N, 2, Y, X) on cells of size dx x dy; returns (N, T, 2, Y/a, X/a).

    `reactions=False` solves the pure diffusion part; `average` writes factor x factor block
    averages of every saved frame (the cell averages of a coarser grid).
    """
    return march(
        w0,
        lambda w: fhn_rhs(w, dx, dy, du, dv, k, reactions),
        times,
        lambda w: stable_dt(w, dx, dy, du, dv, reactions, max_dt),
        observe=lambda w: block_average(w, average),
        desc="diffusion-reaction",
        progress=progress,
    )


def simulate_reaction_diffusion2d(opts: Mapping[str, Any], out_dir: Path,
                                  seed: int) -> list[Path]:
    """Write `2D_diff-react_NA_NA.h5`: groups of (T, Y, X, 2) samples on an nx x nx grid.

    opts: validated options {n_traj, nx, nt, t_end, ic_modes} and optionally du, dv, k.
    """
    nx, n = int(opts["nx"]), int(opts["n_traj"])
    params = {key: float(opts.get(key, value)) for key, value in DEFAULTS.items()}
    x = cell_centres(nx, -1.0, 1.0)  # written grid; y is the same
    fine = cell_centres(nx * REFINE, -1.0, 1.0)
    h = 2.0 / (nx * REFINE)
    times = np.linspace(0.0, float(opts["t_end"]), int(opts["nt"]))
    rng = np.random.default_rng(seed)
    # Both channels at once: (N * 2, Y, X) -> (N, 2, Y, X), channel u of sample i first.
    w0 = gaussian_random_field_2d(rng, 2 * n, fine, fine, int(opts["ic_modes"]))
    w0 = w0.reshape(n, 2, len(fine), len(fine))
    w = solve_fhn(w0, h, h, times, average=REFINE, **params)  # (N, T, 2, Y, X)
    samples = (np.moveaxis(w[i], 1, -1) for i in range(n))  # (T, 2, Y, X) -> (T, Y, X, 2)
    path = Path(out_dir) / "2D_diff-react_NA_NA.h5"
    return [write_group_file(path, samples, {"x": x, "y": x, "t": times})]


def _check_modes(task: str, opts: dict[str, Any]) -> None:
    # Modes |k| <= ic_modes on the periodic extension must sit below the grid's Nyquist.
    if 2 * opts["ic_modes"] >= opts["nx"]:
        fail(task, "ic_modes", opts["ic_modes"],
             f"an integer < nx/2 = {opts['nx'] / 2:g} so the grid resolves every mode")


SPECS = {
    "reaction_diffusion2d": SimulatorSpec(
        simulate_reaction_diffusion2d,
        {**COMMON, "ic_modes": int_at_least(1)},
        {"du": (DEFAULTS["du"], nonnegative_real), "dv": (DEFAULTS["dv"], nonnegative_real),
         "k": (DEFAULTS["k"], real)},
        check=_check_modes,
    ),
}
