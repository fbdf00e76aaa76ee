"""Consistency distillation of the residual diffusion model: 1-2 network calls per sample.

A consistency model f(x, sigma) (Song et al. 2023, "Consistency Models") maps any point of a
probability-flow ODE trajectory to the trajectory's end, so one call turns sigma_max * eps into a
residual sample. It wraps a `Denoiser` with c_skip(sigma) = sd^2 / ((sigma - sigma_min)^2 + sd^2)
and c_out(sigma) = sd (sigma - sigma_min) / sqrt(sigma^2 + sd^2): at sigma_min c_skip = 1 and
c_out = 0 exactly, the boundary condition f(x, sigma_min) = x by construction. Distillation (CD):
noise a residual to level n+1, take one teacher ODE step to level n (DPM-Solver++(2M) sub-steps of
`ups.models.corrector.ode_solve`; the teacher is frozen), and pull the student's f at level n+1
towards the EMA target's f at level n (squared error, weight 1). The target is an exponential
moving average of the student (stop-gradient); both start from the teacher's weights. Sampling
with 2 steps re-noises the first estimate to an intermediate level and applies f once more.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TypeVar

import torch
from torch import nn

from ups.models.corrector import (
    Denoiser,
    NoiseSchedule,
    ResidualCond,
    as_batch,
    geometric,
    ode_solve,
    rand,
    randn,
)

M = TypeVar("M", bound=nn.Module)


class ConsistencyModel(nn.Module):
    """f(x, sigma) = c_skip(sigma) x + c_out(sigma) F(x, sigma, cond), F a `Denoiser` network.

    Constructor arguments are plain values (the denoiser's plus sigma_min), so a checkpoint
    rebuilds it with `ConsistencyModel(**model_args)`; see `args()`.
    """

    def __init__(self, sigma_min: float, **denoiser_args: float | int):
        super().__init__()
        if not sigma_min > 0.0:
            raise ValueError(f"sigma_min must be > 0, got {sigma_min}")
        self.net = Denoiser(**denoiser_args)  # type: ignore[arg-type]
        self.sigma_min = sigma_min
        self.sigma_data = self.net.sigma_data

    @classmethod
    def from_denoiser(cls, teacher: Denoiser, sigma_min: float) -> ConsistencyModel:
        """A student initialised with the teacher's weights (as in Song et al.)."""
        model = cls(sigma_min, **teacher.config)
        model.net.load_state_dict(teacher.state_dict())
        return model

    def args(self) -> dict[str, float | int]:
        """The constructor arguments, for `save_checkpoint(model_args=...)`."""
        return {"sigma_min": self.sigma_min, **self.net.config}

    def coefficients(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """c_skip, c_out (B, 1, 1) for sigma (B,); exactly 1 and 0 at sigma_min."""
        s = sigma[:, None, None]
        sd = self.sigma_data
        shifted = s - torch.tensor(self.sigma_min, dtype=s.dtype, device=s.device)
        c_skip = sd**2 / (shifted**2 + sd**2)
        c_out = sd * shifted / (s**2 + sd**2).sqrt()
        return c_skip, c_out

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: ResidualCond) -> torch.Tensor:
        """x (B, T, D) at noise sigma (B,) -> the estimated trajectory end (B, T, D)."""
        sigma = as_batch(sigma, x)
        c_skip, c_out = self.coefficients(sigma)
        return c_skip * x + c_out * self.net(x, sigma, cond)


def frozen_copy(model: M) -> M:
    """A copy that takes no gradients (the frozen teacher, the EMA target)."""
    return copy.deepcopy(model).eval().requires_grad_(False)


@torch.no_grad()
def update_target(target: nn.Module, student: nn.Module, decay: float) -> None:
    """EMA of the student: target <- decay * target + (1 - decay) * student (params, buffers).

    `ups.training.optim.ModelEMA` keeps a shadow dict for evaluation-time swapping; the CD target
    must be a separate module evaluated beside the student in the same step, hence this helper.
    """
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"decay must be in [0, 1), got {decay}")
    for t, s in zip(target.parameters(), student.parameters(), strict=True):
        t.lerp_(s.detach().to(t.dtype), 1.0 - decay)
    for t, s in zip(target.buffers(), student.buffers(), strict=True):
        t.copy_(s)


def consistency_distillation_loss(student: ConsistencyModel, ema_student: ConsistencyModel,
                                  teacher: Denoiser, schedule: NoiseSchedule,
                                  residual: torch.Tensor, cond: ResidualCond,
                                  generator: torch.Generator, substeps: int = 4
                                  ) -> torch.Tensor:
    """The CD loss on a batch of residuals (B, T, D): a scalar.

    Per sample a level n in {0, ..., K-2}; x_{n+1} = r + sigma_{n+1} eps; the frozen teacher
    solves the ODE to sigma_n in `substeps` DPM-Solver++(2M) steps (1 = one DDIM step; more
    steps follow the ODE more closely, so the student inherits less discretisation error); the
    loss is ||f(x_{n+1}, sigma_{n+1}) - f_ema(x_n, sigma_n)||^2 / sigma_data^2, averaged. At n = 0
    the target is x_0 itself (the boundary condition).
    """
    if substeps < 1:
        raise ValueError(f"substeps must be >= 1, got {substeps}")
    if abs(student.sigma_min - schedule.sigma_min) > 0.0:
        raise ValueError(f"student sigma_min={student.sigma_min} differs from the schedule's "
                         f"sigma_min={schedule.sigma_min}")
    b, device = residual.shape[0], residual.device
    n = (rand((b,), generator, device) * (schedule.levels - 1)).long().clamp_max(
        schedule.levels - 2)  # (B,) uniform over 0..K-2
    sigmas = schedule.sigmas.to(device)
    s_hi, s_lo = sigmas[n + 1], sigmas[n]  # (B,)
    x_hi = schedule.add_noise(residual, s_hi, randn(tuple(residual.shape), generator, device))
    with torch.no_grad():
        x_lo = ode_solve(teacher, x_hi, geometric(s_hi, s_lo, substeps + 1).to(device), cond)
        target = ema_student(x_lo, s_lo, cond)
    out = student(x_hi, s_hi, cond)
    return ((out - target) ** 2).mean() / schedule.sigma_data**2


@dataclass
class DistillationObjective:
    """The CD loss as the training loop needs it: it owns the frozen teacher and the EMA target.

    The shared loop only calls `loss(model, batch)` each step, so the caller's Phase.loss is
    `lambda m, b: objective(m, residual_of(b), cond_of(b), b["step"])`. On the first call of a
    new step the target is moved towards the student's current weights (those after the last
    optimizer step; extra micro-batches of the same step do not update it again). The teacher
    and the target follow the student to its device.
    """

    teacher: Denoiser
    target: ConsistencyModel
    schedule: NoiseSchedule
    generator: torch.Generator
    ema_decay: float = 0.95
    substeps: int = 4
    _last_step: int | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_teacher(cls, teacher: Denoiser, schedule: NoiseSchedule,
                     generator: torch.Generator, ema_decay: float = 0.95, substeps: int = 4
                     ) -> tuple[DistillationObjective, ConsistencyModel]:
        """(objective, student): the student to train and the target both start as the
        teacher."""
        student = ConsistencyModel.from_denoiser(teacher, schedule.sigma_min)
        objective = cls(frozen_copy(teacher), frozen_copy(student), schedule, generator,
                        ema_decay, substeps)
        return objective, student

    def __call__(self, student: ConsistencyModel, residual: torch.Tensor, cond: ResidualCond,
                 step: int) -> tuple[torch.Tensor, dict[str, float]]:
        device = residual.device
        if next(self.teacher.parameters()).device != device:
            self.teacher.to(device)
            self.target.to(device)
        if self._last_step is not None and step != self._last_step:
            update_target(self.target, student, self.ema_decay)
        self._last_step = step
        loss = consistency_distillation_loss(student, self.target, self.teacher, self.schedule,
                                             residual, cond, self.generator, self.substeps)
        return loss, {"cd": loss.item()}


@torch.no_grad()
def consistency_sample(model: ConsistencyModel, schedule: NoiseSchedule, cond: ResidualCond,
                       generator: torch.Generator, steps: int = 1) -> torch.Tensor:
    """Residual samples (B, T, D) in `steps` network calls (multistep consistency sampling).

    Step 1 maps sigma_max * eps to a sample; each further step re-noises it to a lower level of
    the schedule (evenly spaced level indices, e.g. K/2 for 2 steps) and maps it back.
    """
    if not 1 <= steps < schedule.levels:
        raise ValueError(f"steps must be in [1, {schedule.levels - 1}], got {steps}")
    device = cond.pred.device
    sigmas = schedule.sigmas.to(device)
    idx = torch.linspace(schedule.levels - 1, 0, steps + 1).round().long()[:-1]  # decreasing
    shape = tuple(cond.pred.shape)
    x = model(sigmas[idx[0]] * randn(shape, generator, device), sigmas[idx[0]], cond)
    for k in idx[1:]:
        # Re-noise the estimate to level k: variance sigma_k^2 - sigma_min^2 is added.
        scale = (sigmas[k] ** 2 - schedule.sigma_min**2).sqrt()
        x = model(x + scale * randn(shape, generator, device), sigmas[k], cond)
    return x
