"""Any-point decoder: latent tokens + query coordinates -> named field values.

Queries are sin-cos embeddings of arbitrary coordinates (normalised to [0, 1], padded to 3D), so
the decoder can be asked for a finer grid than it was trained on (zero-shot super-resolution).
Each named field has its own read-out vector, so one decoder serves tasks with different channels.
"""

from __future__ import annotations

import torch
from torch import nn

from ups.models.blocks import MLP, Block, CrossBlock, DistanceBias, FourierFeatures, halton


class Decoder(nn.Module):
    def __init__(self, n_fields: int, n_tasks: int, width: int, heads: int, depth: int,
                 latent_tokens: int, latent_dim: int):
        super().__init__()
        self.latent_in = nn.Linear(latent_dim, width)
        self.context = Block(width, heads)
        self.query = FourierFeatures(3, width)
        self.task = nn.Embedding(n_tasks, width)
        self.query_mlp = MLP(width, 2 * width, width)
        self.register_buffer("anchors", halton(latent_tokens), persistent=False)  # (L, 3)
        self.bias = DistanceBias(heads)  # queries read mostly the tokens anchored near them
        self.blocks = nn.ModuleList(CrossBlock(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.readout_w = nn.Parameter(torch.randn(n_fields, width) * width ** -0.5)
        self.readout_b = nn.Parameter(torch.zeros(n_fields))

    def forward(self, z: torch.Tensor, query_pos: torch.Tensor, field_ids: torch.Tensor,
                task_ids: torch.Tensor, dims: int) -> torch.Tensor:
        """z (B, L, D), query_pos (B, Q, 3), field_ids (C,), task_ids (B,) -> (B, Q, C)."""
        ctx = self.context(self.latent_in(z))  # (B, L, W)
        q = self.query_mlp(self.query(query_pos) + self.task(task_ids)[:, None])  # (B, Q, W)
        bias = self.bias(query_pos, self.anchors[None], dims)  # (B, H, Q, L)
        for block in self.blocks:
            q = block(q, ctx, bias)
        h = self.norm(q)
        return h @ self.readout_w[field_ids].T + self.readout_b[field_ids]  # (B, Q, C)
