"""1D linear advection u_t + beta u_x = 0 on x in (0, 1), periodic.

Second-order MUSCL finite volume (limited linear reconstruction, upwind flux) with SSP-RK2 time
stepping at a CFL-limited internal step. The generic pieces -- the limited reconstruction and the
time loop that lands exactly on the requested save times -- live here and are reused by the
Burgers and FitzHugh-Nagumo solvers.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from tqdm import tqdm

from ups.data.simulate.initial import sine_sum_1d
from ups.data.simulate.layouts import write_tensor_file
from ups.data.simulate.options import COMMON, SimulatorSpec, real_list

Rhs = Callable[[np.ndarray], np.ndarray]
State = TypeVar("State")


# ---- limited reconstruction ------------------------------------------------------------------


def minmod(dm: np.ndarray, dp: np.ndarray) -> np.ndarray:
    """Minmod slope: the smaller one-sided difference, 0 at extrema."""
    return np.where(dm * dp > 0.0, np.sign(dm) * np.minimum(np.abs(dm), np.abs(dp)), 0.0)


def van_leer(dm: np.ndarray, dp: np.ndarray) -> np.ndarray:
    """Van Leer slope: harmonic mean of the one-sided differences, 0 at extrema."""
    prod = dm * dp
    pos = prod > 0.0
    # Where prod <= 0 the denominator may vanish; those entries are discarded anyway.
    return np.where(pos, 2.0 * prod / np.where(pos, dm + dp, 1.0), 0.0)


LIMITERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "minmod": minmod,
    "vanleer": van_leer,
}


def muscl_faces(u: np.ndarray, limiter: str = "vanleer") -> tuple[np.ndarray, np.ndarray]:
    """Left and right states at faces i+1/2 of periodic cell averages u (..., X).

    Returns (uL, uR), each (..., X): uL[i] comes from cell i, uR[i] from cell i+1.
    """
    dm = u - np.roll(u, 1, axis=-1)  # u_i - u_{i-1}
    dp = np.roll(dm, -1, axis=-1)  # u_{i+1} - u_i
    half = 0.5 * LIMITERS[limiter](dm, dp)
    return u + half, np.roll(u - half, -1, axis=-1)


# ---- time loop ---------------------------------------------------------------------------------


def ssp_rk2_step(u: np.ndarray, rhs: Rhs, dt: float) -> np.ndarray:
    """One step of Heun's method in SSP form: TVD whenever forward Euler is, at the same dt."""
    u1 = u + dt * rhs(u)
    return 0.5 * (u + u1 + dt * rhs(u1))


def march_steps(
    state: State,
    step: Callable[[State, float], State],
    times: np.ndarray,
    max_dt: Callable[[State], float],
    *,
    observe: Callable[[State], Any],
    desc: str = "simulate",
    progress: bool = True,
) -> list[Any]:
    """Advance `state` with the one-step method `step(state, dt)` from times[0], returning
    observe(state) at every save time (the first one included).

    Each interval between two save times is cut into equal steps no longer than max_dt(state),
    re-evaluated every step, so the solution lands exactly on the save times without a sliver
    step. An array state that stops being finite raises, naming the save time.
    """
    frames = [observe(state)]
    bar = tqdm(total=float(times[-1] - times[0]), desc=desc, file=sys.stderr,
               disable=None if progress else True, mininterval=0.5, leave=False,
               bar_format="{l_bar}{bar}| t={n:.3g}/{total:.3g}")
    t = float(times[0])
    for target in (float(s) for s in times[1:]):
        while t < target:
            remaining = target - t
            n_steps = max(1, math.ceil(remaining / max_dt(state) - 1e-9))
            dt = remaining / n_steps
            state = step(state, dt)
            t += dt
            if target - t <= 1e-12 * max(1.0, abs(target)):
                t = target  # absorb round-off instead of taking a sliver step
            bar.update(dt)
        if isinstance(state, np.ndarray) and not np.isfinite(state).all():
            bar.close()
            raise FloatingPointError(f"{desc}: the solution blew up before t={target:g}")
        frames.append(observe(state))
    bar.close()
    return frames


def march(
    u0: np.ndarray,
    rhs: Rhs,
    times: np.ndarray,
    max_dt: Callable[[np.ndarray], float],
    *,
    observe: Callable[[np.ndarray], np.ndarray] | None = None,
    desc: str = "simulate",
    progress: bool = True,
) -> np.ndarray:
    """Integrate u' = rhs(u) from times[0] with SSP-RK2, saving observe(u) at every time.

    u0: (N, ...) the whole batch of trajectories, stepped together; max_dt(u) the stable step.
    Returns (N, T, ...).
    """
    frames = march_steps(np.asarray(u0, dtype=np.float64).copy(),
                         lambda u, dt: ssp_rk2_step(u, rhs, dt), times, max_dt,
                         observe=observe or (lambda v: v.copy()), desc=desc, progress=progress)
    return np.stack(frames, axis=1)  # T x (N, ...) -> (N, T, ...)


# ---- advection ---------------------------------------------------------------------------------


def cell_centres(n: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """Centres of n equal cells on (lo, hi): (n,)."""
    return lo + (np.arange(n) + 0.5) * (hi - lo) / n


def advection_rhs(u: np.ndarray, beta: float, dx: float, limiter: str = "vanleer") -> np.ndarray:
    """-(F_{i+1/2} - F_{i-1/2}) / dx with the upwind flux of the reconstructed states; (N, X)."""
    u_left, u_right = muscl_faces(u, limiter)
    flux = beta * (u_left if beta >= 0.0 else u_right)  # the state the wind comes from
    return -(flux - np.roll(flux, 1, axis=-1)) / dx


def solve_advection(
    u0: np.ndarray,
    beta: float,
    dx: float,
    times: np.ndarray,
    *,
    cfl: float = 0.4,
    limiter: str = "vanleer",
    progress: bool = True,
) -> np.ndarray:
    """Advect periodic cell averages u0 (N, X) at speed beta; returns (N, T, X) at `times`."""
    # MUSCL + SSP-RK2 is TVD for |beta| dt / dx <= 1/2; cfl < 1/2 keeps a margin.
    dt = cfl * dx / abs(beta) if beta != 0.0 else math.inf
    return march(u0, lambda u: advection_rhs(u, beta, dx, limiter), times, lambda u: dt,
                 desc=f"advection beta={beta:g}", progress=progress)


def save_times(nt: int, t_end: float) -> tuple[np.ndarray, np.ndarray]:
    """The nt saved times on [0, t_end]: (nt,), and PDEBench's t-coordinate, one longer: (nt+1,)."""
    times = np.linspace(0.0, t_end, nt)
    return times, np.append(times, t_end + t_end / (nt - 1))


def simulate_parameter_files(opts: Mapping[str, Any], out_dir: Path, seed: int, *,
                             values: list[float], name: str, attr: str,
                             solve: Callable[[np.ndarray, float, float, np.ndarray], np.ndarray],
                             ) -> list[Path]:
    """Write one PDEBench 1D file per parameter value; all files share the initial states.

    `name` formats the file name from the value (e.g. "1D_Advection_Sols_beta{}.hdf5"), `attr`
    is the root attribute holding it, `solve(u0, value, dx, times)` maps (N, X) -> (N, T, X).
    """
    nx = int(opts["nx"])
    x = cell_centres(nx)
    times, t_coord = save_times(int(opts["nt"]), float(opts["t_end"]))
    u0 = sine_sum_1d(np.random.default_rng(seed), int(opts["n_traj"]), x)  # (N, X)
    paths = []
    for value in values:
        u = solve(u0, float(value), 1.0 / nx, times)  # (N, X) -> (N, T, X)
        path = Path(out_dir) / name.format(value)
        paths.append(write_tensor_file(path, u, x, t_coord, {attr: float(value)}))
    return paths


def simulate_advection1d(opts: Mapping[str, Any], out_dir: Path, seed: int) -> list[Path]:
    """Write one `1D_Advection_Sols_beta{beta}.hdf5` per beta (options validated by the caller)."""
    return simulate_parameter_files(opts, out_dir, seed, values=opts["beta"], attr="beta",
                                    name="1D_Advection_Sols_beta{}.hdf5", solve=solve_advection)


SPECS = {
    "advection1d": SimulatorSpec(
        simulate_advection1d, {**COMMON, "beta": real_list(None, "advection speeds")}),
}
