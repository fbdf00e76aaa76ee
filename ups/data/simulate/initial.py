"""Random initial states: PDEBench-style 1D sine sums and band-limited 2D Gaussian fields.

Both generators are pure functions of an `np.random.Generator`: they draw every random number
for every sample whatever the outcome of a coin flip, so the stream (and hence sample i) depends
only on the seed and the batch size, never on earlier samples' values.
"""

from __future__ import annotations

import numpy as np


def tanh_window(x: np.ndarray, left: np.ndarray, right: np.ndarray, width: float) -> np.ndarray:
    """Smooth box that is ~1 on (left, right) and ~0 outside; left, right: (N,) -> (N, X)."""
    x = x[None, :]
    return 0.5 * (np.tanh((x - left[:, None]) / width) - np.tanh((x - right[:, None]) / width))


def sine_sum_1d(
    rng: np.random.Generator,
    n: int,
    x: np.ndarray,
    *,
    length: float = 1.0,
    n_waves: int = 2,
    k_max: int = 4,
    p_abs: float = 0.1,
    p_flip: float = 0.5,
    p_window: float = 0.1,
    window_width: float = 0.01,
) -> np.ndarray:
    """PDEBench's 1D initial states on points `x` (X,): returns (n, X) float64.

    u0 = sum_j A_j sin(2 pi k_j x / length + phi_j) with k_j uniform on {1..k_max}, A_j ~ U(0,1),
    phi_j ~ U(0, 2 pi); then, per sample, u0 -> |u0| with probability p_abs, u0 -> -u0 with
    probability p_flip, and u0 -> u0 * window with probability p_window, where the window is a
    tanh box from U(0.1, 0.45) length to U(0.55, 0.9) length of edge width `window_width`.
    """
    x = np.asarray(x, dtype=np.float64)
    k = rng.integers(1, k_max + 1, size=(n, n_waves))
    amp = rng.uniform(0.0, 1.0, size=(n, n_waves))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, n_waves))
    # Decisions and window edges are drawn for all samples so the stream never branches.
    do_abs = rng.uniform(size=n) < p_abs
    do_flip = rng.uniform(size=n) < p_flip
    do_window = rng.uniform(size=n) < p_window
    left = rng.uniform(0.1, 0.45, size=n) * length
    right = rng.uniform(0.55, 0.9, size=n) * length

    arg = 2.0 * np.pi * k[:, :, None] * x[None, None, :] / length + phase[:, :, None]
    u = np.sum(amp[:, :, None] * np.sin(arg), axis=1)  # (n, W, X) -> (n, X)
    u = np.where(do_abs[:, None], np.abs(u), u)
    u = np.where(do_flip[:, None], -u, u)
    u = np.where(do_window[:, None], u * tanh_window(x, left, right, window_width), u)
    return u


def band_limited_modes(max_mode: int) -> np.ndarray:
    """Integer wave vectors (kx, ky) with 0 < |k| <= max_mode, one of each +-k pair: (M, 2)."""
    r = np.arange(-max_mode, max_mode + 1)
    kx, ky = (a.ravel() for a in np.meshgrid(r, r, indexing="xy"))
    inside = (kx**2 + ky**2 <= max_mode**2) & ((kx > 0) | ((kx == 0) & (ky > 0)))
    return np.stack([kx[inside], ky[inside]], axis=1)


def gaussian_random_field_2d(
    rng: np.random.Generator,
    n: int,
    x: np.ndarray,
    y: np.ndarray,
    max_mode: int,
    *,
    length: float = 2.0,
) -> np.ndarray:
    """Band-limited Gaussian random fields on the grid y (Y,) x x (X,): returns (n, Y, X).

    f(x, y) = sum_k a_k cos(2 pi k.(x, y) / length) + b_k sin(...), over the integer wave vectors
    0 < |k| <= max_mode (one per +-k pair), a_k, b_k ~ N(0, 1/M) i.i.d. with M the number of
    modes: every point then has mean 0 and variance exactly 1, and the spectrum is flat inside
    the band. The coefficients do not depend on the grid, so the same seed gives the same
    continuous field at any resolution (a finer simulation grid sees the same initial state).
    Axis 1 of the result is y and axis 2 is x, like PDEBench's (T, Y, X, C) samples.
    """
    modes = band_limited_modes(max_mode)  # (M, 2)
    m = modes.shape[0]
    coef = rng.normal(0.0, 1.0 / np.sqrt(m), size=(n, 2, m))  # (n, {cos, sin}, M)
    xx, yy = np.meshgrid(np.asarray(x, float), np.asarray(y, float), indexing="xy")  # (Y, X)
    phase = 2.0 * np.pi / length * (modes[:, 0, None] * xx.ravel() + modes[:, 1, None] * yy.ravel())
    field = coef[:, 0] @ np.cos(phase) + coef[:, 1] @ np.sin(phase)  # (n, M) @ (M, Y*X)
    return field.reshape(n, len(y), len(x))
