"""Diffusion model of the latent operator's residual (the corrector's teacher).

The operator predicts z(t+dt); what it misses, r = z_true(t+dt) - operator(z(t)), is modelled as a
conditional distribution p(r | operator prediction, task, PDE parameters) by a denoising diffusion
model, as PDE-Refiner (Lippe et al. 2023) refines a prediction with a few noise levels. Noise is
variance-exploding in the EDM form (Karras et al. 2022): x_sigma = r + sigma * eps, with K levels
spaced geometrically from a small sigma_min to sigma_max (the few levels of PDE-Refiner). The
network is preconditioned with the data scale sigma_data and trained on the v-prediction target
(EDM's F target, (r - c_skip x) / c_out, which is v-prediction written in sigma units): a unit-
variance target at every level. Training draws sigma log-uniformly over [sigma_min, sigma_max], so
the model is defined between the K levels too (the consistency teacher's sub-steps need that).
Sampling starts from noise and integrates the probability-flow ODE over the K levels with
DPM-Solver++(2M) (a second-order DDIM, one network call per level): plain first-order DDIM on a
handful of levels under-disperses the samples by ~25 %, the multistep correction removes that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ups.models.blocks import MLP, Block, FourierFeatures
from ups.models.lattice import anchors, side
from ups.tasks import TASK_NAMES, get_task


@dataclass(frozen=True)
class NoiseSchedule:
    """K noise levels sigma_0 = sigma_min < ... < sigma_{K-1} = sigma_max, spaced geometrically.

    Variance exploding: level k holds x = r + sigma_k * eps. sigma_max should be ~10 sigma_data or
    more, so that sampling can start from pure noise sigma_max * eps. All values are in the units
    of the residual (normalised latent units); the fields are plain JSON-able numbers.
    """

    levels: int = 8
    sigma_min: float = 2e-3
    sigma_max: float = 10.0
    sigma_data: float = 1.0

    def __post_init__(self) -> None:
        if self.levels < 2:
            raise ValueError(f"levels must be >= 2, got {self.levels}")
        if not 0.0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got sigma_min={self.sigma_min}, "
                             f"sigma_max={self.sigma_max}")
        if not self.sigma_data > 0.0:
            raise ValueError(f"sigma_data must be > 0, got {self.sigma_data}")

    @property
    def sigmas(self) -> torch.Tensor:
        """(K,) the noise levels, increasing."""
        return geometric(self.sigma_min, self.sigma_max, self.levels)

    def sigma(self, k: torch.Tensor) -> torch.Tensor:
        """Integer levels (B,) -> their sigmas (B,)."""
        return self.sigmas.to(k.device)[k]

    def add_noise(self, x0: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor
                  ) -> torch.Tensor:
        """x0 (B, T, D), sigma (B,), noise (B, T, D) ~ N(0, 1) -> x0 + sigma * noise."""
        return x0 + sigma.to(x0.dtype)[:, None, None] * noise

    def add_noise_at_level(self, x0: torch.Tensor, k: torch.Tensor, noise: torch.Tensor
                           ) -> torch.Tensor:
        """Noise x0 (B, T, D) to the integer levels k (B,)."""
        return self.add_noise(x0, self.sigma(k), noise)

    def training_sigma(self, n: int, generator: torch.Generator, device: torch.device
                       ) -> torch.Tensor:
        """(n,) sigmas drawn log-uniformly over [sigma_min, sigma_max] (one per sample)."""
        u = rand((n,), generator, device)
        return torch.exp(math.log(self.sigma_min)
                         + u * (math.log(self.sigma_max) - math.log(self.sigma_min)))


def geometric(lo: float | torch.Tensor, hi: float | torch.Tensor, n: int) -> torch.Tensor:
    """n values from lo to hi (inclusive), evenly spaced in log; tensors broadcast: (n, ...)."""
    lo_t = torch.as_tensor(lo, dtype=torch.float64)
    hi_t = torch.as_tensor(hi, dtype=torch.float64, device=lo_t.device)
    t = torch.linspace(0.0, 1.0, n, dtype=torch.float64, device=lo_t.device)
    t = t.view(n, *([1] * lo_t.ndim))
    out = torch.exp(lo_t.log() + t * (hi_t.log() - lo_t.log()))
    # The ends exactly (exp(log(x)) may round): the consistency boundary relies on sigma_min.
    out[0], out[-1] = lo_t, hi_t
    return out.float()


def rand(shape: tuple[int, ...], generator: torch.Generator, device: torch.device
         ) -> torch.Tensor:
    """Uniform [0, 1) drawn on the generator's device, then moved (a CPU generator serves a GPU
    model; torch refuses a generator of another device)."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def randn(shape: tuple[int, ...], generator: torch.Generator, device: torch.device
          ) -> torch.Tensor:
    """Standard normal noise, like `rand`."""
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


@dataclass
class ResidualCond:
    """What the residual is conditioned on, for B samples.

    pred: the operator's prediction (B, T, D) in normalised latent units; task_ids (B,) long;
    params (B, P) raw PDE parameter values by PARAM_VOCAB position (log10 is taken inside, as in
    the operator); param_mask (B, P), 1 where the task has the parameter (None: all present).
    """

    pred: torch.Tensor
    task_ids: torch.Tensor
    params: torch.Tensor
    param_mask: torch.Tensor | None = None

    def mask(self) -> torch.Tensor:
        return torch.ones_like(self.params) if self.param_mask is None else self.param_mask

    def to(self, device: torch.device | str) -> ResidualCond:
        return ResidualCond(self.pred.to(device), self.task_ids.to(device),
                            self.params.to(device), self.mask().to(device))

    def repeat(self, n: int) -> ResidualCond:
        """Each condition n times in a row (B -> B * n), to draw n samples per condition."""
        return ResidualCond(self.pred.repeat_interleave(n, 0),
                            self.task_ids.repeat_interleave(n, 0),
                            self.params.repeat_interleave(n, 0),
                            self.mask().repeat_interleave(n, 0))


class Denoiser(nn.Module):
    """Conditional denoiser over residual tokens, EDM-preconditioned, v-prediction.

    `forward(x, sigma, cond)` is the raw network F (one call = one network evaluation; samplers
    and the consistency model go through it). `denoise` gives r_hat = c_skip x + c_out F. Each
    token sees its noisy residual and the operator's prediction side by side (concatenated);
    the noise level, task and PDE parameters form one adaLN conditioning vector.
    """

    def __init__(self, n_tasks: int, n_params: int, latent_dim: int, width: int,
                 heads: int, depth: int, sigma_data: float = 1.0):
        super().__init__()
        if not sigma_data > 0.0:
            raise ValueError(f"sigma_data must be > 0, got {sigma_data}")
        # Plain values only: checkpoints store them to rebuild the model (ConsistencyModel too).
        self.config = dict(n_tasks=n_tasks, n_params=n_params, latent_dim=latent_dim, width=width, heads=heads, depth=depth,
                           sigma_data=sigma_data)
        self.sigma_data = sigma_data
        self.inp = nn.Linear(2 * latent_dim, width)
        self.token_pos = FourierFeatures(3, width, n_freq=4)  # the cell a token stands for
        self.task_dims = [get_task(t).dims for t in TASK_NAMES[:n_tasks]]
        self.noise_emb = FourierFeatures(1, width, n_freq=6)
        self.task = nn.Embedding(n_tasks, width)
        self.param_mlp = MLP(2 * n_params, width, width)
        self.cond_mlp = MLP(width, 2 * width, width)
        self.blocks = nn.ModuleList(Block(width, heads, cond_dim=width) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, latent_dim)
        # F = 0 at the start: r_hat = c_skip x, the best guess for data of scale sigma_data.
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def precondition(self, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """EDM's c_skip, c_out, c_in for sigma (B,), each (B, 1, 1)."""
        s, sd = sigma[:, None, None], self.sigma_data
        c_skip = sd**2 / (s**2 + sd**2)
        c_out = s * sd / (s**2 + sd**2).sqrt()
        c_in = 1.0 / (s**2 + sd**2).sqrt()
        return c_skip, c_out, c_in

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: ResidualCond) -> torch.Tensor:
        """Noisy residual x (B, T, D) at noise sigma (B,) -> network output F (B, T, D)."""
        if x.shape != cond.pred.shape:
            raise ValueError(f"x {tuple(x.shape)} and cond.pred {tuple(cond.pred.shape)} must "
                             "have the same (B, T, D) shape")
        sigma = as_batch(sigma, x)
        _, _, c_in = self.precondition(sigma)
        # ln(sigma / sigma_data) / 4 (EDM's c_noise) spans about [-2.5, 1.5] for useful sigmas.
        c_noise = (sigma / self.sigma_data).log()[:, None] / 4.0  # (B, 1)
        mask = cond.mask()
        log_p = torch.log10(cond.params.clamp_min(1e-12)) * mask  # (B, P)
        c = (self.task(cond.task_ids) + self.noise_emb(c_noise)
             + self.param_mlp(torch.cat([log_p, mask], dim=-1)))
        c = self.cond_mlp(c)  # (B, W)
        dims = self.task_dims[int(cond.task_ids[0])]  # a batch holds one task (one lattice)
        where = self.token_pos(anchors(side(x.shape[1], dims), dims, x.device))
        h = self.inp(torch.cat([c_in * x, cond.pred], dim=-1)) + where  # (B, T, W)
        for block in self.blocks:
            h = block(h, c)
        return self.out(self.norm(h))  # (B, T, W) -> (B, T, D)

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, cond: ResidualCond) -> torch.Tensor:
        """Noisy residual x (B, T, D) at sigma (B,) (a level k: `schedule.sigma(k)`) -> r_hat."""
        sigma = as_batch(sigma, x)
        c_skip, c_out, _ = self.precondition(sigma)
        return c_skip * x + c_out * self(x, sigma, cond)


def as_batch(sigma: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """sigma as a (B,) tensor on x's device (a scalar is repeated)."""
    sigma = torch.as_tensor(sigma, dtype=torch.float32, device=x.device)
    return sigma.expand(x.shape[0]) if sigma.ndim == 0 else sigma


def diffusion_loss(model: Denoiser, schedule: NoiseSchedule, residual: torch.Tensor,
                   cond: ResidualCond, generator: torch.Generator) -> torch.Tensor:
    """Denoising loss on a batch of residuals (B, T, D): a scalar.

    One sigma per sample, log-uniform over [sigma_min, sigma_max]. The loss is the mean square
    error of F against the v-target (r - c_skip x) / c_out, i.e. EDM's weighting
    lambda(sigma) = 1 / c_out^2 on ||r_hat - r||^2: every level contributes a unit-scale term
    (about 1 for an untrained model). At sigma well below the residual's own spread the target
    is mostly unpredictable noise, so the loss cannot reach 0 there.
    """
    if abs(model.sigma_data - schedule.sigma_data) > 1e-12:
        raise ValueError(f"model sigma_data={model.sigma_data} differs from the schedule's "
                         f"sigma_data={schedule.sigma_data}")
    b = residual.shape[0]
    sigma = schedule.training_sigma(b, generator, residual.device)  # (B,)
    noise = randn(tuple(residual.shape), generator, residual.device)
    x = schedule.add_noise(residual, sigma, noise)
    c_skip, c_out, _ = model.precondition(sigma)
    target = (residual - c_skip * x) / c_out
    return ((model(x, sigma, cond) - target) ** 2).mean()


def ode_solve(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond: ResidualCond
              ) -> torch.Tensor:
    """Integrate the probability-flow ODE from sigmas[0] down to sigmas[-1] (DPM-Solver++(2M)).

    x (B, T, D) at sigmas[0]; sigmas (S + 1,) or (S + 1, B), decreasing, all > 0. One network
    call per step; the first step is DDIM (first order), later ones add the multistep
    correction from the previous denoised estimate. Returns x at sigmas[-1].
    """
    prev: torch.Tensor | None = None
    h_prev: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        s, s_next = as_batch(sigmas[i], x), as_batch(sigmas[i + 1], x)
        d = model.denoise(x, s, cond)
        h = (s / s_next).log()[:, None, None]  # step in log-SNR / 2, > 0
        if prev is None:
            d_eff = d
        else:
            r = h_prev / h
            d_eff = (1 + 1 / (2 * r)) * d - 1 / (2 * r) * prev
        ratio = (s_next / s)[:, None, None]
        x = ratio * x + (1 - ratio) * d_eff  # DDIM: exact if the denoiser were constant
        prev, h_prev = d, h
    return x


@torch.no_grad()
def sample(model: Denoiser, schedule: NoiseSchedule, cond: ResidualCond,
           generator: torch.Generator, steps: int | None = None) -> torch.Tensor:
    """Residual samples (B, T, D), one per condition, by the reverse process.

    Starts from sigma_max * eps (so seeds differ), runs the ODE over the K levels (or over
    `steps` geometric levels) and returns the denoised estimate at sigma_min: `steps` (default
    K) network calls in all.
    """
    n = schedule.levels if steps is None else steps
    if n < 2:
        raise ValueError(f"steps must be >= 2 (or None for the schedule's levels), got {steps}")
    sigmas = schedule.sigmas if steps is None else geometric(schedule.sigma_min,
                                                             schedule.sigma_max, n)
    sigmas = sigmas.flip(0).to(cond.pred.device)  # decreasing
    x = sigmas[0] * randn(tuple(cond.pred.shape), generator, cond.pred.device)
    x = ode_solve(model, x, sigmas, cond)
    return model.denoise(x, sigmas[-1], cond)
