"""1D Fisher-KPP reaction-diffusion u_t = nu u_xx + rho u (1 - u) on x in (0, 1), periodic.

PDEBench's `1D ReacDiff` task. Strang splitting, every step being
    logistic(dt/2) -> diffusion(dt) -> logistic(dt/2),
with both sub-problems solved exactly:

* diffusion: the finite-volume semi-discretisation du_i/dt = nu (u_{i+1} - 2 u_i + u_{i-1}) / dx^2
  is integrated exactly in time. Its periodic (circulant) matrix is diagonalised by the DFT with
  eigenvalues -4 nu sin^2(pi k / X) / dx^2, so a step multiplies Fourier coefficient k by the
  exponential of that times dt. An explicit scheme would need ~1e5 steps for PDEBench's nu = 5 at
  dx = 1/128; this step is unconditionally stable. The exponential of a matrix with nonnegative
  off-diagonals and zero row sums is a nonnegative averaging operator, so the step keeps every
  value inside the previous [min, max] (up to FFT round-off, clipped) and conserves sum(u).
* reaction: the exact logistic solution u / (u + (1 - u) exp(-rho dt)), which maps [0, 1] into
  itself for any step (PDEBench's "piecewise exact solution").

The only time error is the splitting error, second order in dt. Initial states are PDEBench's
sine sums (`initial.sine_sum_1d`) rescaled to [0, 1] per sample; every (nu, rho) file starts from
the same states.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from ups.data.simulate.advection import cell_centres, march_steps, save_times
from ups.data.simulate.initial import sine_sum_1d
from ups.data.simulate.layouts import write_tensor_file
from ups.data.simulate.options import COMMON, SimulatorSpec, positive_real, real_list

MAX_DT = 1e-3  # default splitting step: rho dt <= 0.01 for PDEBench's largest rho = 10


# ---- the two exact sub-steps -------------------------------------------------------------------


def logistic_step(u: np.ndarray, rho: float, dt: float) -> np.ndarray:
    """Exact solution of u' = rho u (1 - u) after time dt, elementwise.

    Written as u / (u + (1 - u) e^{-rho dt}): for u in [0, 1] the denominator lies in
    [e^{-rho dt}, 1], so nothing overflows however stiff rho dt is.
    """
    return u / (u + (1.0 - u) * math.exp(-rho * dt))


def laplacian_eigenvalues(nx: int, dx: float) -> np.ndarray:
    """Eigenvalues of the periodic 3-point FV Laplacian for the rfft wavenumbers: (nx//2 + 1,)."""
    k = np.arange(nx // 2 + 1)
    return -4.0 * np.sin(np.pi * k / nx) ** 2 / dx**2


def diffusion_step(u: np.ndarray, nu: float, dx: float, dt: float) -> np.ndarray:
    """exp(dt nu L_h) u for the periodic FV Laplacian L_h along the last axis: (..., X) -> same."""
    factor = np.exp(nu * dt * laplacian_eigenvalues(u.shape[-1], dx))  # (X//2 + 1,)
    return np.fft.irfft(np.fft.rfft(u, axis=-1) * factor, n=u.shape[-1], axis=-1)


def strang_step(u: np.ndarray, nu: float, rho: float, dx: float, dt: float) -> np.ndarray:
    """One Strang step: half reaction, full diffusion, half reaction; (N, X) -> (N, X)."""
    u = logistic_step(u, rho, 0.5 * dt)
    # The exact diffusion operator maps [0, 1] into itself; the clip removes only FFT round-off
    # (~1e-16), which the logistic flow would otherwise amplify: u < 0 runs away from 0.
    u = np.clip(diffusion_step(u, nu, dx, dt), 0.0, 1.0)
    return logistic_step(u, rho, 0.5 * dt)


def solve_fisher_kpp(
    u0: np.ndarray,
    nu: float,
    rho: float,
    dx: float,
    times: np.ndarray,
    *,
    max_dt: float = MAX_DT,
    progress: bool = True,
) -> np.ndarray:
    """Evolve periodic cell averages u0 (N, X) on cells of width dx; returns (N, T, X).

    The domain length is X dx, so a front-speed check can use a long domain with the same code.
    """
    frames = march_steps(
        np.asarray(u0, dtype=np.float64), lambda u, dt: strang_step(u, nu, rho, dx, dt), times,
        lambda u: max_dt, observe=lambda u: u.copy(), desc=f"fisher-kpp nu={nu:g} rho={rho:g}",
        progress=progress)
    return np.stack(frames, axis=1)  # T x (N, X) -> (N, T, X)


# ---- files -------------------------------------------------------------------------------------


def unit_rescaled_sines(rng: np.random.Generator, n: int, x: np.ndarray) -> np.ndarray:
    """PDEBench's initial states: sine sums mapped affinely onto [0, 1] per sample: (n, X)."""
    u = sine_sum_1d(rng, n, x)  # (n, X)
    low = u.min(axis=1, keepdims=True)
    span = np.maximum(u.max(axis=1, keepdims=True) - low, np.finfo(float).tiny)
    return (u - low) / span


def simulate_reaction_diffusion1d(opts: Mapping[str, Any], out_dir: Path,
                                  seed: int) -> list[Path]:
    """Write one `ReacDiff_Nu{nu}_Rho{rho}.hdf5` per (nu, rho) in the product of the two lists.

    Every file starts from the same initial states (as PDEBench's parameter files do) and holds
    root attrs `Nu` and `rho` (float64).
    """
    nx = int(opts["nx"])
    x = cell_centres(nx)
    times, t_coord = save_times(int(opts["nt"]), float(opts["t_end"]))
    u0 = unit_rescaled_sines(np.random.default_rng(seed), int(opts["n_traj"]), x)  # (N, X)
    paths = []
    for nu, rho in product(opts["nu"], opts["rho"]):
        u = solve_fisher_kpp(u0, nu, rho, 1.0 / nx, times, max_dt=float(opts["dt"]))
        path = Path(out_dir) / f"ReacDiff_Nu{nu}_Rho{rho}.hdf5"
        paths.append(write_tensor_file(path, u, x, t_coord, {"Nu": nu, "rho": rho}))
    return paths


SPECS = {
    "reaction_diffusion1d": SimulatorSpec(
        simulate_reaction_diffusion1d,
        {**COMMON, "nu": real_list(0.0, "diffusion coefficients"),
         "rho": real_list(0.0, "logistic growth rates")},
        {"dt": (MAX_DT, positive_real)},
    ),
}
