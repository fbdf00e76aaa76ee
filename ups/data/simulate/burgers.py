"""1D viscous Burgers u_t + (u^2/2)_x = (nu/pi) u_xx on x in (0, 1), periodic.

Conservative finite volume: MUSCL reconstruction with the Rusanov (local Lax-Friedrichs) flux for
the convective part and a central difference for the viscous flux, both written as one flux per
face so that the total sum(u) dx changes only by round-off. SSP-RK2 in time, with the step limited
by both the convective CFL condition and the explicit diffusion limit. As in PDEBench, the file's
`Nu` attribute is nu and the viscosity is nu / pi.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ups.data.simulate.advection import march, muscl_faces, simulate_parameter_files
from ups.data.simulate.options import COMMON, SimulatorSpec, real_list


def burgers_rhs(u: np.ndarray, visc: float, dx: float, limiter: str = "vanleer") -> np.ndarray:
    """du/dt of periodic cell averages u (N, X) for viscosity `visc` (already divided by pi)."""
    u_left, u_right = muscl_faces(u, limiter)  # states at faces i+1/2: (N, X) each
    speed = np.maximum(np.abs(u_left), np.abs(u_right))  # local bound on |f'(u)| = |u|
    flux = 0.25 * (u_left**2 + u_right**2) - 0.5 * speed * (u_right - u_left)
    # Viscous flux -visc u_x at the same faces; folding it into one flux keeps the scheme
    # exactly conservative.
    flux -= visc * (np.roll(u, -1, axis=-1) - u) / dx
    return -(flux - np.roll(flux, 1, axis=-1)) / dx


def stable_dt(u: np.ndarray, visc: float, dx: float, cfl: float = 0.4,
              cfl_diff: float = 0.8) -> float:
    """Largest step with max|u| dt/(cfl dx) + 2 visc dt/(cfl_diff dx^2) <= 1.

    Each term alone is the scheme's limit for its part (MUSCL-TVD needs CFL <= 1/2, explicit
    diffusion 2 visc dt / dx^2 <= 1); adding them keeps the combined update a convex
    combination, i.e. stable whatever the cell Reynolds number.
    """
    rate = float(np.max(np.abs(u))) / (cfl * dx) + 2.0 * visc / (cfl_diff * dx * dx)
    return 1.0 / rate if rate > 0.0 else np.inf


def solve_burgers(
    u0: np.ndarray,
    nu: float,
    dx: float,
    times: np.ndarray,
    *,
    limiter: str = "vanleer",
    progress: bool = True,
) -> np.ndarray:
    """Evolve periodic cell averages u0 (N, X) with PDEBench's nu (viscosity nu/pi): (N, T, X)."""
    visc = nu / np.pi
    return march(u0, lambda u: burgers_rhs(u, visc, dx, limiter), times,
                 lambda u: stable_dt(u, visc, dx), desc=f"burgers nu={nu:g}", progress=progress)


def simulate_burgers1d(opts: Mapping[str, Any], out_dir: Path, seed: int) -> list[Path]:
    """Write one `1D_Burgers_Sols_Nu{nu}.hdf5` per nu (options validated by the caller)."""
    return simulate_parameter_files(opts, out_dir, seed, values=opts["nu"], attr="Nu",
                                    name="1D_Burgers_Sols_Nu{}.hdf5", solve=solve_burgers)


SPECS = {
    "burgers1d": SimulatorSpec(
        simulate_burgers1d, {**COMMON, "nu": real_list(0.0, "PDEBench's nu; viscosity nu/pi")}),
}
