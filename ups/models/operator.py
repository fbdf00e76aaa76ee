"""Latent operator: advances latent tokens by one stored time step.

A transformer over the latent tokens, conditioned through adaLN on the time step dt, the task and
the PDE parameters. Parameters enter by name (a parameter vocabulary, like the field vocabulary)
on a log10 scale, since PDEBench's viscosities and speeds span decades. It predicts an increment:
z(t + dt) = z(t) + f(z(t), cond), so an untrained operator starts as persistence.

Steady tasks (Darcy: coefficient -> solution) have no time step. The same trunk serves them with
a separate output head, `steady(z_in)`: the latent of the input field (the encoded coefficient)
maps to the latent of the solution (the "steady prior"). They are conditioned on a learned
"steady" embedding in place of dt.

Transient tasks with input fields (incompressible NS: a forcing field per trajectory) are
conditioned on them too: the forcing, encoded into the same latent space by the same encoder,
enters token by token through its own projection (`force`), added to the state's token features
before the blocks. Both latents are pooled by the same perceiver queries, so token i of the
forcing and token i of the state come from the same query; attention then mixes them. The
projection starts at zero: the forcing's influence is learned from nothing.
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


class LatentOperator(nn.Module):
    def __init__(self, n_tasks: int, n_params: int, tokens: int, latent_dim: int, width: int,
                 heads: int, depth: int):
        super().__init__()
        self.cond = Conditioning(n_tasks, n_params, width)
        self.inp = nn.Linear(latent_dim, width)
        # Zero-initialised without drawing random numbers, so that the other layers start
        # exactly as before it existed (tasks without input fields train bit for bit the same).
        self.force = nn.utils.skip_init(nn.Linear, latent_dim, width)
        nn.init.zeros_(self.force.weight)
        nn.init.zeros_(self.force.bias)
        self.token_pos = nn.Parameter(torch.randn(tokens, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads, cond_dim=width) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, latent_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.steady_out = nn.Linear(width, latent_dim)

    def _trunk(self, z: torch.Tensor, task_ids: torch.Tensor, dt: torch.Tensor,
               params: torch.Tensor, param_mask: torch.Tensor,
               forcing: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, L, D), forcing latents (B, L, D) or None -> conditioned token features
        (B, L, W)."""
        c = self.cond(task_ids, dt, params, param_mask)  # (B, W)
        h = self.inp(z) + self.token_pos
        if forcing is not None:
            if forcing.shape != z.shape:
                raise ValueError(f"forcing latents {tuple(forcing.shape)} must match the state's "
                                 f"{tuple(z.shape)}")
            h = h + self.force(forcing)
        for block in self.blocks:
            h = block(h, c)
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
