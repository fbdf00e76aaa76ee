"""Encoder: a set of points with named field values -> latent tokens (UPT-style).

Grid cells, mesh nodes and particles all enter the same way: coordinates normalised to the task's
domain and padded to 3D, plus field values. Each named field has its own learned embedding (a
field vocabulary), so tasks with different channels share one encoder and one latent space.

points --(field + position + task embedding)--> each point messages its k nearest supernodes
(farthest-point-sampled; message passing in pure torch, mean aggregation) --> transformer blocks
--> perceiver pooling to `tokens` queries.
"""

from __future__ import annotations

import torch
from torch import nn

from ups.models.blocks import MLP, Block, CrossBlock, DistanceBias, FourierFeatures, halton


class FieldEmbedding(nn.Module):
    """Per-field linear embedding of values, summed over a sample's fields."""

    def __init__(self, n_fields: int, width: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_fields, width))
        self.bias = nn.Parameter(torch.zeros(n_fields, width))

    def forward(self, values: torch.Tensor, field_ids: torch.Tensor) -> torch.Tensor:
        # values (B, N, C), field_ids (C,) -> (B, N, W)
        return torch.einsum("bnc,cw->bnw", values, self.weight[field_ids]) + \
            self.bias[field_ids].sum(0)


def farthest_point_sample(pos: torch.Tensor, m: int) -> torch.Tensor:
    """Indices (B, m) of m well-spread points, deterministic (starts at point 0)."""
    b, n, _ = pos.shape
    idx = torch.zeros(b, m, dtype=torch.long, device=pos.device)
    dist = torch.full((b, n), float("inf"), device=pos.device)
    last = torch.zeros(b, dtype=torch.long, device=pos.device)
    rows = torch.arange(b, device=pos.device)
    for j in range(1, m):
        d = ((pos - pos[rows, last][:, None]) ** 2).sum(-1)  # (B, N)
        dist = torch.minimum(dist, d)
        last = dist.argmax(-1)
        idx[:, j] = last
    return idx


def gather_points(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (B, N, D), idx (B, *I) -> (B, *I, D)."""
    b, d = x.shape[0], x.shape[-1]
    flat = idx.reshape(b, -1, 1).expand(-1, -1, d)
    return x.gather(1, flat).reshape(*idx.shape, d)


def scatter_mean(x: torch.Tensor, idx: torch.Tensor, m: int) -> torch.Tensor:
    """Mean of rows x (B, E, W) per target idx (B, E) in [0, m) -> (B, m, W); empty targets 0."""
    b, _, w = x.shape
    flat = (idx + torch.arange(b, device=idx.device)[:, None] * m).reshape(-1)  # (B E,)
    total = x.new_zeros(b * m, w).index_add_(0, flat, x.reshape(-1, w))
    count = x.new_zeros(b * m).index_add_(0, flat, x.new_ones(flat.shape[0]))
    return (total / count.clamp_min(1)[:, None]).view(b, m, w)


class Encoder(nn.Module):
    def __init__(self, n_fields: int, n_tasks: int, width: int, heads: int, depth: int,
                 supernodes: int, neighbours: int, tokens: int, latent_dim: int):
        super().__init__()
        self.supernodes, self.neighbours = supernodes, neighbours
        self.fields = FieldEmbedding(n_fields, width)
        self.pos = FourierFeatures(3, width)
        self.task = nn.Embedding(n_tasks, width)
        self.point_norm = nn.LayerNorm(width)
        self.point_mlp = MLP(width, 2 * width, width)
        self.message_norm = nn.LayerNorm(width)
        self.rel_pos = FourierFeatures(3, width, n_freq=6)
        self.message = MLP(2 * width, width, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        # Latent tokens are anchored at fixed low-discrepancy points of the unit cube; each pools
        # the supernodes near its anchor first (a geometric prior that learns in hundreds of steps
        # what unanchored perceiver queries need thousands for).
        self.register_buffer("anchors", halton(tokens), persistent=False)  # (L, 3)
        self.queries = nn.Parameter(torch.randn(tokens, width) * 0.02)
        self.pool_bias = DistanceBias(heads)
        self.pool = CrossBlock(width, heads)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, latent_dim)

    def forward(self, pos: torch.Tensor, values: torch.Tensor, field_ids: torch.Tensor,
                task_ids: torch.Tensor, dims: int) -> torch.Tensor:
        """pos (B, N, 3) in [0, 1], values (B, N, C), field_ids (C,), task_ids (B,) -> (B, L, D).

        `dims`: the task's spatial dimensions (the padded coordinates beyond them are zero).
        """
        h = self.fields(values, field_ids) + self.pos(pos) + self.task(task_ids)[:, None]
        h = h + self.point_mlp(self.point_norm(h))  # (B, N, W)
        m = min(self.supernodes, pos.shape[1])
        k = min(self.neighbours, m)
        centres = gather_points(pos, farthest_point_sample(pos, m))  # (B, M, 3)
        # Each point sends one message to each of its k nearest supernodes (k=1: Voronoi cells),
        # so every point is seen and the cost is O(N k), not O(M N).
        nearest = torch.cdist(pos, centres).topk(k, dim=-1, largest=False).indices  # (B, N, k)
        rel = pos[:, :, None] - gather_points(centres, nearest)  # (B, N, k, 3)
        h = self.message_norm(h)[:, :, None].expand(-1, -1, k, -1)
        msg = self.message(torch.cat([h, self.rel_pos(rel)], dim=-1))  # (B, N, k, W)
        s = scatter_mean(msg.flatten(1, 2), nearest.flatten(1), m)  # (B, M, W)
        for block in self.blocks:
            s = block(s)
        q = (self.queries + self.pos(self.anchors)).expand(pos.shape[0], -1, -1)  # (B, L, W)
        bias = self.pool_bias(self.anchors[None], centres, dims)  # (B, H, L, M)
        return self.out(self.norm(self.pool(q, s, bias)))  # (B, L, D)
