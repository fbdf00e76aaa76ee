"""Latent operator: advances the latent tokens of a task's lattice by one stored time step.

The tokens sit on the task's lattice (`ups.models.lattice`: one token per cell of the domain), so
the operator is a stack of convolutional blocks over that lattice: each block mixes every token
with its neighbours (a full convolution of `kernel` cells per axis; circular on periodic tasks,
zero-padded at walls), then a per-token MLP, modulated through adaLN-Zero by the time step dt,
the task and the PDE parameters. Shared weights across places make it translation-equivariant,
which is what generalises from few trajectories; stacking blocks widens its reach. Parameters
enter by name (a parameter vocabulary, like the field vocabulary) on a log10 scale, since
PDEBench's viscosities and speeds span decades. It predicts an increment:
z(t + dt) = z(t) + f(z(t), cond), so an untrained operator starts as persistence.

Steady tasks (Darcy: coefficient -> solution) have no time step. The same trunk serves them with
a separate output head, `steady(z_in)`: the latent of the input field (the encoded coefficient)
maps to the latent of the solution (the "steady prior"). They are conditioned on a learned
"steady" embedding in place of dt.

Transient tasks with input fields (incompressible NS: a forcing field per trajectory) are
conditioned on them too: the forcing, encoded into the same lattice by the same encoder, enters
token by token through its own projection (`force`), added to the state's token features before
the blocks (token i of both is the same cell). The projection starts at zero: the forcing's
influence is learned from nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ups.models.blocks import MLP, FourierFeatures
from ups.models.lattice import anchors, side
from ups.tasks import TASK_NAMES, get_task


class Conditioning(nn.Module):
    """(task id, dt, named PDE parameters) -> one conditioning vector per sample."""

    def __init__(self, n_tasks: int, n_params: int, width: int):
        super().__init__()
        self.task = nn.Embedding(n_tasks, width)
        self.dt = FourierFeatures(1, width, n_freq=4)
        self.param_scale = nn.Parameter(torch.randn(n_params, width) * 0.1)
        self.param_bias = nn.Parameter(torch.zeros(n_params, width))
        self.steady = nn.Parameter(torch.randn(width) * 0.1)
        self.mlp = MLP(width, 2 * width, width)

    def forward(self, task_ids: torch.Tensor, dt: torch.Tensor, params: torch.Tensor,
                param_mask: torch.Tensor) -> torch.Tensor:
        """task_ids (B,), dt (B,), params (B, P) raw values, param_mask (B, P) -> (B, W)."""
        log_p = torch.log10(params.clamp_min(1e-12)) * param_mask  # (B, P)
        p = (log_p[..., None] * self.param_scale + self.param_bias) * param_mask[..., None]
        # log10(dt) spans about [-4, 1]; map it into [0, 1] like the coordinates. dt = 0 marks
        # a steady map, which gets its own learned embedding instead.
        steady = (dt <= 0)[:, None]
        dt_feat = self.dt(((torch.log10(dt.clamp_min(1e-12)) + 4.0) / 5.0)[:, None])
        dt_feat = torch.where(steady, self.steady, dt_feat)
        return self.mlp(self.task(task_ids) + dt_feat + p.sum(1))


class LatticeBlock(nn.Module):
    """Neighbour mixing over the token lattice (a full convolution per spatial dimension count),
    then an MLP, both gated by adaLN-Zero: every block starts as the identity."""

    def __init__(self, width: int, cond_dim: int, kernel: int, dims: tuple[int, ...]):
        super().__init__()
        self.kernel = kernel
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
        self.conv = nn.ModuleDict({str(d): conv[d](width, width, kernel) for d in dims})
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = MLP(width, 4 * width, width)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 3 * width))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, h: torch.Tensor, cond: torch.Tensor, dims: int,
                periodic: bool) -> torch.Tensor:
        """h (B, L, W) on an m^dims lattice, cond (B, W) -> (B, L, W)."""
        b, n, w = h.shape
        m = side(n, dims)
        x = h.transpose(1, 2).reshape(b, w, *([m] * dims))  # (B, W, m, ...)
        r = self.kernel // 2
        x = F.pad(x, [r, r] * dims, mode="circular" if periodic else "constant")
        x = self.conv[str(dims)](x).reshape(b, w, n).transpose(1, 2)  # (B, L, W)
        shift, scale, gate = self.ada(cond)[:, None].chunk(3, dim=-1)
        return h + gate * self.mlp(self.norm(x) * (1 + scale) + shift)


class LatentOperator(nn.Module):
    def __init__(self, n_tasks: int, n_params: int, latent_dim: int, width: int, depth: int,
                 kernel: int = 3, dims: tuple[int, ...] = (1, 2, 3)):
        super().__init__()
        self.cond = Conditioning(n_tasks, n_params, width)
        self.inp = nn.Linear(latent_dim, width)
        # Zero-initialised without drawing random numbers, so that the other layers start
        # exactly as before it existed (tasks without input fields train bit for bit the same).
        self.force = nn.utils.skip_init(nn.Linear, latent_dim, width)
        nn.init.zeros_(self.force.weight)
        nn.init.zeros_(self.force.bias)
        # Where a cell is, for tasks with walls only: periodic tasks stay translation-equivariant.
        self.pos = FourierFeatures(3, width, n_freq=4)
        self.blocks = nn.ModuleList(LatticeBlock(width, width, kernel, tuple(dims))
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, latent_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.steady_out = nn.Linear(width, latent_dim)
        # Each task's lattice dimensions and boundary kind, by task id.
        self.task_dims = [get_task(t).dims for t in TASK_NAMES[:n_tasks]]
        self.task_periodic = [get_task(t).periodic for t in TASK_NAMES[:n_tasks]]

    def _trunk(self, z: torch.Tensor, task_ids: torch.Tensor, dt: torch.Tensor,
               params: torch.Tensor, param_mask: torch.Tensor,
               forcing: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, L, D), forcing latents (B, L, D) or None -> conditioned token features
        (B, L, W)."""
        c = self.cond(task_ids, dt, params, param_mask)  # (B, W)
        task = int(task_ids[0])  # a batch holds one task (one lattice)
        dims, periodic = self.task_dims[task], self.task_periodic[task]
        h = self.inp(z)
        if not periodic:
            h = h + self.pos(anchors(side(z.shape[1], dims), dims, z.device))
        if forcing is not None:
            if forcing.shape != z.shape:
                raise ValueError(f"forcing latents {tuple(forcing.shape)} must match the state's "
                                 f"{tuple(z.shape)}")
            h = h + self.force(forcing)
        for block in self.blocks:
            h = block(h, c, dims, periodic)
        return self.norm(h)

    def forward(self, z: torch.Tensor, task_ids: torch.Tensor, dt: torch.Tensor,
                params: torch.Tensor, param_mask: torch.Tensor,
                forcing: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, L, D) -> z at the next step (B, L, D); `forcing`: the latents of the
        trajectory's input fields (B, L, D), for tasks that have them."""
        return z + self.out(self._trunk(z, task_ids, dt, params, param_mask, forcing))

    def steady(self, z_in: torch.Tensor, task_ids: torch.Tensor, dt: torch.Tensor,
               params: torch.Tensor, param_mask: torch.Tensor) -> torch.Tensor:
        """Latent of the input field (B, L, D) -> latent of the steady solution (B, L, D).

        `dt` is ignored (the steady embedding is used); it is accepted so that the same
        conditioning dict serves both heads."""
        steady_dt = torch.zeros_like(dt)
        return self.steady_out(self._trunk(z_in, task_ids, steady_dt, params, param_mask))

    def rollout(self, z0: torch.Tensor, steps: int, **cond: torch.Tensor) -> torch.Tensor:
        """Autoregressive rollout: z0 (B, L, D) -> (B, steps, L, D), states after each step."""
        out, z = [], z0
        for _ in range(steps):
            z = self(z, **cond)
            out.append(z)
        return torch.stack(out, dim=1)
