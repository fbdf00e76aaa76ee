"""Encoder: a set of points with named field values -> one latent token per lattice cell.

Grid cells, mesh nodes and particles enter the same way: coordinates normalised to the task's
domain and padded to 3D, plus field values. Each point falls into one cell of the task's token
lattice (`ups.models.lattice`). A token is the sum of two parts:

- linear: the cell's field at n^d nodes per channel (`LocalBasis`). On a grid cell of at most
  `latent_dim / C` values these are the grid values themselves, so this part alone is exactly
  invertible and reconstruction does not have to be learned from scratch (the "identity init"
  of latent emulators that train fast); a larger cell keeps the values of its least-squares
  cosine series of low frequencies (the best local low-pass); scattered points (meshes,
  particles) are fitted the same way. Field values stay field values: a pointwise nonlinearity
  of the PDE stays pointwise for the operator;
- learned: what the linear part missed (each point's residual, embedded per named field, so one
  encoder serves every task), pooled per cell, then transformer blocks over the tokens, through
  a zero-initialised projection: it starts at nothing and learns only what lowers the loss.
"""

from __future__ import annotations

import torch
from torch import nn

from ups.models.blocks import MLP, Block, FourierFeatures
from ups.models.lattice import (
    anchors,
    cells_per_axis,
    cosine_basis,
    frequencies,
    locate,
    points_per_axis,
)


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


def scatter_sum(x: torch.Tensor, idx: torch.Tensor, m: int) -> torch.Tensor:
    """Sum of rows x (B, N, *F) per target idx (B, N) in [0, m) -> (B, m, *F)."""
    b, n = idx.shape
    flat = (idx + torch.arange(b, device=idx.device)[:, None] * m).reshape(-1)  # (B N,)
    out = x.new_zeros(b * m, *x.shape[2:]).index_add_(0, flat, x.reshape(b * n, *x.shape[2:]))
    return out.view(b, m, *x.shape[2:])


class LocalBasis:
    """The cell-local cosine basis of one task: what the linear parts of encoder and decoder
    share. A token holds the field at n^dims nodes per cell and channel, the points
    (i + 1/2) / n of the cell: on a grid whose cell has n points per axis these are the grid's
    own values (the latent is the field, cell by cell); with larger cells, the values there of
    the cell's least-squares cosine series of frequencies below n (a low-pass of the cell)."""

    def __init__(self, m: int, dims: int, n: int, channels: int, grid: bool):
        self.m, self.dims, self.n, self.channels = m, dims, n, channels
        self.freq = frequencies(n, dims)  # (J, dims), J = n^dims
        axes = [(torch.arange(n, dtype=torch.float32) + 0.5) / n] * dims
        nodes = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, dims)
        self.nodes = cosine_basis(nodes, self.freq, n)  # (J nodes, J freq), orthonormal
        # Ridge relative to a full grid cell's Gram matrix (the identity or more): negligible on
        # a grid, larger for point sets, whose sparse cells leave the fit underdetermined (empty
        # cells get 0); it keeps their values small (float16 caches).
        self.ridge = 1e-6 if grid else 1e-2

    @property
    def size(self) -> int:
        return len(self.freq) * self.channels

    def at(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pos (B, N, 3) -> cell index (B, N) and basis values (B, N, J)."""
        cell, local = locate(pos, self.m, self.dims)
        return cell, cosine_basis(local, self.freq.to(pos.device), self.n)

    def fit(self, pos: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Each cell's values at its nodes: (B, N, 3), (B, N, C) -> (B, L, J, C)."""
        cell, phi = self.at(pos)
        lattice = self.m ** self.dims
        gram = scatter_sum(phi[..., :, None] * phi[..., None, :], cell, lattice)  # (B, L, J, J)
        rhs = scatter_sum(phi[..., :, None] * values[..., None, :], cell, lattice)  # (B, L, J, C)
        eye = torch.eye(len(self.freq), device=pos.device, dtype=gram.dtype)
        coef = torch.linalg.solve(gram + self.ridge * eye, rhs)  # cosine coefficients
        return torch.einsum("ik,blkc->blic", self.nodes.to(coef), coef)

    def evaluate(self, nodal: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Node values (B, L, J, C) -> the cells' cosine series at positions (B, Q, 3): (B, Q, C)."""
        coef = torch.einsum("ik,blic->blkc", self.nodes.to(nodal), nodal)  # orthonormal inverse
        cell, phi = self.at(pos)
        b, q = cell.shape
        per_point = coef.gather(1, cell.view(b, q, 1, 1).expand(-1, -1, *coef.shape[2:]))
        return torch.einsum("bqj,bqjc->bqc", phi, per_point)

    def to_latent(self, nodal: torch.Tensor, latent_dim: int) -> torch.Tensor:
        """(B, L, J, C) -> (B, L, D): node-major slots j * C + c, the rest zero."""
        flat = nodal.flatten(2)
        return nn.functional.pad(flat, (0, latent_dim - flat.shape[-1]))

    def from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, L, J, C), the inverse of `to_latent`."""
        return z[..., :self.size].unflatten(-1, (len(self.freq), self.channels))


def local_basis(pos: torch.Tensor, dims: int, channels: int, latent_dim: int,
                patch_values: int, grid: bool, m: int | None = None) -> LocalBasis:
    """The basis of a task whose points are `pos` (B, N, 3) (or whose lattice side is `m`):
    on a grid as many nodes per axis as the cell has points (exact) unless the token is too
    narrow for them; a point set half as many, as its cells hold points unevenly."""
    p = points_per_axis(dims, channels, patch_values)
    if m is None:
        m = cells_per_axis(pos[0], dims, channels, patch_values, grid)
    n = p if grid else max(1, p // 2)
    while n > 1 and n ** dims * channels > latent_dim:
        n //= 2
    return LocalBasis(m, dims, n, channels, grid)


class Encoder(nn.Module):
    def __init__(self, n_fields: int, n_tasks: int, width: int, heads: int, depth: int,
                 latent_dim: int, patch_values: int):
        super().__init__()
        self.latent_dim, self.patch_values = latent_dim, patch_values
        self.fields = FieldEmbedding(n_fields, width)
        self.offset = FourierFeatures(3, width, n_freq=4)
        self.point_mlp = MLP(width, 2 * width, width)
        self.inp = nn.Linear(latent_dim, width)
        self.pos = FourierFeatures(3, width, n_freq=6)
        self.task = nn.Embedding(n_tasks, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, latent_dim)
        nn.init.zeros_(self.out.weight)  # the learned part starts at nothing
        nn.init.zeros_(self.out.bias)

    def forward(self, pos: torch.Tensor, values: torch.Tensor, field_ids: torch.Tensor,
                task_ids: torch.Tensor, dims: int, grid: bool) -> torch.Tensor:
        """pos (B, N, 3) in [0, 1], values (B, N, C), field_ids (C,), task_ids (B,) -> (B, L, D).

        `dims`: the task's spatial dimensions; `grid`: its points form a regular grid."""
        basis = local_basis(pos, dims, values.shape[-1], self.latent_dim, self.patch_values,
                            grid)
        nodal = basis.fit(pos, values)  # (B, L, J, C)
        z_lin = basis.to_latent(nodal, self.latent_dim)  # (B, L, D)
        residual = values - basis.evaluate(nodal, pos)  # (B, N, C): what the basis misses
        cell, local = locate(pos, basis.m, dims)
        h = self.fields(residual, field_ids) + self.offset(nn.functional.pad(local, (0, 3 - dims)))
        pooled = scatter_sum(self.point_mlp(h), cell, basis.m ** dims)  # (B, L, W)
        count = scatter_sum(torch.ones_like(cell, dtype=h.dtype)[..., None], cell,
                            basis.m ** dims).clamp_min(1)
        s = (self.inp(z_lin) + pooled / count + self.pos(anchors(basis.m, dims, pos.device))
             + self.task(task_ids)[:, None])
        for block in self.blocks:
            s = block(s)
        return z_lin + self.out(self.norm(s))  # (B, L, D)
