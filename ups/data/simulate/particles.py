"""Particles carried by a smooth, unsteady, divergence-free flow (UPS's `particles_advect` task).

    dx/dt = u(x, t)   on the periodic unit square,

for a per-trajectory random velocity field that is the skew gradient of a stream function made
of a few Fourier modes, each with its own time frequency:

    psi(x, t) = sum_m A_m sin(theta_m),   theta_m = 2 pi k_m . x + w_m t + phi_m,
    u = (psi_y, -psi_x) = sum_m 2 pi A_m cos(theta_m) (k_my, -k_mx),

so div u = 0 exactly (the flow map preserves area) and u is periodic in x (integer k_m). The
`modes` wave vectors are drawn from the integer vectors 0 < |k| <= `k_max` (one of each +-k
pair), the frequencies w_m ~ U(-omega, omega), the phases uniform and the amplitudes A_m ~
U(-1, 1), then scaled so that sum_m 2 pi |A_m| |k_m| = `speed`: no particle ever moves faster.

Particles start uniformly at random and are integrated with classical RK4 on the unwrapped plane
at a fixed step of at most `dt` (equal steps that land on every save time); saved positions are
wrapped into [0, 1). The per-particle fields are the velocity (Vx, Vy) at the particle.

The field's fastest time scale is 1 / rate with rate = max(omega, 2 pi k_max speed), the bound on
both its frequencies and its velocity gradients; a `dt` with rate dt > MAX_RATE_DT is refused.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ups.data.simulate.advection import save_times
from ups.data.simulate.initial import band_limited_modes
from ups.data.simulate.layouts import write_particles_zarr
from ups.data.simulate.options import (
    COMMON,
    SimulatorSpec,
    fail,
    int_at_least,
    nonnegative_real,
    positive_real,
)

FILE_NAME = "Particles_advect.zarr"
# RK4 is stable up to |lambda dt| ~ 2.8; 0.5 keeps it accurate (error ~ (rate dt)^5 / 120 per step).
MAX_RATE_DT = 0.5


@dataclass(frozen=True)
class StreamField:
    """A sum of travelling Fourier modes of a stream function, per trajectory.

    k: (N, M, 2) integer wave vectors; amp, omega, phase: (N, M).
    """

    k: np.ndarray
    amp: np.ndarray
    omega: np.ndarray
    phase: np.ndarray

    def velocity(self, x: np.ndarray, t: float) -> np.ndarray:
        """u at positions x (N, P, 2) and time t: (N, P, 2)."""
        theta = (2.0 * np.pi * x @ np.swapaxes(self.k, 1, 2)
                 + (self.omega * t + self.phase)[:, None, :])  # (N, P, 2) @ (N, 2, M): (N, P, M)
        weight = np.cos(theta)
        skew = np.stack([self.k[..., 1], -self.k[..., 0]], axis=-1)  # (k_y, -k_x): (N, M, 2)
        return weight @ ((2.0 * np.pi * self.amp)[..., None] * skew)  # (N, P, M) @ (N, M, 2)


def random_stream_field(rng: np.random.Generator, n: int, modes: int, k_max: int, speed: float,
                        omega: float) -> StreamField:
    """`modes` random travelling modes per trajectory, speed-bounded (see the module docstring)."""
    table = band_limited_modes(k_max)  # (K, 2) candidate wave vectors
    pick = rng.integers(0, len(table), size=(n, modes))
    k = table[pick].astype(np.float64)  # (N, M, 2)
    amp = rng.uniform(-1.0, 1.0, size=(n, modes))
    freq = rng.uniform(-omega, omega, size=(n, modes))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, modes))
    bound = np.sum(2.0 * np.pi * np.abs(amp) * np.linalg.norm(k, axis=-1), axis=1)  # (N,)
    return StreamField(k, amp * (speed / bound)[:, None], freq, phase)


def rk4_step(field: StreamField, x: np.ndarray, t: float, dt: float) -> np.ndarray:
    """One classical RK4 step of dx/dt = u(x, t) for positions x (N, P, 2)."""
    k1 = field.velocity(x, t)
    k2 = field.velocity(x + 0.5 * dt * k1, t + 0.5 * dt)
    k3 = field.velocity(x + 0.5 * dt * k2, t + 0.5 * dt)
    k4 = field.velocity(x + dt * k3, t + dt)
    return x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def advect(field: StreamField, x0: np.ndarray, times: np.ndarray, dt: float, *,
           progress: bool = True) -> np.ndarray:
    """Unwrapped positions (N, T, P, 2) at `times` of particles starting at x0 (N, P, 2).

    Each interval between save times is cut into equal steps no longer than dt.
    """
    x = np.asarray(x0, dtype=np.float64).copy()
    frames = [x.copy()]
    for t0, t1 in tqdm(itertools.pairwise(times), total=len(times) - 1, desc="particles",
                       file=sys.stderr, disable=None if progress else True, leave=False):
        n_steps = max(1, math.ceil((t1 - t0) / dt - 1e-9))
        h = (t1 - t0) / n_steps
        for s in range(n_steps):
            x = rk4_step(field, x, float(t0 + s * h), h)
        frames.append(x.copy())
    return np.stack(frames, axis=1)  # T x (N, P, 2) -> (N, T, P, 2)


def wrap_unit(x: np.ndarray) -> np.ndarray:
    """Positions wrapped into [0, 1) as float32 (a float64 just below 1 would round up to 1)."""
    w = np.mod(x, 1.0).astype(np.float32)
    return np.where(w >= 1.0, np.float32(0.0), w)


def sample_velocity(field: StreamField, x: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The velocity at every saved position: x (N, T, P, 2) -> (N, T, P, 2)."""
    return np.stack([field.velocity(x[:, i], float(t)) for i, t in enumerate(times)], axis=1)


def simulate_particles_advect(opts: Mapping[str, Any], out_dir: Path, seed: int) -> list[Path]:
    """Write `Particles_advect.zarr` (options validated by the caller)."""
    n, p = int(opts["n_traj"]), int(opts["n_particles"])
    times, _ = save_times(int(opts["nt"]), float(opts["t_end"]))
    rng = np.random.default_rng(seed)
    field = random_stream_field(rng, n, int(opts["modes"]), int(opts["k_max"]),
                                float(opts["speed"]), float(opts["omega"]))
    x0 = rng.uniform(0.0, 1.0, size=(n, p, 2))
    x = advect(field, x0, times, float(opts["dt"]))  # (N, T, P, 2), unwrapped
    description = ("particles advected by a random divergence-free travelling-wave velocity "
                   "field on the periodic unit square (RK4); fields = velocity at the particle")
    return [write_particles_zarr(Path(out_dir) / FILE_NAME, times, wrap_unit(x),
                                 sample_velocity(field, x, times), task="particles_advect",
                                 channels=["Vx", "Vy"], bounds=[[0.0, 1.0], [0.0, 1.0]],
                                 periodic=True, description=description)]


def field_rate(opts: Mapping[str, Any]) -> float:
    """Bound on the field's frequencies and velocity gradients (1 / its fastest time scale)."""
    return max(float(opts["omega"]), 2.0 * np.pi * int(opts["k_max"]) * float(opts["speed"]))


def _check(task: str, opts: dict[str, Any]) -> None:
    rate = field_rate(opts)
    if opts["dt"] * rate > MAX_RATE_DT:
        fail(task, "dt", opts["dt"], f"a step <= {MAX_RATE_DT / rate:.4g} ({MAX_RATE_DT:g} / "
             f"max(omega, 2 pi k_max speed) = {MAX_RATE_DT:g} / {rate:.4g}: the field's time "
             "scale)")


SPECS = {
    "particles_advect": SimulatorSpec(
        simulate_particles_advect,
        {**{k: COMMON[k] for k in ("n_traj", "nt", "t_end")}, "n_particles": int_at_least(1)},
        {"dt": (0.01, positive_real), "modes": (4, int_at_least(1)),
         "k_max": (2, int_at_least(1)), "speed": (1.0, positive_real),
         "omega": (2.0 * np.pi, nonnegative_real)},
        check=_check,
    ),
}
