"""Loss terms on decoded fields, chosen per task from the registry's physics.

A phase decodes fields (normalised units, `(B, P, C)` at the task's points) and asks `field_terms`
for the terms that apply to that task: the spectral error and boundary values need a grid; a
conservation prior needs channels the registry marks `conserved`; positivity needs `positive`
channels; the divergence prior needs a 2D grid and the `divergence_free` velocity. A term that
does not apply is left out, so its weight cannot silently do nothing on a task that has it.

Every term is dimensionless so that one weight serves all tasks: physical integrals are compared
relative to their size, negative parts and divergences are measured in units of the channel's
train-split standard deviation (per grid cell for the divergence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ups.config import LossConfig
from ups.tasks import TaskSpec
from ups.training.losses import (
    boundary_loss,
    conservation_loss,
    divergence_loss,
    positivity_loss,
    spectral_loss,
)

Term = tuple[float, Callable[[], Tensor]]


@dataclass(frozen=True)
class FieldFrame:
    """What the priors need to know about decoded fields of one task and field set."""

    spec: TaskSpec
    channels: tuple[str, ...]
    mean: Tensor  # (C,) train-split statistics of the channels
    std: Tensor  # (C,)
    grid: tuple[int, ...] | None  # spatial shape when the P points are the task's full grid

    def physical(self, u: Tensor) -> Tensor:
        return u * self.std.to(u.device) + self.mean.to(u.device)

    def indices(self, names: tuple[str, ...]) -> list[int]:
        return [self.channels.index(c) for c in names if c in self.channels]


def edge_mask(shape: tuple[int, ...], device: torch.device | None = None) -> Tensor:
    """(1, *shape, 1) bool, true on the outermost layer of grid points."""
    mask = torch.zeros(shape, dtype=torch.bool, device=device)
    for axis in range(len(shape)):
        index = [slice(None)] * len(shape)
        for end in (0, -1):
            index[axis] = end
            mask[tuple(index)] = True
    return mask[None, ..., None]


def field_terms(w: LossConfig, pred: Tensor, reference: Tensor, frame: FieldFrame,
                before: Tensor | None = None) -> dict[str, Term]:
    """The decoded-field loss terms that apply to `frame`'s task, as `weighted_sum` terms.

    pred, reference: (B, P, C) normalised decoded fields and what they should match (the true
    fields, or the decoded true latent); before: (B, P, C) the state a time step started from,
    whose integrals a conserving step keeps (defaults to `reference`).
    """
    b, _, c = pred.shape
    terms: dict[str, Term] = {}
    grid = frame.grid
    if grid is not None:
        shaped = (b, *grid, c)
        terms["spectral"] = (w.spectral, lambda: spectral_loss(
            pred.reshape(shaped), reference.reshape(shaped), dims=range(1, 1 + len(grid)),
            high_weight=w.spectral_high_weight))
        if not frame.spec.periodic:
            mask = edge_mask(grid, pred.device)
            terms["boundary"] = (w.boundary, lambda: boundary_loss(
                pred.reshape(shaped), mask, reference.reshape(shaped)))
    conserved = frame.indices(frame.spec.conserved)
    if conserved:
        start = reference if before is None else before
        terms["conservation"] = (w.conservation, lambda: conservation_loss(
            frame.physical(pred)[..., conserved], frame.physical(start)[..., conserved],
            dims=[1]))
    positive = frame.indices(frame.spec.positive)
    if positive:
        scale = frame.std.to(pred.device)[positive]
        terms["positivity"] = (w.positivity, lambda: positivity_loss(
            frame.physical(pred)[..., positive] / scale))
    velocity = frame.indices(frame.spec.divergence_free)
    if grid is not None and len(grid) == 2 and len(velocity) == 2:
        terms["divergence"] = (w.divergence, lambda: _divergence(pred, frame, velocity, grid))
    return terms


def _divergence(pred: Tensor, frame: FieldFrame, velocity: list[int],
                grid: tuple[int, ...]) -> Tensor:
    """Divergence per grid cell of the physical velocity, in units of its typical size."""
    u = frame.physical(pred).reshape(pred.shape[0], *grid, pred.shape[-1])
    scale = frame.std.to(pred.device)[velocity].mean()
    vx, vy = u[..., velocity[0]] / scale, u[..., velocity[1]] / scale
    return divergence_loss(vx, vy, 1.0, periodic=frame.spec.periodic)


def warmup_factor(step: int, warmup: int) -> float:
    """0 -> 1 linearly over `warmup` steps (1 at once when warmup is 0)."""
    return 1.0 if warmup <= 0 else min(1.0, step / warmup)
