"""Principal components of frames streamed in chunks (the POD baseline's basis), in float64.

A frame is one state flattened to a vector of D values (every point and channel, normalised).
Two ways to the leading components, both reading the frames once, chunk by chunk, whichever
is the smaller eigenproblem:

- more frames than values, D <= MAX_COVARIANCE_DIM: the exact D x D covariance of every frame
  (at most 128 MB);
- otherwise the method of snapshots, the n x n Gram matrix of the frames: exact with every
  frame while they fit in SNAPSHOT_ELEMENTS values, else of a seeded random subsample of that
  many values (a 64^2 grid of 4 channels, 3D), so memory stays bounded however many frames the
  split holds. The record says which, and how many frames.

Only the leading k eigenpairs are computed (scipy's subset eigensolver).

The basis keeps only directions with a real variance (eigenvalues above RANK_TOL times the
largest): a split of few frames, or data on a low-dimensional set (advection's shifts of a few
waves), has fewer modes than asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh

MAX_COVARIANCE_DIM = 4096
SNAPSHOT_ELEMENTS = 1 << 25  # float64 values of the snapshot subsample (256 MB)
RANK_TOL = 1e-11  # relative eigenvalue below which a direction is numerical noise


@dataclass
class PCA:
    """An orthonormal basis of the leading principal directions of some frames."""

    mean: np.ndarray  # (D,)
    basis: np.ndarray  # (D, K) orthonormal columns, by decreasing variance
    variance: np.ndarray  # (K,) the variance along each column
    total_variance: float  # summed over all D directions (explained fractions)
    method: str  # "covariance" or "snapshots"
    frames: int  # frames the basis was computed from

    @property
    def modes(self) -> int:
        return int(self.basis.shape[1])

    def project(self, x: np.ndarray, k: int | None = None) -> np.ndarray:
        """Frames (..., D) -> their coefficients (..., k) on the first k (all) modes."""
        return (np.asarray(x, np.float64) - self.mean) @ self.basis[:, :k]

    def decode(self, a: np.ndarray) -> np.ndarray:
        """Coefficients (..., k) on the first k modes -> frames (..., D)."""
        return self.mean + a @ self.basis[:, :a.shape[-1]].T

    def truncated(self, k: int) -> PCA:
        return PCA(self.mean, self.basis[:, :k].copy(), self.variance[:k].copy(),
                   self.total_variance, self.method, self.frames)

    def explained(self, k: int) -> float:
        """Fraction of the frames' variance the first k modes hold."""
        return float(self.variance[:k].sum() / self.total_variance) if self.total_variance \
            else 1.0


def fit_pca(chunks: Callable[[], Iterable[np.ndarray]], n_frames: int, dim: int, k_max: int,
            seed: int) -> PCA:
    """The first (at most) `k_max` principal directions of the `n_frames` frames that
    `chunks()` yields as (n, dim) arrays, in order (one pass)."""
    if n_frames < 1:
        raise ValueError("PCA of no frames")
    if dim <= MAX_COVARIANCE_DIM and dim <= n_frames:
        return _by_covariance(chunks(), n_frames, dim, k_max)
    return _by_snapshots(chunks(), n_frames, dim, k_max, seed)


def _top(matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues of a symmetric matrix (k,), descending, and their
    eigenvectors (n, k)."""
    n = len(matrix)
    k = min(k, n)
    values, vectors = eigh(matrix, subset_by_index=[n - k, n - 1])  # ascending
    return values[::-1], vectors[:, ::-1]


def _by_covariance(chunks: Iterable[np.ndarray], n_frames: int, dim: int, k_max: int) -> PCA:
    total = np.zeros(dim)
    second = np.zeros((dim, dim))
    for x in chunks:
        x = np.asarray(x, np.float64)  # (n, D)
        total += x.sum(0)
        second += x.T @ x
    mean = total / n_frames
    # The frames are standardised (per-channel mean ~0, std ~1), so the one-pass form loses
    # nothing that matters in float64.
    cov = second / n_frames - np.outer(mean, mean)
    values, vectors = _top(cov, k_max)
    return _kept(mean, vectors, values, float(np.trace(cov)), k_max, "covariance", n_frames)


def _by_snapshots(chunks: Iterable[np.ndarray], n_frames: int, dim: int, k_max: int,
                  seed: int) -> PCA:
    n_sub = min(n_frames, max(1, SNAPSHOT_ELEMENTS // dim))  # all of them if they fit
    picked = np.sort(np.random.default_rng(seed).choice(n_frames, n_sub, replace=False))
    sample = np.empty((n_sub, dim))
    total, start, filled = np.zeros(dim), 0, 0
    for x in chunks:
        x = np.asarray(x, np.float64)
        total += x.sum(0)
        rows = picked[(picked >= start) & (picked < start + len(x))] - start
        sample[filled:filled + len(rows)] = x[rows]
        filled += len(rows)
        start += len(x)
    mean = total / n_frames
    sample -= mean  # (n_sub, D) centred
    gram = sample @ sample.T / n_sub  # (n_sub, n_sub): its eigenvalues are the covariance's
    values, vectors = _top(gram, k_max)
    keep = values > RANK_TOL * max(values[0], 1e-300)
    directions = np.zeros((dim, len(values)))
    directions[:, keep] = sample.T @ vectors[:, keep] / np.sqrt(n_sub * values[keep])
    method = "snapshots" if n_sub == n_frames else "snapshots (subsample)"
    return _kept(mean, directions, values, float(np.trace(gram)), k_max, method, n_sub)


def _kept(mean: np.ndarray, vectors: np.ndarray, values: np.ndarray, total: float,
          k_max: int, method: str, frames: int) -> PCA:
    """The leading directions with a real variance, each signed so that its largest entry is
    positive (the same data gives the same basis on every machine)."""
    rank = int((values > RANK_TOL * max(values[0], 1e-300)).sum()) if len(values) else 0
    k = max(1, min(k_max, rank))  # an all-constant split still gets one (zero) mode
    basis = vectors[:, :k].copy()
    if rank == 0:
        basis[:] = 0.0
    signs = np.sign(basis[np.abs(basis).argmax(0), np.arange(k)])
    basis *= np.where(signs == 0, 1.0, signs)
    return PCA(mean, basis, np.clip(values[:k], 0.0, None), max(total, 0.0), method, frames)
