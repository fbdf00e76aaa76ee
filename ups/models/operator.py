"""Latent operator: advances latent tokens by one stored time step.

A transformer over the latent tokens, conditioned through adaLN on the time step dt, the task and
the PDE parameters. Parameters enter by name (a parameter vocabulary, like the field vocabulary)
on a log10 scale, since PDEBench's viscosities and speeds span decades. It predicts an increment:
z(t + dt) = z(t) + f(z(t), cond), so an untrained operator starts as persistence.
"""

from __future__ import annotations

import torch
from torch import nn

from ups.models.blocks import MLP, Block, FourierFeatures


class Conditioning(nn.Module):
    """(task id, dt, named PDE parameters) -> one conditioning vector per sample."""

    def __init__(self, n_tasks: int, n_params: int, width: int):
        super().__init__()
        self.task = nn.Embedding(n_tasks, width)
        self.dt = FourierFeatures(1, width, n_freq=4)
        self.param_scale = nn.Parameter(torch.randn(n_params, width) * 0.1)
        self.param_bias = nn.Parameter(torch.zeros(n_params, width))
        self.mlp = MLP(width, 2 * width, width)

    def forward(self, task_ids: torch.Tensor, dt: torch.Tensor, params: torch.Tensor,
                param_mask: torch.Tensor) -> torch.Tensor:
        """task_ids (B,), dt (B,), params (B, P) raw values, param_mask (B, P) -> (B, W)."""
        log_p = torch.log10(params.clamp_min(1e-12)) * param_mask  # (B, P)
        p = (log_p[..., None] * self.param_scale + self.param_bias) * param_mask[..., None]
        # log10(dt) spans about [-4, 1]; map it into [0, 1] like the coordinates.
        dt_feat = self.dt(((torch.log10(dt) + 4.0) / 5.0)[:, None])
        return self.mlp(self.task(task_ids) + dt_feat + p.sum(1))


class LatentOperator(nn.Module):
    def __init__(self, n_tasks: int, n_params: int, tokens: int, latent_dim: int, width: int,
                 heads: int, depth: int):
        super().__init__()
        self.cond = Conditioning(n_tasks, n_params, width)
        self.inp = nn.Linear(latent_dim, width)
        self.token_pos = nn.Parameter(torch.randn(tokens, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads, cond_dim=width) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, latent_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, z: torch.Tensor, task_ids: torch.Tensor, dt: torch.Tensor,
                params: torch.Tensor, param_mask: torch.Tensor) -> torch.Tensor:
        """z (B, L, D) -> z at the next step (B, L, D)."""
        c = self.cond(task_ids, dt, params, param_mask)  # (B, W)
        h = self.inp(z) + self.token_pos
        for block in self.blocks:
            h = block(h, c)
        return z + self.out(self.norm(h))

    def rollout(self, z0: torch.Tensor, steps: int, **cond: torch.Tensor) -> torch.Tensor:
        """Autoregressive rollout: z0 (B, L, D) -> (B, steps, L, D), states after each step."""
        out, z = [], z0
        for _ in range(steps):
            z = self(z, **cond)
            out.append(z)
        return torch.stack(out, dim=1)
