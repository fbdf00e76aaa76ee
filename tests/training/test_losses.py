"""Loss terms: zero on perfect/physical inputs, hand-computed values on violated ones, gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ups.training.losses import (
    boundary_loss,
    central_difference,
    conservation_loss,
    divergence_loss,
    diversity_loss,
    horizon_at,
    latent_norm_loss,
    positivity_loss,
    spectral_loss,
    weighted_sum,
)

TWO_PI = 2 * math.pi


def wave(n: int, k: int) -> torch.Tensor:
    """cos(2 pi k x) on n periodic points x = i / n, float64."""
    return torch.cos(TWO_PI * k * torch.arange(n, dtype=torch.float64) / n)


def field_maker(shape: tuple[int, ...], seed: int = 0) -> tuple[nn.Linear, torch.Tensor]:
    """A tiny nn.Linear and a fixed input; `lin(x).reshape(shape)` is the field under test."""
    gen = torch.Generator().manual_seed(seed)
    lin = nn.Linear(3, math.prod(shape)).double()
    x = torch.randn(1, 3, generator=gen, dtype=torch.float64)
    return lin, x


def assert_descends(lin: nn.Linear, loss_fn, lr: float = 1e-3) -> None:
    """The gradient is finite and non-zero, and a small step along it lowers the loss."""
    before = loss_fn()
    lin.zero_grad()
    before.backward()
    grads = [p.grad for p in lin.parameters()]
    norm = torch.sqrt(sum(g.square().sum() for g in grads))
    assert torch.isfinite(norm) and norm > 0
    with torch.no_grad():
        for p, g in zip(lin.parameters(), grads, strict=True):
            p -= lr * g / norm
    assert loss_fn().item() < before.item()


# ------------------------------------------------------------------------------ spectral


def test_spectral_hand_computed_1d():
    # target cos(2 pi x), error 0.5 cos(2 pi 3 x) on 8 points: plain relative error 0.5; with
    # high_weight 1 the weights are 1 + 1/4 (k=1) and 1 + 3/4 (k=3): sqrt(1.75 * 0.25 / 1.25).
    target = wave(8, 1)[None, :, None]
    pred = target + 0.5 * wave(8, 3)[None, :, None]
    assert spectral_loss(pred, target, dims=(1,)).item() == pytest.approx(0.5, rel=1e-10)
    assert spectral_loss(pred, target, dims=(1,), high_weight=1.0).item() == pytest.approx(
        math.sqrt(0.35), rel=1e-10)


@pytest.mark.parametrize("shape", [(2, 9, 3), (2, 8, 7, 2), (2, 6, 5, 4, 1)])
def test_spectral_without_weighting_is_relative_l2_error(shape):
    # Parseval: rfftn's half spectrum, with mirrored bins counted twice, has the physical norm.
    gen = torch.Generator().manual_seed(1)
    target = torch.randn(shape, generator=gen, dtype=torch.float64)
    pred = target + 0.3 * torch.randn(shape, generator=gen, dtype=torch.float64)
    dims = tuple(range(1, len(shape) - 1))
    norm = torch.linalg.vector_norm
    expected = (norm(pred - target, dim=dims) / norm(target, dim=dims)).mean()
    assert spectral_loss(pred, target, dims).item() == pytest.approx(expected.item(), rel=1e-10)


@pytest.mark.parametrize("shape", [(2, 16, 3), (2, 8, 6, 2), (1, 6, 4, 5, 2)])
def test_spectral_zero_for_identical_and_scale_invariant(shape):
    gen = torch.Generator().manual_seed(2)
    target = torch.randn(shape, generator=gen)
    pred = target + 0.1 * torch.randn(shape, generator=gen)
    dims = tuple(range(1, len(shape) - 1))
    assert spectral_loss(target, target.clone(), dims, high_weight=2.0).item() == 0.0
    base = spectral_loss(pred, target, dims, high_weight=2.0)
    assert base.item() > 0.05
    scaled = spectral_loss(7 * pred, 7 * target, dims, high_weight=2.0)
    assert scaled.item() == pytest.approx(base.item(), rel=1e-5)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_spectral_high_frequency_error_costs_more(ndim):
    n = 16
    target = wave(n, 1).reshape(1, n, *[1] * (ndim - 1), 1).expand(1, *[n] * ndim, 1)
    low = 0.1 * wave(n, 2).reshape(1, n, *[1] * (ndim - 1), 1).expand_as(target)
    high = 0.1 * wave(n, 6).reshape(1, n, *[1] * (ndim - 1), 1).expand_as(target)
    assert low.norm().item() == pytest.approx(high.norm().item())
    dims = tuple(range(1, ndim + 1))
    e_low = spectral_loss(target + low, target, dims, high_weight=1.0).item()
    e_high = spectral_loss(target + high, target, dims, high_weight=1.0).item()
    # |k| = (6/8) / sqrt(ndim) vs (2/8) / sqrt(ndim): ratio sqrt(w(6) / w(2)).
    ratio = math.sqrt((1 + 0.75 / math.sqrt(ndim)) / (1 + 0.25 / math.sqrt(ndim)))
    assert e_high / e_low == pytest.approx(ratio, rel=1e-9)
    assert e_high > 1.1 * e_low
    flat = [spectral_loss(target + e, target, dims).item() for e in (low, high)]
    assert flat[0] == pytest.approx(flat[1], rel=1e-9)  # no weighting: equal L2 errors tie


def test_spectral_gradient_and_bad_dims():
    target = wave(8, 1).reshape(1, 8, 1)
    lin, x = field_maker((1, 8, 1))
    assert_descends(lin, lambda: spectral_loss(lin(x).reshape(1, 8, 1), target, (1,), 1.0))
    for dims in [(0,), (2,), (-1,), (), (1, 1), (5,)]:
        with pytest.raises(ValueError, match="dims"):
            spectral_loss(target, target, dims)


# ------------------------------------------------------------------------------ boundary


def test_boundary_loss_values_and_empty_mask():
    values = torch.tensor([[[0.0], [3.0], [5.0], [1.0]]])  # (1, 4, 1)
    left = torch.tensor([True, False, False, False]).reshape(1, 4, 1)
    ends = torch.tensor([True, False, False, True]).reshape(1, 4, 1)
    assert boundary_loss(values, left, 0.0).item() == 0.0
    assert boundary_loss(values, ends, 1.0).item() == pytest.approx((1.0 + 0.0) / 2)
    assert boundary_loss(values, ends, torch.tensor([2.0])).item() == pytest.approx((4 + 1) / 2)
    empty = boundary_loss(values, torch.zeros(1, 4, 1, dtype=torch.bool), 0.0)
    assert empty.item() == 0.0
    with pytest.raises(ValueError, match="mask"):
        boundary_loss(values, torch.ones(4, dtype=torch.bool), 0.0)


def test_boundary_loss_darcy_frame_and_gradient():
    # Darcy: u = 0 on the whole boundary of a 2D grid.
    mask = torch.zeros(1, 5, 4, 1, dtype=torch.bool)
    mask[:, [0, -1]] = True
    mask[:, :, [0, -1]] = True
    u = torch.zeros(2, 5, 4, 1)
    u[:, 1:-1, 1:-1] = 3.0  # interior is free
    assert boundary_loss(u, mask, 0.0).item() == 0.0
    u[:, 0, 0] = 2.0  # 2 of the 2 * 14 boundary points violated by 2
    assert boundary_loss(u, mask, 0.0).item() == pytest.approx(2 * 4.0 / 28)
    lin, x = field_maker((2, 5, 4, 1))
    assert_descends(lin, lambda: boundary_loss(lin(x).reshape(2, 5, 4, 1), mask, 0.0))


# ------------------------------------------------------------------------------ conservation


def test_conservation_zero_for_rolled_positive_for_scaled():
    gen = torch.Generator().manual_seed(3)
    ref = torch.rand(2, 8, 6, 3, generator=gen, dtype=torch.float64) + 0.5  # (B, X, Y, C)
    rolled = ref.roll(shifts=(3, -2), dims=(1, 2))
    assert conservation_loss(rolled, ref).item() == pytest.approx(0.0, abs=1e-28)
    # Positive field: the loss is the squared relative drift of the total, (s - 1)^2.
    assert conservation_loss(1.1 * ref, ref).item() == pytest.approx(0.01, rel=1e-9)
    assert conservation_loss(1.5 * rolled, ref).item() == pytest.approx(0.25, rel=1e-9)
    # Scale-free: same drift in other units, same loss.
    assert conservation_loss(11 * ref, 10 * ref).item() == pytest.approx(0.01, rel=1e-9)


def test_conservation_hand_computed_zero_mean_and_points():
    # Zero-mean reference (momentum): normalised by the integral of |ref|, not by ref's mean.
    ref = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64).reshape(1, 4, 1)
    pred = ref + 0.5  # mean drifts by 0.5, mean |ref| = 1
    assert conservation_loss(pred, ref).item() == pytest.approx(0.25)
    # Point set with quadrature weights: integrals 1*2 + 3*1 = 5 vs 1*2 + 3*2 = 8, |ref| -> 8.
    ref_p = torch.tensor([[[2.0], [2.0]]], dtype=torch.float64)  # (1, P=2, 1)
    pred_p = torch.tensor([[[2.0], [1.0]]], dtype=torch.float64)
    w = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    assert conservation_loss(pred_p, ref_p, weights=w).item() == pytest.approx(9 / 64)
    assert conservation_loss(pred_p, ref_p, weights=w[0]).item() == pytest.approx(9 / 64)
    with pytest.raises(ValueError, match="weights"):
        conservation_loss(pred_p, ref_p, weights=torch.ones(3))


def test_conservation_gradient():
    ref = torch.ones(1, 6, 2, dtype=torch.float64)
    lin, x = field_maker((1, 6, 2))
    assert_descends(lin, lambda: conservation_loss(lin(x).reshape(1, 6, 2), ref))


# ------------------------------------------------------------------------------ positivity


def test_positivity_loss_values_and_gradient():
    assert positivity_loss(torch.tensor([0.0, 1.0, 2.0])).item() == 0.0
    assert positivity_loss(torch.tensor([-1.0, 1.0, -2.0, 3.0])).item() == pytest.approx(5 / 4)
    assert positivity_loss(torch.tensor([0.5, 2.0]), floor=1.0).item() == pytest.approx(0.125)
    lin, x = field_maker((1, 10, 1))
    with torch.no_grad():
        lin.bias.fill_(-1.0)
    assert_descends(lin, lambda: positivity_loss(lin(x)))


# ------------------------------------------------------------------------------ divergence


@pytest.mark.parametrize("periodic", [True, False])
def test_divergence_zero_for_stream_function_velocity(periodic):
    gen = torch.Generator().manual_seed(4)
    psi = torch.randn(2, 12, 10, generator=gen, dtype=torch.float64)
    dx, dy = 0.1, 0.25
    vx = central_difference(psi, 2, dy, periodic)  # d psi / dy
    vy = -central_difference(psi, 1, dx, periodic)  # -d psi / dx
    assert vx.abs().mean() > 0.5  # a real, non-trivial flow
    assert divergence_loss(vx, vy, (dx, dy), periodic).item() < 1e-24


def test_divergence_of_source_flows_hand_computed():
    n = 16
    h = 1.0 / n
    x = torch.arange(n, dtype=torch.float64) * h
    vx = torch.sin(TWO_PI * x)[None, :, None].expand(1, n, n)
    vy = torch.sin(TWO_PI * x)[None, None, :].expand(1, n, n)
    # Periodic central differences of sin: (sin(2 pi h) / h) cos; mean of (cos a + cos b)^2 = 1.
    expected = (math.sin(TWO_PI * h) / h) ** 2
    assert divergence_loss(vx, vy, h, periodic=True).item() == pytest.approx(expected, rel=1e-10)
    # v = (x, y) on a bounded grid: div = 2 everywhere, edges included (one-sided, exact).
    lin_x = x[None, :, None].expand(1, n, n)
    lin_y = x[None, None, :].expand(1, n, n)
    assert divergence_loss(lin_x, lin_y, h, periodic=False).item() == pytest.approx(4.0)
    # v = (x^2, 0) on x = 0, 1, 2, 3: central inside (2, 4), one-sided first order at the edges
    # (1 - 0, 9 - 4): mean of 1, 4, 16, 25.
    sq = (torch.arange(4.0) ** 2)[None, :, None].expand(1, 4, 3)
    assert divergence_loss(sq, torch.zeros_like(sq), 1.0, periodic=False).item() == 11.5


def test_divergence_gradient():
    lin, x = field_maker((2, 1, 8, 8))

    def loss():
        v = lin(x).reshape(2, 1, 8, 8)
        return divergence_loss(v[0], v[1], 0.125)

    assert_descends(lin, loss)


# ------------------------------------------------------------------------------ latent


def test_latent_norm_loss_values_and_gradient():
    signs = torch.tensor([[[1.0, -1.0, 1.0, -1.0], [-1.0, -1.0, 1.0, 1.0]]])  # RMS 1 each
    assert latent_norm_loss(signs).item() == pytest.approx(0.0, abs=1e-10)
    z = torch.stack([2 * signs[0, 0], 0.5 * signs[0, 1]])[None]  # RMS 2 and 0.5
    assert latent_norm_loss(z).item() == pytest.approx((1.0 + 0.25) / 2)
    assert latent_norm_loss(z, target=2.0).item() == pytest.approx((0.0 + 2.25) / 2)
    lin, x = field_maker((1, 4, 6))
    with torch.no_grad():
        lin.weight.mul_(5.0)
    assert_descends(lin, lambda: latent_norm_loss(lin(x).reshape(1, 4, 6)))


def test_diversity_loss_values_and_gradient():
    orthogonal = torch.eye(3, 5, dtype=torch.float64)[None] * torch.tensor([[[2.0], [0.5], [1.0]]])
    assert diversity_loss(orthogonal).item() == pytest.approx(0.0, abs=1e-12)
    collapsed = torch.tensor([[[1.0, 2.0], [2.0, 4.0], [-0.5, -1.0]]])
    assert diversity_loss(collapsed).item() == pytest.approx(1.0)
    sixty = torch.tensor([[[1.0, 0.0], [0.5, math.sqrt(3) / 2]]])  # cos 60 = 0.5
    assert diversity_loss(sixty).item() == pytest.approx(0.25)
    assert diversity_loss(torch.randn(2, 1, 4)).item() == 0.0  # one token: no pairs
    lin, x = field_maker((1, 4, 6))
    with torch.no_grad():
        lin.bias.fill_(1.0)  # every token leans towards (1, ..., 1)
    assert_descends(lin, lambda: diversity_loss(lin(x).reshape(1, 4, 6)))


# ------------------------------------------------------------------------------ weighted_sum


def test_weighted_sum_skips_zero_weight_terms():
    lin, x = field_maker((1, 8, 1))
    target = torch.zeros(1, 8, 1, dtype=torch.float64)
    calls = {"mse": 0, "pos": 0}

    def mse():
        calls["mse"] += 1
        return (lin(x).reshape(1, 8, 1) - target).square().mean()

    def pos():
        calls["pos"] += 1
        return positivity_loss(lin(x), floor=10.0)  # violated: would add a gradient

    def grads_of(terms):
        lin.zero_grad()
        total, parts = weighted_sum(terms)
        total.backward()
        return total, parts, [p.grad.clone() for p in lin.parameters()]

    t_ref, parts_ref, g_ref = grads_of({"mse": (0.5, mse)})
    t_zero, parts_zero, g_zero = grads_of({"mse": (0.5, mse), "pos": (0.0, pos)})
    assert calls == {"mse": 2, "pos": 0}
    assert t_zero.item() == t_ref.item()
    assert all(torch.equal(a, b) for a, b in zip(g_ref, g_zero, strict=True))
    assert set(parts_zero) == {"mse"} and parts_zero["mse"] == pytest.approx(2 * t_ref.item())

    t_both, parts_both, g_both = grads_of({"mse": (0.5, mse), "pos": (2.0, pos)})
    assert calls["pos"] == 1
    assert isinstance(parts_both["pos"], float) and parts_both["pos"] > 1.0
    assert t_both.item() == pytest.approx(0.5 * parts_both["mse"] + 2.0 * parts_both["pos"])
    assert not all(torch.equal(a, b) for a, b in zip(g_ref, g_both, strict=True))


def test_weighted_sum_all_zero_and_bad_weights():
    total, parts = weighted_sum({"a": (0.0, lambda: torch.ones(()))})
    assert total.item() == 0.0 and parts == {}
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="'a'"):
            weighted_sum({"a": (bad, lambda: torch.ones(()))})


# ------------------------------------------------------------------------------ horizon


def test_horizon_at_follows_schedule():
    schedule = [[0, 1], [500, 2], [1000, 4]]
    expected = {0: 1, 499: 1, 500: 2, 999: 2, 1000: 4, 10**6: 4}
    assert {s: horizon_at(s, schedule) for s in expected} == expected
    assert horizon_at(7, [(0, 3)]) == 3


@pytest.mark.parametrize("schedule, problem", [
    ([], "empty"),
    ([[10, 1], [20, 2]], "step 0"),
    ([[0, 1], [500, 2], [300, 4]], "not sorted"),
    ([[0, 1], [500, 2], [500, 4]], "not sorted"),
    ([[0, 0]], "value 0"),
    ([[0, 1], [100, -2]], "value -2"),
    ([[0, 1, 2]], "pair"),
    ([[0, 1.5]], "pair"),
])
def test_horizon_schedule_validation(schedule, problem):
    with pytest.raises(ValueError, match=problem):
        horizon_at(0, schedule)


def test_horizon_at_rejects_negative_step():
    with pytest.raises(ValueError, match="step"):
        horizon_at(-1, [[0, 1]])
