"""Building blocks shared by encoder, decoder and operator."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Sequential):
    def __init__(self, dim_in: int, hidden: int, dim_out: int):
        super().__init__(nn.Linear(dim_in, hidden), nn.GELU(), nn.Linear(hidden, dim_out))


class FourierFeatures(nn.Module):
    """sin/cos of coordinates at octave frequencies, then a linear map.

    Coordinates are normalised to [0, 1]; frequencies pi * 2^k (k < n_freq) resolve features down to
    about 2^-n_freq of the domain, so the decoder can be queried on grids finer than it saw.
    """

    def __init__(self, dim_in: int, dim_out: int, n_freq: int = 8):
        super().__init__()
        self.register_buffer("freq", math.pi * 2.0 ** torch.arange(n_freq), persistent=False)
        self.proj = nn.Linear(dim_in * (2 * n_freq + 1), dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = x[..., None] * self.freq  # (..., D) -> (..., D, F)
        feats = torch.cat([angles.sin(), angles.cos(), x[..., None]], dim=-1)
        return self.proj(feats.flatten(-2))  # (..., D * (2F + 1)) -> (..., dim_out)


class Attention(nn.Module):
    """Multi-head attention via F.scaled_dot_product_attention (self- or cross-).

    An optional additive `bias` (B or 1, heads, N, M) enters the logits (geometric priors).
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        b, n, d = x.shape
        q = self.q(x).view(b, n, self.heads, -1).transpose(1, 2)  # (B, H, N, d/H)
        k, v = self.kv(context).view(b, context.shape[1], 2, self.heads, -1).unbind(2)
        y = F.scaled_dot_product_attention(q, k.transpose(1, 2), v.transpose(1, 2),
                                           attn_mask=bias)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block; with `cond_dim`, adaLN-Zero conditioning (as in DiT).

    The conditioning vector yields per-channel shift, scale and gate for both sub-layers; gates
    start at zero so every block starts as the identity.
    """

    def __init__(self, dim: int, heads: int, cond_dim: int | None = None, mlp_ratio: int = 4):
        super().__init__()
        affine = cond_dim is None
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=affine)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=affine)
        self.mlp = MLP(dim, mlp_ratio * dim, dim)
        self.ada = None
        if cond_dim is not None:
            self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * dim))
            nn.init.zeros_(self.ada[1].weight)
            nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.ada is None:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(cond)[:, None].chunk(6, dim=-1)
        x = x + gate1 * self.attn(self.norm1(x) * (1 + scale1) + shift1)
        return x + gate2 * self.mlp(self.norm2(x) * (1 + scale2) + shift2)


class CrossBlock(nn.Module):
    """Queries attend to a context (perceiver pooling, any-point decoding), then an MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_c = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio * dim, dim)

    def forward(self, q: torch.Tensor, context: torch.Tensor,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        q = q + self.attn(self.norm_q(q), self.norm_c(context), bias)
        return q + self.mlp(self.norm2(q))
