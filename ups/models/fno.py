"""Fourier Neural Operator (Li et al., ICLR 2021): the grid baseline UPS is compared against.

One class for 1D, 2D and 3D grids: lifting (pointwise linear of the input channels plus the
normalised cell-centre coordinates, which PDEBench's FNO appends too), `layers` Fourier layers
(spectral convolution keeping the `modes` lowest frequencies per axis + pointwise linear, GELU
between layers) and a two-layer pointwise projection. Written here rather than taken from the
`neuraloperator` package: that package pulls ~25 further distributions (wandb, opentelemetry,
tensorly, ...) for what is ~100 lines.

Layout: inputs and outputs are channels-last, (B, *S, C) as in the converted store; inside, the
network works channels-first, (B, W, *S). `padding` > 0 zero-pads every spatial axis at its end
before the Fourier layers and crops after (Li et al. for non-periodic domains: the FFT would
otherwise wrap one boundary onto the other).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PROJECTION_WIDTH = 128  # hidden width of the projection, as in Li et al. and PDEBench


def _kept(n: int, modes: int, last: bool) -> int:
    """How many frequencies of an axis of n points the spectral weights act on.

    The last axis is an rfft (non-negative frequencies 0..n//2): its lowest m = min(modes,
    n//2 + 1). Other axes keep the m = min(modes, n//2) lowest non-negative frequencies and the m
    negative ones nearest zero (-m..-1, Li et al.'s corners), never a frequency twice; the
    weight holds the positive ones in [0, modes) and the negative ones in [modes, 2 modes).
    """
    return min(modes, n // 2 + 1) if last else min(modes, n // 2)


def _two_ends(x: torch.Tensor, axis: int, m: int) -> torch.Tensor:
    """The first m and the last m entries of `axis`, concatenated (2m entries)."""
    n = x.shape[axis]
    return torch.cat([x.narrow(axis, 0, m), x.narrow(axis, n - m, m)], dim=axis)


def _spread(y: torch.Tensor, axis: int, n: int) -> torch.Tensor:
    """Inverse of `_two_ends`: 2m entries of `axis` -> n, zeros in between."""
    m = y.shape[axis] // 2
    gap = list(y.shape)
    gap[axis] = n - 2 * m
    return torch.cat([y.narrow(axis, 0, m), y.new_zeros(gap), y.narrow(axis, m, m)], dim=axis)


class SpectralConv(nn.Module):
    """u -> irfftn(W . rfftn(u)) with a learned complex W on the kept low frequencies only;
    every other frequency of the output is zero."""

    def __init__(self, dims: int, in_channels: int, out_channels: int, modes: int):
        super().__init__()
        if dims not in (1, 2, 3):
            raise ValueError(f"FNO: dims is {dims}; expected 1, 2 or 3")
        self.dims, self.modes = dims, modes
        shape = (in_channels, out_channels, *[2 * modes] * (dims - 1), modes, 2)
        # Li et al.'s initialisation: uniform in [0, 1/(in out)) for real and imaginary parts.
        # Stored real (view_as_complex at use) so checkpoints hold plain float tensors.
        self.weight = nn.Parameter(torch.rand(shape) / (in_channels * out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, Ci, *S) -> (B, Co, *S)."""
        spatial = x.shape[2:]
        axes = tuple(range(2, 2 + self.dims))
        # FFTs in float32 even under autocast: bf16 FFTs are inexact and unsupported for most n.
        with torch.autocast(x.device.type, enabled=False):
            x_ft = torch.fft.rfftn(x.float(), dim=axes)  # (B, Ci, *S[:-1], S[-1]//2 + 1)
            w = torch.view_as_complex(self.weight)  # (Ci, Co, 2M.., M)
            # The kept block, gathered with slices and concatenations (cheap, simple backward;
            # as fast as Li et al.'s per-corner code on CPU and dimension-generic).
            m_last = _kept(spatial[-1], self.modes, last=True)
            block, w = x_ft[..., :m_last], w[..., :m_last]
            for a, n in enumerate(spatial[:-1]):
                m = _kept(n, self.modes, last=False)
                block = _two_ends(block, 2 + a, m)  # this axis' frequencies 0..m-1, -m..-1
                w = _two_ends(w, 2 + a, m)
            mixed = torch.einsum("bi...,io...->bo...", block, w)  # (B, Co, *K)
            for a, n in enumerate(spatial[:-1]):
                mixed = _spread(mixed, 2 + a, n)  # zeros at the dropped frequencies
            mixed = F.pad(mixed, (0, x_ft.shape[-1] - m_last))  # (B, Co, *S[:-1], S[-1]//2+1)
            return torch.fft.irfftn(mixed, s=spatial, dim=axes)  # (B, Co, *S)


class FourierLayer(nn.Module):
    """One Fourier layer: spectral convolution + pointwise linear, then GELU (unless last).
    Exactly translation-equivariant under integer shifts of a periodic grid."""

    def __init__(self, dims: int, width: int, modes: int, activation: bool = True):
        super().__init__()
        self.spectral = SpectralConv(dims, width, width, modes)
        self.pointwise = getattr(nn, f"Conv{dims}d")(width, width, kernel_size=1)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, W, *S) -> (B, W, *S)."""
        y = self.spectral(x) + self.pointwise(x)
        return F.gelu(y) if self.activation else y


class FNO(nn.Module):
    """(B, *S, in_channels) fields on a regular grid -> (B, *S, out_channels).

    The cell-centre coordinates in [0, 1] of every axis are appended to the input channels here,
    so `in_channels` counts the data channels only. No activation after the last Fourier layer
    (Li et al.).
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, width: int = 32,
                 modes: int = 12, layers: int = 4, padding: int = 0):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("width", width), ("modes", modes), ("layers", layers)):
            if value < 1:
                raise ValueError(f"FNO: {name} is {value}; expected a positive integer")
        if padding < 0:
            raise ValueError(f"FNO: padding is {padding}; expected >= 0")
        self.dims, self.padding = dims, padding
        self.lift = nn.Linear(in_channels + dims, width)
        self.layers = nn.ModuleList(FourierLayer(dims, width, modes, activation=i < layers - 1)
                                    for i in range(layers))
        self.project = nn.Sequential(nn.Linear(width, PROJECTION_WIDTH), nn.GELU(),
                                     nn.Linear(PROJECTION_WIDTH, out_channels))

    def grid(self, spatial: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """Cell centres (i + 0.5) / n of every axis -> (*S, dims)."""
        axes = [(torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n for n in spatial]
        return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """u (B, *S, Cin) -> (B, *S, Cout)."""
        spatial = tuple(u.shape[1:-1])
        if len(spatial) != self.dims:
            raise ValueError(f"FNO: input of shape {tuple(u.shape)} has {len(spatial)} spatial "
                             f"axes; this model was built for dims={self.dims} "
                             "(expected (B, *S, C))")
        grid = self.grid(spatial, u.device).expand(u.shape[0], *spatial, self.dims)
        x = self.lift(torch.cat([u, grid.to(u.dtype)], dim=-1))  # (B, *S, W)
        x = x.movedim(-1, 1)  # (B, W, *S)
        if self.padding:
            x = F.pad(x, [0, self.padding] * self.dims)  # (B, W, *(S + p))
        for layer in self.layers:
            x = layer(x)
        if self.padding:
            x = x[(slice(None), slice(None), *[slice(0, n) for n in spatial])]  # (B, W, *S)
        return self.project(x.movedim(1, -1))  # (B, *S, Cout)


def n_parameters(model: nn.Module) -> int:
    """Trainable parameter count (for reports beside UPS's)."""
    return sum(math.prod(p.shape) for p in model.parameters() if p.requires_grad)
