"""2D phase-field models on the periodic unit square: UPS's Allen-Cahn and Cahn-Hilliard tasks.

    Allen-Cahn:     u_t = eps^2 Lap u - (u^3 - u)            (mobility 1)
    Cahn-Hilliard:  c_t = Lap(c^3 - c - eps^2 Lap c)         (mobility 1)

Both are gradient flows of the free energy E[u] = int eps^2/2 |grad u|^2 + (u^2 - 1)^2 / 4 dx
(in L2 for Allen-Cahn, in H^-1 for Cahn-Hilliard, which therefore conserves the mean). In Fourier
space both read u_hat_t = -lam(k) (F[f(u)] + eps^2 k^2 u_hat) with f(u) = u^3 - u and
lam = 1 (AC) or k^2 (CH), and are stepped by the linearly stabilised semi-implicit scheme of
Shen & Yang (2010):

    (1 + dt lam (S + eps^2 k^2)) u_hat^{n+1} = (1 + dt lam S) u_hat^n - dt lam F[f(u^n)]

-- the stiff linear part implicit, the nonlinearity explicit (pseudo-spectral, collocation), and
the stabiliser S u added on one side and removed on the other. For S >= L/2, with L the largest
|f'| on the range of u (L = 2 for |u| <= 1), the discrete energy never increases, whatever dt.
Stability is then no constraint on dt, accuracy is: the stabiliser slows the dynamics by a
relative O(dt lam S), so `dt` is refused where the fastest linear mode grows at a rate more than
MAX_RATE_ERROR below the exact one (AC: the k = 0 mode, rate 1; CH: |k| = 1/(sqrt(2) eps), rate
1/(4 eps^2)). For CH the k = 0 symbol lam(0) = 0, so the mean is kept to round-off.

Files: `AllenCahn_2D.h5` / `CahnHilliard_2D.h5`, groups `0000`.. each `data` (T, Y, X, 1) -- axis
1 is y, as PDEBench's 2D diff-react -- with `grid/x`, `grid/y` (cell centres) and `grid/t`, lzf,
and a YAML `config` attribute holding the equation's constants. Initial states: a random mean
(U(-mean_max, mean_max) per sample) plus `ic_amplitude` times a unit-variance band-limited
Gaussian field (integer modes |k| <= ic_modes, see `initial.gaussian_random_field_2d`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from ups.data.simulate.advection import cell_centres
from ups.data.simulate.initial import gaussian_random_field_2d
from ups.data.simulate.layouts import write_group_file
from ups.data.simulate.options import (
    COMMON,
    SimulatorSpec,
    fail,
    int_at_least,
    nonnegative_real,
    positive_real,
    real_in,
)

LENGTH = 1.0  # the periodic domain is [0, LENGTH]^2
STABILIZATION = 1.0  # S = L/2 for f(u) = u^3 - u on |u| <= 1
MAX_RATE_ERROR = 0.2  # largest relative slow-down of the fastest linear mode allowed by `dt`
FILE_NAMES = {"allen_cahn": "AllenCahn_2D.h5", "cahn_hilliard": "CahnHilliard_2D.h5"}


@dataclass(frozen=True)
class PhaseField:
    """One of the two models with its constants."""

    kind: str  # "allen_cahn" or "cahn_hilliard"
    eps: float  # interface parameter: a flat interface is tanh(x / (sqrt(2) eps))
    stabilization: float = STABILIZATION

    def mobility(self, k2: np.ndarray) -> np.ndarray:
        """lam(k): 1 for Allen-Cahn (L2 flow), k^2 for Cahn-Hilliard (H^-1 flow)."""
        if self.kind == "allen_cahn":
            return np.ones_like(k2)
        if self.kind == "cahn_hilliard":
            return k2
        raise ValueError(f"unknown phase-field model {self.kind!r}")

    def fastest_mode(self) -> float:
        """|k|^2 of the fastest-growing linear mode around u = 0."""
        return 0.0 if self.kind == "allen_cahn" else 0.5 / self.eps**2

    def growth_rate(self, k2: np.ndarray | float) -> np.ndarray:
        """Exact linear growth rate around u = 0: lam(k) (1 - eps^2 k^2)."""
        k2 = np.asarray(k2, float)
        return self.mobility(k2) * (1.0 - self.eps**2 * k2)

    def discrete_growth_rate(self, k2: np.ndarray | float, dt: float) -> np.ndarray:
        """log(amplification per step) / dt of the scheme, linearised around u = 0."""
        k2 = np.asarray(k2, float)
        lam, s = self.mobility(k2), self.stabilization
        return np.log((1.0 + dt * lam * (s + 1.0)) / (1.0 + dt * lam * (s + self.eps**2 * k2))) / dt

    def rate_error(self, dt: float) -> float:
        """Relative slow-down of the fastest linear mode by the time discretisation."""
        k2 = self.fastest_mode()
        return float(1.0 - self.discrete_growth_rate(k2, dt) / self.growth_rate(k2))


# ---- spectral pieces ---------------------------------------------------------------------------


def wavenumbers_squared(ny: int, nx: int, length: float = LENGTH) -> np.ndarray:
    """|k|^2 on the rfft2 grid of a (ny, nx) periodic field: (ny, nx // 2 + 1)."""
    ky = 2.0 * np.pi * np.fft.fftfreq(ny, d=length / ny)
    kx = 2.0 * np.pi * np.fft.rfftfreq(nx, d=length / nx)
    return ky[:, None] ** 2 + kx[None, :] ** 2


def free_energy(u: np.ndarray, eps: float, length: float = LENGTH) -> np.ndarray:
    """The scheme's discrete free energy of fields u (..., Y, X): (...,).

    Gradient term by Parseval on the full FFT with the scheme's symbol k^2 (Nyquist included),
    bulk term (u^2 - 1)^2 / 4 pointwise, both times the cell area.
    """
    ny, nx = u.shape[-2:]
    area = length * length / (nx * ny)
    ky = 2.0 * np.pi * np.fft.fftfreq(ny, d=length / ny)
    kx = 2.0 * np.pi * np.fft.fftfreq(nx, d=length / nx)
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2  # (Y, X)
    power = np.abs(np.fft.fft2(u)) ** 2  # (..., Y, X)
    gradient = 0.5 * eps**2 * np.sum(k2 * power, axis=(-2, -1)) / (nx * ny)
    bulk = 0.25 * np.sum((u * u - 1.0) ** 2, axis=(-2, -1))
    return area * (gradient + bulk)


def substeps(times: np.ndarray, dt_max: float) -> tuple[int, float]:
    """Steps per save interval and their length: equal steps <= dt_max landing on every save
    time (the save times are equally spaced)."""
    interval = float(times[1] - times[0])
    n_sub = max(1, math.ceil(interval / dt_max - 1e-9))
    return n_sub, interval / n_sub


def evolve(
    model: PhaseField,
    u0: np.ndarray,
    times: np.ndarray,
    dt_max: float,
    *,
    length: float = LENGTH,
    progress: bool = True,
) -> np.ndarray:
    """Evolve periodic fields u0 (N, Y, X) from times[0]; returns (N, T, Y, X) at equally
    spaced `times`, each interval cut into equal steps no longer than dt_max."""
    u = np.asarray(u0, dtype=np.float64)
    ny, nx = u.shape[-2:]
    n_sub, dt = substeps(times, dt_max)
    k2 = wavenumbers_squared(ny, nx, length)
    lam = model.mobility(k2)
    s = model.stabilization
    rhs_scale = 1.0 + dt * lam * s  # (Y, X//2+1): explicit side of the stabiliser
    inverse = 1.0 / (1.0 + dt * lam * (s + model.eps**2 * k2))  # implicit side
    u_hat = np.fft.rfft2(u)  # (N, Y, X//2+1)
    frames = [u.copy()]
    bar = tqdm(total=n_sub * (len(times) - 1), desc=model.kind.replace("_", "-"),
               file=sys.stderr, disable=None if progress else True, mininterval=0.5,
               leave=False)
    for _ in times[1:]:
        for _ in range(n_sub):
            nonlinear = np.fft.rfft2(u * u * u - u)  # F[f(u^n)]
            u_hat = (rhs_scale * u_hat - dt * lam * nonlinear) * inverse
            u = np.fft.irfft2(u_hat, s=(ny, nx))
        bar.update(n_sub)
        if not np.isfinite(u).all():
            bar.close()
            raise FloatingPointError(f"{model.kind}: the solution blew up")
        frames.append(u.copy())
    bar.close()
    return np.stack(frames, axis=1)  # T x (N, Y, X) -> (N, T, Y, X)


# ---- files -------------------------------------------------------------------------------------


def initial_states(seed: int, n: int, x: np.ndarray, opts: Mapping[str, Any]) -> np.ndarray:
    """Random means plus band-limited perturbations on the grid x (X,) squared: (n, Y, X).

    Fields and means come from two independent streams spawned from `seed`, so sample i is the
    same whatever n (the fixed-step solver treats every sample independently as well).
    """
    field_rng, mean_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    field = gaussian_random_field_2d(field_rng, n, x, x, int(opts["ic_modes"]), length=LENGTH)
    mean = mean_rng.uniform(-opts["mean_max"], opts["mean_max"], size=n)
    return mean[:, None, None] + opts["ic_amplitude"] * field


def config_yaml(kind: str, opts: Mapping[str, Any], dt: float) -> str:
    """The equation's constants, as each group's `config` attribute (YAML)."""
    equation = {"allen_cahn": "u_t = eps^2 Lap u - (u^3 - u)",
                "cahn_hilliard": "c_t = Lap(c^3 - c - eps^2 Lap c)"}[kind]
    config = {"equation": equation, "eps": opts["eps"], "mobility": 1.0,
              "domain": [0.0, LENGTH], "boundary": "periodic", "dt": dt,
              "stabilization": STABILIZATION,
              "scheme": "linearly stabilised semi-implicit Fourier spectral",
              "mean_max": opts["mean_max"], "ic_amplitude": opts["ic_amplitude"],
              "ic_modes": opts["ic_modes"]}
    return yaml.safe_dump(config, sort_keys=False)


def simulate_phase_field(kind: str, opts: Mapping[str, Any], out_dir: Path,
                         seed: int) -> list[Path]:
    """Write one group file of (T, Y, X, 1) samples on an nx x nx grid of [0, 1]^2."""
    nx, n = int(opts["nx"]), int(opts["n_traj"])
    x = cell_centres(nx, 0.0, LENGTH)  # y is the same
    times = np.linspace(0.0, float(opts["t_end"]), int(opts["nt"]))
    u0 = initial_states(seed, n, x, opts)  # (N, Y, X)
    model = PhaseField(kind, float(opts["eps"]))
    u = evolve(model, u0, times, float(opts["dt"]))  # (N, T, Y, X)
    samples = (u[i][..., None] for i in range(n))  # (T, Y, X) -> (T, Y, X, 1)
    path = Path(out_dir) / FILE_NAMES[kind]
    config = config_yaml(kind, opts, substeps(times, float(opts["dt"]))[1])
    return [write_group_file(path, samples, {"y": x, "x": x, "t": times}, config=config)]


def _cross_check(kind: str) -> Callable[[str, dict[str, Any]], None]:
    def check(task: str, opts: dict[str, Any]) -> None:
        dx = LENGTH / opts["nx"]
        if math.sqrt(2.0) * opts["eps"] < dx:  # tanh(x / (sqrt 2 eps)): >= 1 cell per unit
            fail(task, "eps", opts["eps"],
                 f"a value >= dx / sqrt(2) = {dx / math.sqrt(2.0):.4g} (or a larger nx) so the "
                 "grid resolves the interfaces")
        if 2 * opts["ic_modes"] >= opts["nx"]:
            fail(task, "ic_modes", opts["ic_modes"],
                 f"an integer < nx/2 = {opts['nx'] / 2:g} so the grid resolves every mode")
        model = PhaseField(kind, opts["eps"])
        if model.rate_error(opts["dt"]) > MAX_RATE_ERROR:
            rate = float(model.growth_rate(model.fastest_mode()))
            fail(task, "dt", opts["dt"],
                 f"a step at which the fastest linear mode grows within {MAX_RATE_ERROR:.0%} of "
                 f"its exact rate {rate:.4g} (smaller dt)")
    return check


def _spec(kind: str, defaults: Mapping[str, Any]) -> SimulatorSpec:
    def run(opts: dict[str, Any], out_dir: Path, seed: int) -> list[Path]:
        return simulate_phase_field(kind, opts, out_dir, seed)

    return SimulatorSpec(
        run,
        COMMON,
        {"eps": (defaults["eps"], positive_real),
         "dt": (defaults["dt"], positive_real),
         "ic_modes": (defaults["ic_modes"], int_at_least(1)),
         "ic_amplitude": (defaults["ic_amplitude"], nonnegative_real),
         "mean_max": (defaults["mean_max"], real_in(0.0, 1.0, high_open=True))},
        check=_cross_check(kind),
    )


SPECS = {
    "allen_cahn2d": _spec("allen_cahn", {"eps": 0.025, "dt": 0.02, "ic_modes": 6,
                                         "ic_amplitude": 0.1, "mean_max": 0.1}),
    "cahn_hilliard2d": _spec("cahn_hilliard", {"eps": 0.025, "dt": 5e-5, "ic_modes": 8,
                                               "ic_amplitude": 0.05, "mean_max": 0.3}),
}
