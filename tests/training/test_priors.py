"""Decoded-field priors: chosen per task from the registry, dimensionless, zero when obeyed."""

from __future__ import annotations

import math

import pytest
import torch

from ups.config import LossConfig
from ups.tasks import get_task
from ups.training.priors import FieldFrame, edge_mask, field_terms, warmup_factor

ALL = LossConfig(spectral=1, boundary=1, conservation=1, positivity=1, divergence=1)


def frame(task: str, grid, mean=0.0, std=1.0) -> FieldFrame:
    spec = get_task(task)
    c = len(spec.channels)
    return FieldFrame(spec, spec.channels, torch.full((c,), mean), torch.full((c,), std), grid)


@pytest.mark.parametrize("task,grid,expected", [
    ("burgers1d", (16,), {"spectral", "conservation"}),  # periodic: no boundary term
    ("darcy2d", (8, 8), {"spectral", "boundary", "positivity"}),
    ("navier_stokes2d", (8, 8), {"spectral", "conservation", "divergence"}),
    ("compressible_ns3d", (4, 4, 4), {"spectral", "conservation", "positivity"}),
    ("darcy2d_mesh", None, {"positivity"}),  # points: no grid terms
    ("particles_advect", None, set()),
])
def test_terms_follow_the_registry(task, grid, expected):
    f = frame(task, grid)
    p = math.prod(grid) if grid else 10
    u = torch.randn(2, p, len(f.channels))
    assert set(field_terms(ALL, u, u, f)) == expected


def test_each_term_is_zero_when_obeyed_and_positive_when_violated():
    f = frame("compressible_ns1d", (16,), mean=1.0, std=0.5)
    ref = torch.randn(3, 16, 3) * 0.1
    same = field_terms(ALL, ref, ref, f)
    for name in ("spectral", "conservation", "positivity"):
        assert same[name][1]().item() == pytest.approx(0.0, abs=1e-12), name
    # Physical density = 1 + 0.5 u: u = -4 gives density -1, i.e. 2 standard deviations below 0.
    neg = ref.clone()
    neg[..., 0] = -4.0
    violated = field_terms(ALL, neg, ref, f)
    # (density, pressure) are the positive channels: (2^2 + 0) / 2.
    assert violated["positivity"][1]().item() == pytest.approx(2.0, rel=1e-5)
    assert violated["conservation"][1]().item() > 1.0
    assert violated["spectral"][1]().item() > 1.0


def test_boundary_and_divergence_values():
    f = frame("darcy2d", (4, 4))
    ref = torch.zeros(1, 16, 1)
    pred = ref.clone().reshape(1, 4, 4, 1)
    pred[0, 0, 0, 0] = 2.0  # one of the 12 edge points is off by 2
    terms = field_terms(ALL, pred.reshape(1, 16, 1), ref, f)
    assert terms["boundary"][1]().item() == pytest.approx(4.0 / 12.0)
    assert edge_mask((4, 4)).sum() == 12
    ns = frame("navier_stokes2d", (16, 16))
    x = torch.arange(16) / 16
    gx, gy = torch.meshgrid(x, x, indexing="ij")
    shear = torch.stack([torch.sin(2 * math.pi * gy), torch.zeros_like(gx), gx], -1)  # div 0
    source = torch.stack([torch.sin(2 * math.pi * gx), torch.zeros_like(gx), gx], -1)
    div = lambda u: field_terms(ALL, u.reshape(1, 256, 3), u.reshape(1, 256, 3), ns)  # noqa: E731
    assert div(shear)["divergence"][1]().item() < 1e-12
    assert div(source)["divergence"][1]().item() > 0.01


def test_gradients_reach_the_producer():
    f = frame("shallow_water2d", (4, 4), mean=1.0, std=0.1)
    layer = torch.nn.Linear(3, 1)
    x = torch.randn(2, 16, 3)
    pred = layer(x) - 20.0  # physical height far below zero
    terms = field_terms(ALL, pred, torch.zeros_like(pred), f)
    for name in ("positivity", "boundary", "spectral"):
        layer.zero_grad()
        terms[name][1]().backward(retain_graph=True)
        assert layer.weight.grad.abs().sum() > 0, name


def test_warmup_factor():
    assert [warmup_factor(s, 4) for s in (0, 2, 4, 9)] == [0.0, 0.5, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0
