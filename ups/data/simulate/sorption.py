"""1D diffusion-sorption, PDEBench's `1D_diff-sorp` task at small size.

    R(u) u_t = D u_xx,  R(u) = 1 + (1 - phi)/phi rho_s k_f n_f (u + 1e-6)^(n_f - 1)

on x in (0, 1): a dissolved contaminant u diffusing through a porous medium that sorbs it with a
Freundlich isotherm. D 5e-4, phi 0.29, rho_s 2880, k_f 3.5e-4, n_f 0.874, t in [0, 500], as
PDEBench. R(u) = 1 + s'(u) with the sorbed amount s(u) = K (u + 1e-6)^n_f, K = (1-phi)/phi rho_s
k_f, so the equation is the conservation law

    d/dt (u + s(u)) = d/dx (D u_x),

and the solver evolves it in that form: the total (dissolved + sorbed) mass changes only by the
boundary fluxes, to the Newton tolerance.

Boundaries (as PDEBench's FINN-based generator):
* left, x = 0: Dirichlet u = 1 (the solubility), imposed at the face (flux D (1 - u_0) / (dx/2));
  PDEBench puts the value one cell outside (flux D (1 - u_0) / dx), a first-order placement.
* right, x = 1: the Cauchy (Robin) outflow condition u(1) = -D u_x(1): the diffusive flux leaving
  equals u there (unit exit conductance). PDEBench's generator sets the ghost cell to
  D (u_{X-2} - u_{X-1}) / dx, i.e. the same condition (its paper writes it without the sign).
  Discretised at the face with the half-cell gradient, the outflow is 2D / (dx + 2D) u_{X-1}.

Space: cell-centred finite volume. Time: TR-BDF2 (trapezoidal stage to t + gamma dt, then BDF2;
gamma = 2 - sqrt 2), an L-stable, stiffly accurate, second-order implicit Runge-Kutta method: the
diffusion limit of an explicit scheme (dt < dx^2 R / 2D, ~0.2 s at 128 cells) does not apply and
the initial jump at the Dirichlet wall is damped instead of ringing. Each stage solves
total(u) - a dt F(u) = r by Newton's method with a tridiagonal Jacobian, the whole batch stacked
into one banded system. total(u) is concave and increasing, so Newton converges monotonically.

The sorbed amount is extended linearly below u = 0 (never reached by the exact solution, but a
Newton iterate may visit it): PDEBench's (u + 1e-6)^(n_f - 1) is undefined there. The initial state
is constant per sample, u0 ~ U(0, u0_max) with u0_max = 0.2 as PDEBench.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.linalg import solve_banded

from ups.data.simulate.advection import cell_centres, march_steps
from ups.data.simulate.layouts import write_group_file
from ups.data.simulate.options import COMMON, SimulatorSpec, positive_real, real_in

EPS = 1e-6  # PDEBench's regularisation of the Freundlich isotherm at u = 0
GAMMA = 2.0 - math.sqrt(2.0)  # TR-BDF2 stage time
D_STAGE = GAMMA / 2.0  # the implicit (diagonal) coefficient of both stages
W_STAGE = math.sqrt(2.0) / 4.0  # weights of the first two stage rates in the final stage
NEWTON_TOL = 1e-11  # max |residual| of a stage equation, in units of u
NEWTON_MAX_ITER = 60
MAX_DT = 1.0  # default internal step (PDEBench saved every 5 s)


@dataclass(frozen=True)
class SorptionParams:
    """The PDE constants (PDEBench's names); `sorption=False` sets R = 1 (plain diffusion)."""

    D: float = 5e-4
    por: float = 0.29
    rho_s: float = 2880.0
    k_f: float = 3.5e-4
    n_f: float = 0.874
    sol: float = 1.0  # the Dirichlet value at x = 0
    sorption: bool = True

    @property
    def capacity(self) -> float:
        """K in s(u) = K (u + eps)^n_f: sorbed mass per unit dissolved, per pore volume."""
        return (1.0 - self.por) / self.por * self.rho_s * self.k_f if self.sorption else 0.0


def sorbed(u: np.ndarray, p: SorptionParams) -> np.ndarray:
    """s(u) = K ((u + eps)^n_f - eps^n_f) for u >= 0, its tangent line below 0; same shape as u.

    The constant K eps^n_f is dropped so that s(0) = 0: it changes no derivative.
    """
    pos = np.maximum(u, 0.0)
    above = (pos + EPS) ** p.n_f - EPS**p.n_f
    below = p.n_f * EPS ** (p.n_f - 1.0) * np.minimum(u, 0.0)
    return p.capacity * (above + below)


def retardation(u: np.ndarray, p: SorptionParams) -> np.ndarray:
    """R(u) = 1 + s'(u), PDEBench's retardation factor (constant below u = 0)."""
    return 1.0 + p.capacity * p.n_f * (np.maximum(u, 0.0) + EPS) ** (p.n_f - 1.0)


def total(u: np.ndarray, p: SorptionParams) -> np.ndarray:
    """The conserved density: dissolved plus sorbed, u + s(u)."""
    return u + sorbed(u, p)


# ---- finite-volume operator --------------------------------------------------------------------


def outflow_conductance(p: SorptionParams, dx: float) -> float:
    """h in q_out = h u_{X-1}: the Robin condition u_b = -D u_x with a half-cell gradient."""
    return 2.0 * p.D / (dx + 2.0 * p.D)


def face_fluxes(u: np.ndarray, p: SorptionParams, dx: float) -> np.ndarray:
    """Diffusive fluxes -D u_x (positive towards +x) at all X+1 faces: (N, X) -> (N, X+1)."""
    inflow = 2.0 * p.D / dx * (p.sol - u[:, :1])  # Dirichlet value at the left face
    interior = p.D / dx * (u[:, :-1] - u[:, 1:])
    outflow = outflow_conductance(p, dx) * u[:, -1:]
    return np.concatenate([inflow, interior, outflow], axis=1)


def rate(u: np.ndarray, p: SorptionParams, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """d total / dt per cell, (N, X), and the boundary fluxes (N, 2) = (in at 0, out at 1)."""
    q = face_fluxes(u, p, dx)  # (N, X+1)
    return (q[:, :-1] - q[:, 1:]) / dx, q[:, [0, -1]]


def operator_bands(nx: int, p: SorptionParams, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """Diagonal (X,) and off-diagonal (X-1,) of the matrix A in rate(u) = A u + b."""
    off = np.full(nx - 1, p.D / dx**2)
    diag = np.full(nx, -2.0 * p.D / dx**2)
    diag[0] = -3.0 * p.D / dx**2  # interior face plus the half-cell face to the wall
    diag[-1] = -(p.D / dx + outflow_conductance(p, dx)) / dx
    return diag, off


# ---- TR-BDF2 -----------------------------------------------------------------------------------


def solve_stage(guess: np.ndarray, target: np.ndarray, a_dt: float, p: SorptionParams,
                dx: float) -> np.ndarray:
    """Newton's method for total(u) - a_dt rate(u) = target; (N, X) -> (N, X).

    The Jacobian diag(R(u)) - a_dt A is tridiagonal per trajectory; the batch is stacked into one
    banded system of N X unknowns with the couplings between trajectories zeroed.
    """
    n, nx = guess.shape
    diag_a, off_a = operator_bands(nx, p, dx)
    off = np.tile(np.append(-a_dt * off_a, 0.0), n)  # (N X,), 0 between trajectories
    bands = np.zeros((3, n * nx))
    bands[0, 1:] = off[:-1]  # super-diagonal
    bands[2, :-1] = off[:-1]  # sub-diagonal
    u = guess.copy()
    for _ in range(NEWTON_MAX_ITER):
        residual = total(u, p) - a_dt * rate(u, p, dx)[0] - target  # (N, X)
        if np.max(np.abs(residual)) <= NEWTON_TOL:
            return u
        bands[1] = (retardation(u, p) - a_dt * diag_a).ravel()
        u = u - solve_banded((1, 1), bands, residual.ravel(), check_finite=False).reshape(n, nx)
    worst = np.abs(residual).max()
    raise FloatingPointError(f"diffusion-sorption: Newton did not converge in "
                             f"{NEWTON_MAX_ITER} iterations (residual {worst:.2e})")


@dataclass
class SorptionState:
    """The march's state: u (N, X) and the boundary mass (N, 2) = (entered, left) since t0."""

    u: np.ndarray
    boundary_mass: np.ndarray


def tr_bdf2_step(state: SorptionState, dt: float, p: SorptionParams, dx: float) -> SorptionState:
    """One TR-BDF2 step of the conservative system; accumulates the boundary mass with the
    method's own weights, so mass(t) - mass(0) = entered - left holds to the Newton tolerance."""
    u0 = state.u
    c0 = total(u0, p)
    f1, b1 = rate(u0, p, dx)
    u_mid = solve_stage(u0, c0 + D_STAGE * dt * f1, D_STAGE * dt, p, dx)  # trapezoidal stage
    f2, b2 = rate(u_mid, p, dx)
    u1 = solve_stage(u_mid, c0 + W_STAGE * dt * (f1 + f2), D_STAGE * dt, p, dx)  # BDF2 stage
    _, b3 = rate(u1, p, dx)
    exchanged = dt * (W_STAGE * (b1 + b2) + D_STAGE * b3)  # (N, 2)
    return SorptionState(u1, state.boundary_mass + exchanged)


@dataclass
class SorptionSolution:
    """u (N, T, X) at the save times and the boundary mass (N, T, 2) = (entered, left) since
    times[0], both per unit cross-section."""

    u: np.ndarray
    boundary_mass: np.ndarray


def solve_sorption(
    u0: np.ndarray,
    dx: float,
    times: np.ndarray,
    params: SorptionParams | None = None,
    *,
    max_dt: float = MAX_DT,
    progress: bool = True,
) -> SorptionSolution:
    """Evolve cell averages u0 (N, X) on cells of width dx from x = 0; saves at `times`."""
    p = params or SorptionParams()
    start = SorptionState(np.asarray(u0, dtype=np.float64).copy(), np.zeros((len(u0), 2)))
    frames = march_steps(start, lambda s, dt: tr_bdf2_step(s, dt, p, dx), times,
                         lambda s: max_dt, observe=lambda s: (s.u.copy(), s.boundary_mass.copy()),
                         desc="diffusion-sorption", progress=progress)
    u = np.stack([f[0] for f in frames], axis=1)  # T x (N, X) -> (N, T, X)
    exchanged = np.stack([f[1] for f in frames], axis=1)  # T x (N, 2) -> (N, T, 2)
    return SorptionSolution(u, exchanged)


# ---- files -------------------------------------------------------------------------------------


def config_yaml(opts: Mapping[str, Any], seed: int, p: SorptionParams) -> str:
    """Each group's `config`: PDEBench's `sim` block plus how this file was made."""
    constants = {k: v for k, v in asdict(p).items() if k != "sorption"}
    sim = {**constants, "t": float(opts["t_end"]), "tdim": int(opts["nt"]), "x_left": 0.0,
           "x_right": 1.0, "xdim": int(opts["nx"]), "n": int(opts["n_traj"]), "seed": seed,
           "u0_max": float(opts["u0_max"]), "dt_max": float(opts["dt"])}
    notes = {"left_bc": "dirichlet u = sol at the face",
             "right_bc": "robin u = -D u_x (outflow flux equals u)",
             "scheme": "cell-centred finite volume, TR-BDF2 in u + s(u) (conservative)",
             "initial": "constant per sample, U(0, u0_max)"}
    return yaml.safe_dump({"sim": sim, "ups": notes}, sort_keys=False)


def simulate_diffusion_sorption1d(opts: Mapping[str, Any], out_dir: Path,
                                  seed: int) -> list[Path]:
    """Write `1D_diff-sorp_NA_NA.h5`: groups of (T, X, 1) samples, constants in `config`."""
    nx, n = int(opts["nx"]), int(opts["n_traj"])
    params = SorptionParams()
    x = cell_centres(nx)
    times = np.linspace(0.0, float(opts["t_end"]), int(opts["nt"]))
    levels = np.random.default_rng(seed).uniform(0.0, float(opts["u0_max"]), size=n)  # (N,)
    u0 = np.repeat(levels[:, None], nx, axis=1)  # (N, X)
    u = solve_sorption(u0, 1.0 / nx, times, params, max_dt=float(opts["dt"])).u  # (N, T, X)
    samples = (u[i, :, :, None] for i in range(n))  # (T, X) -> (T, X, 1)
    path = Path(out_dir) / "1D_diff-sorp_NA_NA.h5"
    return [write_group_file(path, samples, {"x": x, "t": times},
                             config=config_yaml(opts, seed, params))]


SPECS = {
    "diffusion_sorption1d": SimulatorSpec(
        simulate_diffusion_sorption1d,
        dict(COMMON),
        {"dt": (MAX_DT, positive_real), "u0_max": (0.2, real_in(0.0, 1.0))},
    ),
}
