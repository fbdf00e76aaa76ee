"""Residual diffusion corrector and its consistency distillation, on toy residuals (CPU).

The toy: per token and channel, r = A * pred + b[task] + S * N(0, 1), so the true conditional
mean and spread are known. A regressor would give spread ~0; the diffusion sampler and the
distilled student must reproduce S. Sizes are small so the whole file runs in seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from ups.models.consistency import (
    ConsistencyModel,
    DistillationObjective,
    consistency_sample,
    update_target,
)
from ups.models.corrector import (
    Denoiser,
    NoiseSchedule,
    ResidualCond,
    diffusion_loss,
    sample,
)

T, D, P = 4, 8, 2  # tokens, latent dim, PDE parameters
A, B_TASK = 0.8, torch.tensor([0.5, -0.5])
S = 0.3  # the residual's true conditional spread
N_COND, REPS = 8, 512  # evaluation: 8 conditions, 512 samples each


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def toy(n: int, gen: torch.Generator, spread: float = S) -> tuple[torch.Tensor, ResidualCond]:
    pred = torch.randn(n, T, D, generator=gen)
    task = torch.randint(0, 2, (n,), generator=gen)
    params = torch.rand(n, P, generator=gen) + 0.5
    r = A * pred + B_TASK[task][:, None, None] + spread * torch.randn(n, T, D, generator=gen)
    return r, ResidualCond(pred, task, params)


def data_scale(spread: float) -> float:
    return math.sqrt(A**2 + float((B_TASK**2).mean()) + spread**2)  # RMS of the residual


def schedule(spread: float = S, sigma_min: float = 2e-3) -> NoiseSchedule:
    sd = data_scale(spread)
    return NoiseSchedule(levels=8, sigma_min=sigma_min, sigma_max=10 * sd, sigma_data=sd)


def denoiser(spread: float = S) -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(n_tasks=2, n_params=P, latent_dim=D, width=32, heads=2, depth=1,
                    sigma_data=data_scale(spread))


def fit(model: nn.Module, loss_fn: Callable[[int], torch.Tensor], steps: int,
        lr: float) -> list[float]:
    """Plain Adam with cosine decay; returns the loss history."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = loss_fn(step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    model.eval()
    return history


def eval_set() -> tuple[ResidualCond, torch.Tensor]:
    """N_COND conditions, each repeated REPS times, and their true means (N_COND, T, D)."""
    _, cond = toy(N_COND, torch.Generator().manual_seed(5))
    return cond.repeat(REPS), A * cond.pred + B_TASK[cond.task_ids][:, None, None]


def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples (N_COND * REPS, T, D) -> per-condition mean and spread (N_COND, T, D)."""
    x = x.view(N_COND, REPS, T, D)
    return x.mean(1), x.std(1)


class CallCounter:
    """Counts forward calls of a module (network evaluations)."""

    def __init__(self, module: nn.Module):
        self.calls = 0
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, *_: object) -> None:
        self.calls += 1


@pytest.fixture(scope="module")
def teacher() -> Denoiser:
    torch.set_num_threads(1)
    sched, model, gen = schedule(), denoiser(), torch.Generator().manual_seed(1)
    data = torch.Generator().manual_seed(2)

    def loss(step: int) -> torch.Tensor:
        r, c = toy(128, data)
        return diffusion_loss(model, sched, r, c, gen)

    fit(model, loss, steps=1000, lr=1e-2)
    return model.requires_grad_(False)


@pytest.fixture(scope="module")
def distilled(teacher: Denoiser) -> tuple[ConsistencyModel, ConsistencyModel]:
    """(student before distillation, student after)."""
    torch.set_num_threads(1)
    sched = schedule()
    objective, student = DistillationObjective.from_teacher(
        teacher, sched, torch.Generator().manual_seed(1), ema_decay=0.95, substeps=4)
    before = ConsistencyModel(**student.args())
    before.load_state_dict(student.state_dict())
    data = torch.Generator().manual_seed(3)

    def loss(step: int) -> torch.Tensor:
        r, c = toy(128, data)
        return objective(student, r, c, step)[0]

    fit(student, loss, steps=300, lr=1e-3)
    return before.eval(), student


# ---------------------------------------------------------------------------- unit checks


def test_noise_schedule_levels_are_monotone_with_exact_ends():
    sched = NoiseSchedule(levels=6, sigma_min=1e-3, sigma_max=5.0, sigma_data=0.5)
    sig = sched.sigmas
    assert sig.shape == (6,)
    assert torch.all(sig[1:] > sig[:-1])
    assert sig[0].item() == torch.tensor(1e-3).item() and sig[-1].item() == 5.0
    ratios = sig[1:] / sig[:-1]  # geometric spacing
    assert torch.allclose(ratios, ratios[0].expand_as(ratios), rtol=1e-4)
    x0, noise = torch.zeros(4000, T, D), torch.randn(4000, T, D)
    k = torch.full((4000,), 3)
    assert sched.add_noise_at_level(x0, k, noise).std().item() == pytest.approx(
        sig[3].item(), rel=0.02)
    drawn = sched.training_sigma(10_000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert drawn.min() >= 1e-3 and drawn.max() <= 5.0
    # log-uniform: the median sits at the geometric mean of the ends
    assert drawn.median().item() == pytest.approx(math.sqrt(1e-3 * 5.0), rel=0.1)


@pytest.mark.parametrize("kwargs, name", [({"levels": 1}, "levels"),
                                          ({"sigma_min": 0.0}, "sigma_min"),
                                          ({"sigma_min": 2.0, "sigma_max": 1.0}, "sigma_max"),
                                          ({"sigma_data": -1.0}, "sigma_data")])
def test_noise_schedule_rejects_bad_settings(kwargs, name):
    with pytest.raises(ValueError, match=name):
        NoiseSchedule(**kwargs)


def randomised(model: nn.Module) -> nn.Module:
    """Every weight random (the zero-initialised output and adaLN gates included), so the
    network's output is far from zero and a boundary condition cannot hold by accident."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return model


def test_consistency_boundary_condition_holds_exactly():
    sched = schedule()
    model = randomised(ConsistencyModel(sigma_min=sched.sigma_min, **denoiser().config))
    _, cond = toy(5, torch.Generator().manual_seed(0))
    x = torch.randn(5, T, D)
    assert model.net(x, sched.sigmas[0], cond).abs().mean() > 0.1  # F itself is not zero
    assert torch.equal(model(x, sched.sigmas[0], cond), x)
    assert not torch.allclose(model(x, sched.sigmas[1], cond), x, atol=1e-3)


def test_consistency_model_rebuilds_from_plain_arguments():
    sched = schedule()
    model = randomised(ConsistencyModel(sigma_min=sched.sigma_min, **denoiser().config))
    args = json.loads(json.dumps(model.args()))  # what a checkpoint stores
    rebuilt = ConsistencyModel(**args)
    rebuilt.load_state_dict(model.state_dict())
    _, cond = toy(3, torch.Generator().manual_seed(0))
    x = torch.randn(3, T, D)
    assert torch.equal(rebuilt(x, sched.sigmas[4], cond), model(x, sched.sigmas[4], cond))


def test_distillation_target_moves_once_per_step():
    sched = schedule()
    teacher = denoiser()
    objective, student = DistillationObjective.from_teacher(
        teacher, sched, torch.Generator().manual_seed(0), ema_decay=0.9)
    r, c = toy(4, torch.Generator().manual_seed(0))
    weight = lambda m: m.net.out.weight  # noqa: E731 (zero at init in all three)
    with torch.no_grad():
        student.net.out.weight.fill_(1.0)
    objective(student, r, c, step=0)
    objective(student, r, c, step=0)  # a second micro-batch of step 0: no update
    assert torch.equal(weight(objective.target), torch.zeros_like(weight(student)))
    objective(student, r, c, step=1)
    assert torch.allclose(weight(objective.target), torch.full_like(weight(student), 0.1))
    assert torch.equal(objective.teacher.out.weight, torch.zeros_like(weight(student)))
    with pytest.raises(ValueError, match="decay"):
        update_target(objective.target, student, decay=1.0)


def test_sampling_is_stochastic_per_seed_and_reproducible():
    sched, model = schedule(), randomised(denoiser())
    _, cond = toy(2, torch.Generator().manual_seed(0))
    a = sample(model, sched, cond, torch.Generator().manual_seed(1))
    b = sample(model, sched, cond, torch.Generator().manual_seed(1))
    c = sample(model, sched, cond, torch.Generator().manual_seed(2))
    assert a.shape == (2, T, D) and torch.equal(a, b) and not torch.allclose(a, c)


# ---------------------------------------------------------------------------- trained toys


def test_denoising_loss_falls():
    # A nearly deterministic residual: only the levels below its spread keep irreducible loss.
    spread = 0.02
    sched, model = schedule(spread, sigma_min=1e-2), denoiser(spread)
    gen, data = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)

    def loss(step: int) -> torch.Tensor:
        r, c = toy(128, data, spread)
        return diffusion_loss(model, sched, r, c, gen)

    history = fit(model, loss, steps=300, lr=3e-3)
    first, last = sum(history[:50]) / 50, sum(history[-50:]) / 50
    assert 0.5 < first < 1.5  # the preconditioned target has unit scale
    assert last < 0.5 * first


def test_diffusion_samples_reproduce_the_residual_distribution(teacher):
    sched = schedule()
    cond, true_mean = eval_set()
    counter = CallCounter(teacher)
    x = sample(teacher, sched, cond, torch.Generator().manual_seed(7))
    assert counter.calls == sched.levels  # one network call per level
    mean, spread = moments(x)
    assert (mean - true_mean).abs().mean() < 0.2 * S
    assert spread.mean() == pytest.approx(S, rel=0.15)
    assert spread.mean() > 0.7 * S  # not a regressor (spread ~0)
    # per condition too: the task offset and the prediction are used
    assert torch.all((spread.mean((1, 2)) / S - 1).abs() < 0.2)


def test_student_matches_teacher_in_one_and_two_calls(teacher, distilled):
    sched = schedule()
    _, student = distilled
    cond, _ = eval_set()
    t_mean, t_spread = moments(sample(teacher, sched, cond, torch.Generator().manual_seed(7)))
    counter = CallCounter(student.net)
    for steps in (1, 2):
        counter.calls = 0
        x = consistency_sample(student, sched, cond, torch.Generator().manual_seed(8), steps)
        assert counter.calls == steps < sched.levels
        mean, spread = moments(x)
        assert (mean - t_mean).abs().mean() < 0.2 * S
        assert spread.mean() / t_spread.mean() == pytest.approx(1.0, rel=0.15)


def test_student_spread_is_not_collapsed(distilled):
    before, student = distilled
    sched = schedule()
    cond, true_mean = eval_set()
    gen = torch.Generator().manual_seed(9)
    # Initialised from the teacher, one call gives the posterior mean: collapsed.
    assert moments(consistency_sample(before, sched, cond, gen, 1))[1].mean() < 0.3 * S
    for steps in (1, 2):
        mean, spread = moments(consistency_sample(student, sched, cond, gen, steps))
        assert spread.mean() > 0.85 * S
        assert (mean - true_mean).abs().mean() < 0.2 * S
