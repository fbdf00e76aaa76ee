"""Physics checks of a decoded rollout, for the full gate (README, "Is my run better?").

Each check is dimensionless and measured on the predicted rollout alone (no truth needed, except
the boundary check, which compares with the true boundary values); a check the task does not have
is None:

- `conservation_drift`: the largest relative drift, over the rollout, of the spatial mean of a
  conserved channel from the given first state (mean over trajectories, max over channels);
- `boundary_violation`: RMS error on the edge of a non-periodic grid, relative to the RMS of the
  true edge values;
- `negative_fraction`: share of predicted values below zero in channels that must stay positive
  (density, pressure, water height, concentration);
- `divergence`: RMS of the divergence of an incompressible 2D velocity times the grid spacing,
  relative to the RMS speed (0 for an exactly divergence-free field).
"""

from __future__ import annotations

import numpy as np

from ups.tasks import TaskSpec
from ups.training.priors import edge_mask

CHECKS = ("conservation_drift", "boundary_violation", "negative_fraction", "divergence")


def _index(channels: tuple[str, ...], names: tuple[str, ...]) -> list[int]:
    return [channels.index(c) for c in names if c in channels]


def physics_checks(pred: np.ndarray, truth: np.ndarray, spec: TaskSpec,
                   channels: tuple[str, ...], grid: bool) -> dict[str, float | None]:
    """pred, truth: (B, T, *S, C) physical rollouts (index 0 the given state); `grid`: whether
    the spatial axes are a regular grid (else (B, T, P, C) points)."""
    out: dict[str, float | None] = dict.fromkeys(CHECKS)
    spatial = tuple(range(2, pred.ndim - 1))
    conserved = _index(channels, spec.conserved)
    if conserved and pred.shape[1] > 1:
        totals = pred[..., conserved].mean(axis=spatial)  # (B, T, Cc)
        scale = np.abs(pred[:, :1, ..., conserved]).mean(axis=spatial) + 1e-12  # (B, 1, Cc)
        drift = np.abs(totals - totals[:, :1]) / scale
        out["conservation_drift"] = float(drift.max(axis=1).mean(axis=0).max())
    if grid and not spec.periodic:
        mask = edge_mask(pred.shape[2:-1]).numpy()[:, None]  # (1, 1, *S, 1)
        mask = np.broadcast_to(mask, pred.shape)
        err = np.sqrt(np.mean((pred - truth)[mask] ** 2))
        ref = np.sqrt(np.mean(truth[mask] ** 2)) + 1e-12
        out["boundary_violation"] = float(err / ref)
    positive = _index(channels, spec.positive)
    if positive:
        out["negative_fraction"] = float((pred[..., positive] < 0).mean())
    velocity = _index(channels, spec.divergence_free)
    if grid and len(velocity) == 2 and pred.ndim == 5:
        vx, vy = pred[..., velocity[0]], pred[..., velocity[1]]  # (B, T, X, Y)
        wrap = spec.periodic
        dvx = (np.roll(vx, -1, 2) - np.roll(vx, 1, 2)) / 2 if wrap else np.gradient(vx, axis=2)
        dvy = (np.roll(vy, -1, 3) - np.roll(vy, 1, 3)) / 2 if wrap else np.gradient(vy, axis=3)
        speed = np.sqrt(np.mean(vx ** 2 + vy ** 2)) + 1e-12
        out["divergence"] = float(np.sqrt(np.mean((dvx + dvy) ** 2)) / speed)
    return out
