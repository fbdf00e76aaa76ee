"""Loss terms for the training phases: spectral error, physics priors, latent regularisers.

Every term is a pure torch function that returns a differentiable scalar tensor, so a phase can
add any of them to its loss through `weighted_sum` (which skips terms whose weight is zero).

Shape conventions. Grid fields are channels-last, `(B, *S, C)` with `S` the spatial grid:
`(X,)` in 1D, `(X, Y)` in 2D, `(X, Y, Z)` in 3D; point sets (meshes, particles, decoder query
points) are `(B, P, C)`. Whether fields are normalised or physical is the caller's choice; the
physics priors only make sense where the prior holds in the units given (a positivity floor of 0
for a normalised density is wrong, for instance). Latent tokens are `(B, L, D)`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ups.config import check_schedule

# ---------------------------------------------------------------------------------------------
# Spectral loss
# ---------------------------------------------------------------------------------------------


def spectral_loss(pred: Tensor, target: Tensor, dims: Sequence[int], high_weight: float = 0.0,
                  eps: float = 1e-8) -> Tensor:
    """Relative error of the Fourier coefficients of `pred` over the spatial axes `dims`.

    Why: a pointwise MSE is dominated by the energetic low wavenumbers, so the small-amplitude
    high-frequency content, which autoregressive PDE rollouts lose first and which then corrupts
    the whole trajectory, barely moves it (PDE-Refiner, Lippe et al. 2023). Measuring the error
    per frequency, optionally weighted towards high |k|, gives that content a say.

    pred, target: (B, *S, C), same shape. dims: the tensor axes to transform (e.g. (1,) in 1D,
    (1, 2) in 2D; negative indices allowed; never the batch axis 0 or the channel axis -1).
    Axes of S left out of `dims` are treated like the batch (averaged over).

    The energy at wavenumber k counts with weight w(k) = 1 + high_weight * |k|, where
    |k| = sqrt(mean_d (k_d / k_nyquist_d)^2) lies in [0, 1] (0 = mean, 1 = Nyquist corner). With
    ||X||_w^2 = sum_k w(k) |X_k|^2 over the full spectrum (rfftn's half spectrum, its mirrored
    bins counted twice), the loss is the mean over batch and channels of
        ||F(pred) - F(target)||_w / max(||F(target)||_w, eps).
    With high_weight = 0 this equals the relative L2 error in physical space (Parseval); the
    value 1 means "as bad as predicting zero" whatever high_weight is. A channel whose target is
    identically zero divides by eps: leave such channels out.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if high_weight < 0:
        raise ValueError(f"high_weight must be >= 0, got {high_weight}")
    axes = _spatial_axes(pred.ndim, dims)
    diff = torch.fft.rfftn(pred - target, dim=axes)  # (B, *S', C), last of `axes` halved
    ref = torch.fft.rfftn(target, dim=axes)
    w = _spectral_weights(pred.shape, axes, high_weight, pred.device, pred.dtype)
    root_w = w.sqrt()  # broadcasts against the spectrum
    num = torch.linalg.vector_norm(diff * root_w, dim=axes)  # (B, [rest of S], C)
    den = torch.linalg.vector_norm(ref * root_w, dim=axes)
    return (num / den.clamp_min(eps)).mean()


def _spatial_axes(ndim: int, dims: Sequence[int]) -> list[int]:
    """Normalised, sorted spatial axes; rejects the batch and channel axes and duplicates."""
    axes = sorted(d % ndim if -ndim <= d < ndim else -1 for d in dims)
    if not axes:
        raise ValueError("dims must name at least one spatial axis")
    if any(a <= 0 or a >= ndim - 1 for a in axes):
        raise ValueError(f"dims {list(dims)} must be spatial axes of a (B, *S, C) tensor of "
                         f"{ndim} dimensions, i.e. in 1..{ndim - 2}")
    if len(set(axes)) != len(axes):
        raise ValueError(f"dims {list(dims)} repeat an axis")
    return axes


def _spectral_weights(shape: torch.Size, axes: list[int], high_weight: float,
                      device: torch.device, dtype: torch.dtype) -> Tensor:
    """Per-bin weight (multiplicity * (1 + high_weight * |k|)) shaped to broadcast on rfftn.

    rfftn keeps only k >= 0 along its last axis; the bins whose mirror image k' = -k is dropped
    count twice, so the half-spectrum norms equal full-spectrum norms.
    """
    ndim = len(shape)
    k2 = torch.zeros((), device=device, dtype=dtype)
    mult = torch.ones((), device=device, dtype=dtype)
    for axis in axes:
        n = shape[axis]
        halved = axis == axes[-1]
        freq = torch.fft.rfftfreq if halved else torch.fft.fftfreq
        k = freq(n, 1.0 / n, device=device, dtype=dtype)  # integer wavenumbers
        view = [1] * ndim
        view[axis] = k.numel()
        k2 = k2 + (k / max(n // 2, 1)).square().reshape(view)
        if halved:
            m = torch.full_like(k, 2.0)
            m[0] = 1.0
            if n % 2 == 0:
                m[-1] = 1.0  # the Nyquist bin is its own mirror
            mult = mult * m.reshape(view)
    k_norm = (k2 / len(axes)).sqrt()  # in [0, 1]
    return mult * (1.0 + high_weight * k_norm)


# ---------------------------------------------------------------------------------------------
# Physics priors on decoded fields
# ---------------------------------------------------------------------------------------------


def boundary_loss(values: Tensor, mask: Tensor, target_values: Tensor | float) -> Tensor:
    """Mean squared deviation from Dirichlet values on the points where `mask` is true.

    Why: boundary conditions are known exactly (Darcy flow u = 0 on the boundary, diffusion-
    sorption u = 1 at the left end), yet a decoder that sees them only through the data blurs
    them; penalising them directly pins the decoded field where the physics is certain.

    values: (B, *S, C) or (B, P, C) (the channels the condition applies to). mask: bool,
    broadcastable to `values`, e.g. (1, X, Y, 1) for one boundary shared by samples and channels.
    target_values: a number or a tensor broadcastable to `values`. An empty mask gives 0 (not NaN).
    """
    shape = _broadcast_to(values, mask, "mask")
    _broadcast_to(values, torch.as_tensor(target_values), "target_values")
    mask = mask.to(torch.bool).expand(shape)
    sq = torch.where(mask, (values - target_values).square(), torch.zeros_like(values))
    return sq.sum() / mask.sum().clamp_min(1)


def conservation_loss(pred: Tensor, reference: Tensor, weights: Tensor | None = None,
                      dims: Sequence[int] | None = None, eps: float = 1e-8) -> Tensor:
    """Squared relative drift of the spatial integrals of conserved channels.

    Why: mass, momentum and energy (compressible Navier-Stokes), water height (shallow water) and
    concentration (Cahn-Hilliard) have invariant totals; a surrogate whose totals drift leaks
    or creates the conserved quantity and its rollouts diverge, even if each step looks close.

    pred, reference: (B, *S, C) on a uniform grid (integral = mean over `dims`, default every
    spatial axis), or (B, P, C) point sets with `weights` (B, P) or (P,) quadrature weights (cell
    volumes, particle masses; integral = sum_p w_p u_p). Pass only the conserved channels.
    The squared difference of the integrals is divided by (integral of |reference|)^2 per sample
    and channel: scale-free, equal to the squared relative drift of the total for a positive
    quantity, and still finite for a zero-mean one (e.g. momentum). Mean over batch and channels.
    """
    if pred.shape != reference.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and reference {tuple(reference.shape)} differ")
    if weights is None:
        axes = list(range(1, pred.ndim - 1)) if dims is None else _spatial_axes(pred.ndim, dims)

        def integral(u: Tensor) -> Tensor:
            return u.mean(dim=axes)  # (B, [rest of S], C)
    else:
        if pred.ndim != 3 or weights.shape not in ((pred.shape[0], pred.shape[1]), pred.shape[1:2]):
            raise ValueError(f"weights {tuple(weights.shape)} must be (B, P) or (P,) for point "
                             f"sets (B, P, C); got values {tuple(pred.shape)}")
        w = weights.to(pred.dtype).expand(pred.shape[:2])[..., None]  # (B, P, 1)

        def integral(u: Tensor) -> Tensor:
            return (w * u).sum(dim=1)  # (B, C)
    drift = (integral(pred) - integral(reference)).square()
    scale = integral(reference.abs()).square().clamp_min(eps)
    return (drift / scale).mean()


def positivity_loss(values: Tensor, floor: float = 0.0) -> Tensor:
    """Mean of relu(floor - values)^2: zero where values >= floor.

    Why: density, pressure and water height are positive; a decoded field that dips below zero is
    unphysical and, fed back through a rollout, can blow up (sound speed of a negative pressure).
    values: any shape (pass the constrained channels only).
    """
    return F.relu(floor - values).square().mean()


def central_difference(f: Tensor, dim: int, spacing: float, periodic: bool = True) -> Tensor:
    """d f / d axis `dim` on a uniform grid by central differences, same shape as `f`.

    periodic: wrap around (roll); otherwise second-order central inside and first-order one-sided
    differences at the two edges (the axis needs at least 2 points).
    """
    if periodic:
        return (f.roll(-1, dims=dim) - f.roll(1, dims=dim)) / (2.0 * spacing)
    return torch.gradient(f, spacing=spacing, dim=dim, edge_order=1)[0]


def divergence_loss(vx: Tensor, vy: Tensor, spacing: float | tuple[float, float],
                    periodic: bool = True) -> Tensor:
    """Mean squared divergence of a 2D velocity on a uniform grid.

    Why: incompressible flow has div v = 0; the decoder does not know it, and a spurious
    divergence acts as a mass source that grows over a rollout.

    vx, vy: (B, X, Y), axis 1 is x and axis 2 is y. spacing: h or (dx, dy). Central differences,
    periodic via roll; with periodic=False one-sided at the edges (see `central_difference`).
    A velocity derived from a stream function with the same differences has zero divergence.
    """
    if vx.shape != vy.shape or vx.ndim != 3:
        raise ValueError(f"vx {tuple(vx.shape)} and vy {tuple(vy.shape)} must both be (B, X, Y)")
    dx, dy = (spacing, spacing) if isinstance(spacing, (int, float)) else spacing
    div = (central_difference(vx, 1, dx, periodic)
           + central_difference(vy, 2, dy, periodic))  # (B, X, Y)
    return div.square().mean()


def _broadcast_to(values: Tensor, other: Tensor, name: str) -> torch.Size:
    """The shape of `values`, after checking that `other` broadcasts to it (ValueError if not)."""
    try:
        shape = torch.broadcast_shapes(values.shape, other.shape)
    except RuntimeError:
        shape = None
    if shape != values.shape:
        raise ValueError(f"{name} {tuple(other.shape)} does not broadcast to values "
                         f"{tuple(values.shape)}")
    return values.shape


# ---------------------------------------------------------------------------------------------
# Latent regularisers
# ---------------------------------------------------------------------------------------------


def latent_norm_loss(z: Tensor, target: float = 1.0, eps: float = 1e-12) -> Tensor:
    """Mean squared deviation of each token's RMS from `target`.

    Why: nothing else fixes the latent scale; if it drifts (grows, or collapses towards zero while
    the decoder compensates), every operator step multiplies the error and rollouts amplify it.
    z: (B, L, D); the RMS is over D, one per token (B, L).
    """
    rms = (z.square().mean(dim=-1) + eps).sqrt()  # (B, L)
    return (rms - target).square().mean()


def diversity_loss(z: Tensor, eps: float = 1e-8) -> Tensor:
    """Mean squared cosine similarity between distinct tokens of each sample.

    Why: latent tokens that collapse onto one direction carry one token's worth of information;
    penalising their pairwise alignment keeps the L tokens spread. Zero for mutually orthogonal
    tokens, which needs L <= D (for L > D the minimum is positive). z: (B, L, D); L = 1 gives 0.
    """
    unit = F.normalize(z, dim=-1, eps=eps)
    cos = unit @ unit.transpose(-1, -2)  # (B, L, L)
    n = z.shape[-2]
    off = ~torch.eye(n, dtype=torch.bool, device=z.device)
    return cos.square()[:, off].sum() / max(z.shape[0] * n * (n - 1), 1)


# ---------------------------------------------------------------------------------------------
# Composition and schedules
# ---------------------------------------------------------------------------------------------


def weighted_sum(terms: dict[str, tuple[float, Callable[[], Tensor]]]
                 ) -> tuple[Tensor, dict[str, float]]:
    """sum of weight * term() over the terms whose weight is non-zero, and each term's value.

    Terms are thunks so that a zero-weight term is never computed: it costs nothing and adds no
    node to the autograd graph. Returns (total, parts): `parts[name]` is the unweighted float value
    of each evaluated term, for logging. With no active term the total is a constant 0.
    Weights must be finite and >= 0 (a negative weight would maximise a loss).
    """
    total: Tensor | None = None
    parts: dict[str, float] = {}
    for name, (weight, term) in terms.items():
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weight of loss term {name!r} must be finite and >= 0, got {weight}")
        if weight == 0:
            continue
        value = term()
        parts[name] = float(value.detach())
        total = weight * value if total is None else total + weight * value
    return (torch.zeros(()) if total is None else total), parts


def horizon_at(step: int, schedule: Sequence[Sequence[int]]) -> int:
    """The unrolled-rollout horizon in force at `step`.

    Why a schedule: unrolling through an untrained operator back-propagates through garbage and
    is slow; training one step first, then lengthening the horizon (pushforward-style curriculum),
    teaches stability once single steps are good. `schedule` is [[start_step, horizon], ...]
    sorted by start, e.g. [[0, 1], [500, 2], [1000, 4]]: horizon 2 for steps 500..999.
    """
    check_schedule([list(p) for p in schedule])
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    starts = [start for start, _ in schedule]
    return int(schedule[bisect.bisect_right(starts, step) - 1][1])

