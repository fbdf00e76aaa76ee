"""The token lattice: latent tokens tied to places.

Every task's domain, normalised to the unit cube, is cut into m^d equal cells (d: the task's
spatial dimensions); each cell is one latent token. Grid cells, mesh nodes and particles all
fall into cells by their coordinates, so one rule serves every kind of task, and a token always
describes the same patch of space: the encoder, decoder and operator can share weights across
places (translation equivariance) instead of learning a global code from few trajectories.

How big a cell is follows from what a token can hold: `patch_values` field values (points per
cell x channels) at the least. On a grid a cell holds p^d points, p the smallest power of two
with p^d C >= patch_values; the latent of D float16 numbers then takes D / (2 p^d C) of the
float32 field's bytes (1/4 at PDEBench resolutions with patch_values = 2 D). Inside a cell the
field is written in a local cosine basis (a DCT on grids) and held as its values at the cell's
nodes: `ups.models.encoder.LocalBasis`.
"""

from __future__ import annotations

import math

import torch


def points_per_axis(dims: int, channels: int, patch_values: int) -> int:
    """p: the smallest power of two with p^dims * channels >= patch_values."""
    p = 1
    while p ** dims * channels < patch_values:
        p *= 2
    return p


def cells_per_axis(pos: torch.Tensor, dims: int, channels: int, patch_values: int,
                   grid: bool) -> int:
    """m for the points `pos` (N, 3) of one sample: on a grid, the points per axis over p
    (rounded up); for a point set, the cells that hold `patch_values` values on average."""
    if grid:
        n = max(int(torch.unique(pos[:, a]).numel()) for a in range(dims))
        return max(1, math.ceil(n / points_per_axis(dims, channels, patch_values)))
    per_cell = max(1.0, patch_values / channels)
    return max(1, int(round((pos.shape[0] / per_cell) ** (1.0 / dims))))


def side(tokens: int, dims: int) -> int:
    """m from the token count m^dims (the lattice is a cube)."""
    m = int(round(tokens ** (1.0 / dims)))
    if m ** dims != tokens:
        raise ValueError(f"{tokens} latent tokens are not a {dims}D lattice (m^{dims})")
    return m


def anchors(m: int, dims: int, device=None) -> torch.Tensor:
    """Cell centres of the m^dims lattice in [0, 1]^3, C order (last axis fastest): (L, 3)."""
    axes = [(torch.arange(m, device=device, dtype=torch.float32) + 0.5) / m] * dims
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, dims)
    return torch.nn.functional.pad(grid, (0, 3 - dims))


def locate(pos: torch.Tensor, m: int, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """pos (..., 3) in [0, 1] -> the flat cell index (...,) and the position inside the cell
    (..., dims) in [0, 1)."""
    scaled = pos[..., :dims] * m
    cell = scaled.floor().clamp(0, m - 1)
    flat = torch.zeros(pos.shape[:-1], dtype=torch.long, device=pos.device)
    for a in range(dims):
        flat = flat * m + cell[..., a].long()
    return flat, (scaled - cell).clamp(0.0, 1.0)


def frequencies(n: int, dims: int) -> torch.Tensor:
    """The n^dims integer frequency vectors of a cell's basis (every k_a < n), C order:
    (J, dims)."""
    axes = torch.meshgrid(*[torch.arange(n)] * dims, indexing="ij")
    return torch.stack(axes, -1).reshape(-1, dims)


def cosine_basis(local: torch.Tensor, k: torch.Tensor, q: int) -> torch.Tensor:
    """The local basis at positions `local` (..., dims) in [0, 1): prod_a c_k cos(pi k_a x_a),
    (..., J). With q points per axis at the cell's grid positions (i + 1/2) / q it is the
    orthonormal DCT-II: the Gram matrix of a full grid cell is the identity."""
    scale = torch.where(k == 0, 1.0 / math.sqrt(q), math.sqrt(2.0 / q)).to(local)  # (J, dims)
    angles = math.pi * local[..., None, :] * k.to(local)  # (..., J, dims)
    return (torch.cos(angles) * scale).prod(-1)
