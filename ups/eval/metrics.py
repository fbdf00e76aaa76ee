"""PDEBench's error metrics, written from their published definitions (no PDEBench code).

Layout of every input: ``[batch, x1..xd, time, channels]`` with d in {1, 2, 3}, as in PDEBench.
All arithmetic is done in float64. Every metric is first computed per (channel, time) and then
averaged over channels and time. With ``e = pred - target``, ``s`` the flattened spatial index
and ``N`` the number of spatial points:

* rmse:      mean_b sqrt(mean_s e^2)
* nrmse:     mean_b sqrt(mean_s e^2) / sqrt(mean_s target^2); PDEBench has no epsilon (a zero
  target gives inf). Here (sample, channel, time) entries whose target RMS is exactly 0 are
  excluded from the mean with a warning; a (channel, time) with no entry left is nan.
* crmse:     sqrt(mean_b (sum_s e)^2) / N   (error of the conserved total)
* max_error: max_b max_s |e|
* brmse:     mean_b sqrt(sum of e^2 over the 2d boundary faces / number of face points), a
  point on several faces counted once per face (1D: the two end points; 2D: four edges over
  2 nx + 2 ny; 3D: six faces over 2 (nx ny + ny nz + nx nz)).
* frmse_*:   spectrum of e per shell k, E[c,t,k] = sqrt(mean_b P_k) / prod(n) * prod(L).
  1D: P_k = |rfft_x e|^2 over all nx//2 + 1 bins (Nyquist included, as PDEBench does).
  2D/3D: P_k = sum of |fftn e|^2 over the non-negative quadrant/octant i_a < n_a // 2 whose
  shell floor(sqrt(sum i_a^2)) = k, keeping k <= min(n_a // 2) - 1.
  Bands are means over shells: low [0, 4), mid [4, 12), high [12, end). A band without shells
  is nan (see ``empty_bands``), never 0.

Averaging: by default every sample weighs the same. ``per_batch=True`` reproduces PDEBench's
validation loop: metrics are computed per consecutive chunk of ``batch_size`` samples (the
chunk's max_error is the max over its samples), averaged over channels and time, then the
chunk values are averaged, so a partial last chunk is over-weighted.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

KEYS: tuple[str, ...] = ("rmse", "nrmse", "crmse", "brmse", "frmse_low", "frmse_mid",
                         "frmse_high", "max_error")
BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("frmse_low", 0, 4), ("frmse_mid", 4, 12), ("frmse_high", 12, None))
# Scored in time blocks of at most this many float64 values per field, to bound memory.
_BLOCK_ELEMENTS = 1 << 22


def n_shells(spatial_shape: Sequence[int]) -> int:
    """Number of fRMSE shells: nx//2 + 1 rfft bins in 1D, min(n_a // 2) in 2D and 3D."""
    shape = tuple(int(n) for n in spatial_shape)
    if len(shape) == 1:
        return shape[0] // 2 + 1
    return min(n // 2 for n in shape)


def empty_bands(spatial_shape: Sequence[int]) -> list[str]:
    """Names of the fRMSE bands that have no shell on this grid (their values are nan).

    With the shells of ``n_shells``: the high band needs at least 13 shells, i.e. 24 points in
    1D and 26 points on every side in 2D/3D; the mid band needs 5 (8 points in 1D, 10 per side).
    """
    k = n_shells(spatial_shape)
    return [name for name, lo, _ in BANDS if k <= lo]


def _check(pred: torch.Tensor, target: torch.Tensor, initial_step: int) -> int:
    """Validate the layout; returns the number of spatial dimensions d."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    d = pred.dim() - 3
    if d not in (1, 2, 3):
        raise ValueError(f"expected [batch, x1..xd, time, channels] with d in 1..3, "
                         f"got shape {tuple(pred.shape)}")
    if not 0 <= initial_step < pred.shape[-2]:
        raise ValueError(f"initial_step={initial_step} leaves no time step of {pred.shape[-2]}")
    if pred.shape[0] == 0:
        raise ValueError("empty batch")
    return d


def _lengths(domain_lengths: Sequence[float] | None, d: int) -> tuple[float, ...]:
    if domain_lengths is None:
        return (1.0,) * d
    lengths = tuple(float(v) for v in domain_lengths)
    if len(lengths) != d:
        raise ValueError(f"domain_lengths has {len(lengths)} entries for {d} spatial axes")
    return lengths


def _to_bct(x: torch.Tensor) -> torch.Tensor:
    """[B, *S, T, C] -> [B, C, T, *S] in float64."""
    return x.to(torch.float64).movedim(-1, 1).movedim(-1, 2)


def _pointwise(e: torch.Tensor, tgt: torch.Tensor) -> tuple[dict[str, torch.Tensor], int]:
    """rmse, nrmse, crmse, max_error as [C, T] from e, tgt [B, C, T, *S]; + #excluded entries.

    Also "nrmse_count" [C, T]: samples left in the nRMSE mean. A nan nrmse with a positive count
    is a genuine nan (e.g. a diverged prediction) and must propagate.
    """
    flat_e = e.flatten(3)  # [B, C, T, N]
    n = flat_e.shape[-1]
    err = flat_e.square().mean(-1).sqrt()  # [B, C, T]
    norm = tgt.flatten(3).square().mean(-1).sqrt()  # [B, C, T]
    valid = norm > 0
    ratio = torch.where(valid, err / torch.where(valid, norm, 1.0), 0.0)
    count = valid.sum(0)  # [C, T]; 0 / 0 -> nan where nothing is left
    nrmse = ratio.sum(0) / count.to(torch.float64)
    out = {
        "rmse": err.mean(0),
        "nrmse": nrmse,
        "nrmse_count": count,
        "crmse": flat_e.sum(-1).square().mean(0).sqrt() / n,
        "max_error": flat_e.abs().amax(-1).amax(0),
    }
    return out, int((~valid).sum())


def _boundary(e: torch.Tensor) -> torch.Tensor:
    """bRMSE [C, T] from e [B, C, T, *S]: the 2d faces, a point counted once per face."""
    spatial = e.shape[3:]
    total = e.new_zeros(e.shape[:3])
    n_points = 0
    for axis in range(len(spatial)):
        dim = 3 + axis
        for index in (0, spatial[axis] - 1):
            face = e.select(dim, index).square()  # [B, C, T, *S without axis]
            total = total + face.reshape(*face.shape[:3], -1).sum(-1)
            n_points += math.prod(spatial) // spatial[axis]
    return (total / n_points).sqrt().mean(0)


@lru_cache(maxsize=32)
def _shell_index(spatial: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """For 2D/3D grids: (flat positions in the quadrant/octant, their shell) of kept points.

    The quadrant is i_a < n_a // 2 on every axis, read from an rfftn whose last axis holds
    n_last // 2 + 1 bins; shell = floor(sqrt(sum i_a^2)), kept if <= min(n_a // 2) - 1.
    """
    sizes = tuple(n // 2 for n in spatial)
    grids = np.meshgrid(*[np.arange(m, dtype=np.int64) for m in sizes], indexing="ij")
    r2 = sum(g * g for g in grids)
    shell = np.floor(np.sqrt(r2.astype(np.float64))).astype(np.int64)  # exact for these sizes
    rfft_shape = (*spatial[:-1], spatial[-1] // 2 + 1)
    flat = np.ravel_multi_index(tuple(g.ravel() for g in grids), rfft_shape)
    keep = shell.ravel() <= min(sizes) - 1
    return torch.from_numpy(flat[keep]), torch.from_numpy(shell.ravel()[keep])


def _spectrum(e: torch.Tensor, lengths: tuple[float, ...]) -> torch.Tensor:
    """E[c, t, k] = sqrt(mean_b P_k) / prod(n) * prod(L) from e [B, C, T, *S]."""
    spatial = tuple(e.shape[3:])
    d = len(spatial)
    if d == 1:
        shells = torch.fft.rfft(e, dim=-1).abs().square()  # [B, C, T, nx//2 + 1]
    else:
        power = torch.fft.rfftn(e, dim=tuple(range(3, 3 + d))).abs().square().flatten(3)
        flat, shell = _shell_index(spatial)
        flat, shell = flat.to(e.device), shell.to(e.device)
        shells = e.new_zeros((*e.shape[:3], n_shells(spatial)))
        shells.index_add_(-1, shell, power[..., flat])  # [B, C, T, K]
    scale = math.prod(lengths) / math.prod(spatial)
    return shells.mean(0).sqrt() * scale  # [C, T, K]


def _bands(spectrum: torch.Tensor) -> dict[str, torch.Tensor]:
    """Band means over the shells of spectrum [C, T, K]; nan for a band without shells."""
    out = {}
    for name, lo, hi in BANDS:
        part = spectrum[..., lo:hi]
        if part.shape[-1] == 0:
            out[name] = spectrum.new_full(spectrum.shape[:2], float("nan"))
        else:
            out[name] = part.mean(-1)
    return out


def _time_blocks(shape: torch.Size, initial_step: int) -> list[slice]:
    """Slices of the scored time steps, each small enough for _BLOCK_ELEMENTS."""
    per_step = shape[0] * shape[-1] * math.prod(shape[1:-2])
    step = max(1, _BLOCK_ELEMENTS // max(per_step, 1))
    n_t = shape[-2]
    return [slice(t, min(t + step, n_t)) for t in range(initial_step, n_t, step)]


def _scores(pred: torch.Tensor, target: torch.Tensor, initial_step: int,
            lengths: tuple[float, ...] | None, spectral: bool = True
            ) -> tuple[dict[str, torch.Tensor], int, int]:
    """All metrics as [C, T'] tensors (T' = T - initial_step), #excluded and #entries for nRMSE.

    ``lengths=None`` means unit lengths; ``spectral=False`` skips fRMSE and bRMSE.
    """
    d = _check(pred, target, initial_step)
    lengths = _lengths(lengths, d)
    parts: list[dict[str, torch.Tensor]] = []
    excluded = 0
    for block in _time_blocks(pred.shape, initial_step):
        p, t = _to_bct(pred[..., block, :]), _to_bct(target[..., block, :])
        e = p - t  # [B, C, Tb, *S]
        scores, n_ex = _pointwise(e, t)
        excluded += n_ex
        if spectral:
            scores["brmse"] = _boundary(e)
            scores.update(_bands(_spectrum(e, lengths)))
        parts.append(scores)
    out = {k: torch.cat([s[k] for s in parts], dim=1) for k in parts[0]}
    entries = pred.shape[0] * pred.shape[-1] * (pred.shape[-2] - initial_step)
    return out, excluded, entries


def _warn_excluded(excluded: int, entries: int) -> None:
    if excluded:
        warnings.warn(f"nRMSE: {excluded} of {entries} (sample, channel, time) entries have a "
                      "target RMS of exactly 0 and were excluded (PDEBench would give inf)",
                      RuntimeWarning, stacklevel=3)


def per_channel_time(pred: torch.Tensor, target: torch.Tensor, initial_step: int = 0,
                     domain_lengths: Sequence[float] | None = None) -> dict[str, torch.Tensor]:
    """Every metric of ``KEYS`` as a float64 [C, T - initial_step] tensor (samples weighted
    equally); the conventions are those of the module docstring. nrmse is nan at a (channel,
    time) where every sample's target has zero norm (warned).

    pred, target: [B, x1..xd, T, C]. domain_lengths: physical length per spatial axis (default 1).
    """
    scores, excluded, entries = _scores(torch.as_tensor(pred), torch.as_tensor(target),
                                        initial_step, domain_lengths)
    _warn_excluded(excluded, entries)
    return {k: scores[k] for k in KEYS}


def nrmse_per_time(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """nRMSE per time step, float64 [T]: per (channel, time) mean over samples, then the mean
    over channels (channels whose targets are all zero at that step are skipped; nan if none).

    pred, target: [B, x1..xd, T, C]. Zero-norm targets are excluded with a warning.
    """
    scores, excluded, entries = _scores(torch.as_tensor(pred), torch.as_tensor(target), 0,
                                        None, spectral=False)
    _warn_excluded(excluded, entries)
    defined = scores["nrmse_count"] > 0  # [C, T]
    kept = torch.where(defined, scores["nrmse"], 0.0)
    return kept.sum(0) / defined.sum(0).to(torch.float64)  # 0 / 0 -> nan


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values where mask holds (nan if nowhere); a nan inside the mask propagates."""
    if not bool(mask.any()):
        return values.new_tensor(float("nan"))
    return values[mask].mean()


def _average(scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mean over channels and time of [C, T] scores; nrmse only where some sample is left."""
    out = {k: scores[k].mean() for k in KEYS if k != "nrmse"}
    out["nrmse"] = _masked_mean(scores["nrmse"], scores["nrmse_count"] > 0)
    out["nrmse_defined"] = (scores["nrmse_count"] > 0).any()
    return out


def pdebench_metrics(pred: torch.Tensor, target: torch.Tensor, initial_step: int = 0,
                     per_batch: bool = False, batch_size: int | None = None,
                     domain_lengths: Sequence[float] | None = None) -> dict[str, float]:
    """PDEBench's metrics (``KEYS``), each averaged over channels and time, as python floats.

    pred, target: [B, x1..xd, T, C] (d = 1..3, float32 or float64; scored in float64). The
    first ``initial_step`` time steps are dropped before scoring. ``per_batch=True`` averages
    over consecutive chunks of ``batch_size`` samples as PDEBench does (``batch_size`` is
    ignored otherwise). Bands without shells are nan (``empty_bands`` names them); nrmse is nan
    if every target entry has zero norm (warned). A nan in pred propagates to the metrics it
    touches. See the module docstring for the definitions.
    """
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if not per_batch:
        scores, excluded, entries = _scores(pred, target, initial_step, domain_lengths)
        _warn_excluded(excluded, entries)
        averaged = _average(scores)
        return {k: float(averaged[k]) for k in KEYS}
    if batch_size is None or batch_size < 1:
        raise ValueError("per_batch=True needs a positive batch_size")
    chunks, excluded, entries = [], 0, 0
    for start in range(0, pred.shape[0], batch_size):
        part = slice(start, start + batch_size)
        scores, n_ex, n_en = _scores(pred[part], target[part], initial_step, domain_lengths)
        chunks.append(_average(scores))
        excluded, entries = excluded + n_ex, entries + n_en
    _warn_excluded(excluded, entries)
    out = {k: float(torch.stack([c[k] for c in chunks]).mean()) for k in KEYS if k != "nrmse"}
    defined = torch.stack([c["nrmse_defined"] for c in chunks])
    out["nrmse"] = float(_masked_mean(torch.stack([c["nrmse"] for c in chunks]), defined))
    return {k: out[k] for k in KEYS}
