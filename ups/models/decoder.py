"""Any-point decoder: latent tokens + query coordinates -> named field values.

A query at any coordinate (normalised to [0, 1], padded to 3D) falls into one lattice cell. Its
value is the cell's local cosine series evaluated there (the linear part: the exact inverse of
the encoder's on a grid, and a smooth interpolation between grid points, so a finer grid than
the training one can be asked for: zero-shot super-resolution), plus a learned correction: the
tokens pass through transformer blocks (each cell sees the others), and a query reads its cell's
features modulated by a learned kernel of its position inside the cell, through a per-field
read-out that starts at zero.
"""

from __future__ import annotations

import torch
from torch import nn

from ups.models.blocks import MLP, Block, FourierFeatures
from ups.models.encoder import local_basis
from ups.models.lattice import anchors, locate, side


class Decoder(nn.Module):
    def __init__(self, n_fields: int, n_tasks: int, width: int, heads: int, depth: int,
                 latent_dim: int, patch_values: int):
        super().__init__()
        self.latent_dim, self.patch_values = latent_dim, patch_values
        self.latent_in = nn.Linear(latent_dim, width)
        self.pos = FourierFeatures(3, width, n_freq=6)
        self.task = nn.Embedding(n_tasks, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.kernel = nn.Sequential(FourierFeatures(3, width, n_freq=4), nn.GELU(),
                                    nn.Linear(width, width))
        self.norm = nn.LayerNorm(width)
        self.mlp = MLP(width, 2 * width, width)
        self.readout_w = nn.Parameter(torch.zeros(n_fields, width))  # correction starts at 0
        self.readout_b = nn.Parameter(torch.zeros(n_fields))

    def forward(self, z: torch.Tensor, query_pos: torch.Tensor, field_ids: torch.Tensor,
                task_ids: torch.Tensor, dims: int, grid: bool) -> torch.Tensor:
        """z (B, L, D), query_pos (B, Q, 3), field_ids (C,), task_ids (B,) -> (B, Q, C)."""
        m = side(z.shape[1], dims)
        basis = local_basis(query_pos, dims, len(field_ids), self.latent_dim, self.patch_values,
                            grid, m=m)
        linear = basis.evaluate(basis.from_latent(z), query_pos)  # (B, Q, C)
        ctx = (self.latent_in(z) + self.pos(anchors(m, dims, z.device))
               + self.task(task_ids)[:, None])  # (B, L, W)
        for block in self.blocks:
            ctx = block(ctx)
        cell, local = locate(query_pos, m, dims)
        b, q = cell.shape
        h = ctx.gather(1, cell[..., None].expand(-1, -1, ctx.shape[-1]))  # (B, Q, W)
        h = h * self.kernel(nn.functional.pad(local, (0, 3 - dims)))
        h = h + self.mlp(self.norm(h))
        return linear + h @ self.readout_w[field_ids].T + self.readout_b[field_ids]
