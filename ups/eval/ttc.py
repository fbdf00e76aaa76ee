"""Physics rewards for test-time conditioning: which of K sampled corrections to keep.

Each candidate next state is decoded to physical fields and scored without the truth, only by
what the task's physics says must hold (from the task registry). Every penalty is dimensionless
and per candidate, so one weight serves every task; a term a task does not have is zero:

- conservation: squared relative drift of the conserved channels' integrals from the last state;
- boundary: squared change, in units of the channel's spread, of the values on the edge of a
  non-periodic grid (the boundary values the last state had; periodic grids have no boundary);
- positivity: mean squared negative part of positive channels (density, height), in units of
  the channel's spread;
- smoothness: energy above half the Nyquist wavenumber in excess of the operator's own
  prediction, relative to the prediction's energy (a correction that adds high-frequency noise
  is penalised, one that restores lost fine structure only up to the prediction's level is not).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ups.config import TTCConfig
from ups.tasks import TaskSpec
from ups.training.priors import edge_mask


def _channels(channels: tuple[str, ...], names: tuple[str, ...]) -> list[int]:
    return [channels.index(c) for c in names if c in channels]


def high_energy(u: Tensor, grid: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """(N, P, C) fields on `grid` -> energy above half the Nyquist wavenumber and total energy
    of the mean-free field, each (N,)."""
    n, _, c = u.shape
    f = u.reshape(n, *grid, c)
    f = f - f.mean(dim=tuple(range(1, 1 + len(grid))), keepdim=True)
    spec = torch.fft.fftn(f, dim=tuple(range(1, 1 + len(grid)))).abs().square()
    k2 = torch.zeros(grid)
    for d, size in enumerate(grid):
        k = torch.fft.fftfreq(size) * 2  # in units of the Nyquist wavenumber, [-1, 1)
        shape = [1] * len(grid)
        shape[d] = size
        k2 = k2 + k.reshape(shape).square()
    high = (k2.sqrt() > 0.5)[None, ..., None]
    dims = tuple(range(1, 2 + len(grid)))
    return (spec * high).sum(dims), spec.sum(dims)


def penalties(u: Tensor, prev: Tensor | None, op_pred: Tensor, spec: TaskSpec,
              channels: tuple[str, ...], std: Tensor, grid: tuple[int, ...] | None,
              cfg: TTCConfig) -> Tensor:
    """Weighted physics penalty of each candidate, (N,); lower is better.

    u: (N, P, C) decoded candidates in physical units; prev: (N, P, C) the state the step started
    from (None for a steady map); op_pred: (N, P, C) the operator's uncorrected prediction;
    std: (C,) the channels' train-split spread; grid: spatial shape when P is a full grid."""
    total = torch.zeros(u.shape[0], dtype=u.dtype)
    conserved = _channels(channels, spec.conserved)
    if cfg.conservation and conserved and prev is not None:
        now, before = u[..., conserved].mean(1), prev[..., conserved].mean(1)  # (N, Cc)
        scale = prev[..., conserved].abs().mean(1) + 1e-8
        total += cfg.conservation * ((now - before) / scale).square().mean(1)
    if cfg.boundary and grid is not None and not spec.periodic and prev is not None:
        mask = edge_mask(grid).reshape(1, -1, 1)  # (1, P, 1)
        change = ((u - prev) / std).square() * mask
        total += cfg.boundary * change.sum((1, 2)) / (mask.sum() * u.shape[-1])
    positive = _channels(channels, spec.positive)
    if cfg.positivity and positive:
        neg = torch.relu(-u[..., positive] / std[positive])
        total += cfg.positivity * neg.square().mean((1, 2))
    if cfg.smoothness and grid is not None:
        high, _ = high_energy(u, grid)
        ref_high, ref_total = high_energy(op_pred, grid)
        total += cfg.smoothness * torch.relu(high - ref_high) / (ref_total + 1e-8)
    return total
