"""Test-time conditioning's physics penalties: each term reacts to its violation only."""

from __future__ import annotations

import math

import torch

from ups.config import TTCConfig
from ups.eval.ttc import high_energy, penalties
from ups.tasks import get_task

ONLY = {name: TTCConfig(**{k: float(k == name) for k in
                           ("conservation", "boundary", "positivity", "smoothness")})
        for name in ("conservation", "boundary", "positivity", "smoothness")}
X = torch.arange(64) / 64


def field(values: torch.Tensor) -> torch.Tensor:
    """(N, 64) -> (N, 64, 1)."""
    return values[..., None].double()


def score(u, prev, ref, task, cfg, grid=(64,), channels=("u",)):
    std = torch.ones(len(channels), dtype=torch.float64)
    return penalties(u, prev, ref, get_task(task), channels, std, grid, cfg)


def test_conservation_penalises_a_changed_total_only():
    prev = field(1 + torch.sin(2 * math.pi * X)[None])
    moved = field(1 + torch.sin(2 * math.pi * (X - 0.1))[None])  # advected: same total
    grown = prev * 1.2
    s = score(torch.cat([moved, grown]), torch.cat([prev, prev]), torch.cat([prev, prev]),
              "advection1d", ONLY["conservation"])
    assert s[0] < 1e-10 and s[1] > 1e-3


def test_positivity_applies_to_positive_channels_only():
    u = field(torch.stack([torch.sin(2 * math.pi * X), 1 + 0 * X]))
    s = score(u, u, u, "reaction_diffusion1d", ONLY["positivity"])  # u must stay >= 0
    assert s[0] > 0.1 and s[1] == 0
    assert torch.all(score(u, u, u, "advection1d", ONLY["positivity"]) == 0)


def test_smoothness_penalises_added_high_frequencies_not_low_ones():
    base = field(torch.sin(2 * math.pi * X)[None]).repeat(3, 1, 1)
    low = base + 0.3 * field(torch.cos(2 * math.pi * 2 * X)[None])
    high = base + 0.3 * field(torch.cos(2 * math.pi * 28 * X)[None])
    s = score(torch.cat([base[:1], low[:1], high[:1]]), base, base, "advection1d",
              ONLY["smoothness"])
    assert s[0] < 1e-12 and s[1] < 1e-12 and s[2] > 0.01
    high_e, total = high_energy(high[:1], (64,))
    assert 0 < high_e.item() < total.item()


def test_boundary_applies_to_non_periodic_grids():
    prev = field(torch.ones(1, 64))
    edge = prev.clone()
    edge[:, 0] = 2.0
    inside = prev.clone()
    inside[:, 30] = 2.0
    both = torch.cat([edge, inside])
    s = score(both, prev.repeat(2, 1, 1), prev.repeat(2, 1, 1), "diffusion_sorption1d",
              ONLY["boundary"])
    assert s[0] > 0 and s[1] == 0
    periodic = score(both, prev.repeat(2, 1, 1), prev.repeat(2, 1, 1), "advection1d",
                     ONLY["boundary"])
    assert torch.all(periodic == 0)


def test_weights_scale_the_terms_and_zero_switches_them_off():
    prev = field(1 + 0 * X[None])
    u = -prev
    one = score(u, prev, prev, "reaction_diffusion1d", ONLY["positivity"])
    two = score(u, prev, prev, "reaction_diffusion1d",
                TTCConfig(conservation=0, boundary=0, positivity=2, smoothness=0))
    off = score(u, prev, prev, "reaction_diffusion1d",
                TTCConfig(conservation=0, boundary=0, positivity=0, smoothness=0))
    assert two.item() == 2 * one.item() > 0 and off.item() == 0
