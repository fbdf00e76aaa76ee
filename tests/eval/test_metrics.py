"""Closed-form checks of ups.eval.metrics (PDEBench's definitions) in 1D, 2D and 3D.

Fields are built as [batch, x1..xd, time, channels]; expected values are derived by hand from
the definitions in the module docstring, never from another implementation.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from ups.eval import metrics
from ups.eval.metrics import KEYS, empty_bands, nrmse_per_time, pdebench_metrics, per_channel_time

F64 = torch.float64


def _grid(shape: tuple[int, ...], b: int = 2, t: int = 2, c: int = 1) -> list[torch.Tensor]:
    """Periodic index coordinates x_a = i_a / n_a, broadcast to [b, *shape, t, c] per axis."""
    axes = torch.meshgrid(*[torch.arange(n, dtype=F64) / n for n in shape], indexing="ij")
    return [a[None, ..., None, None].expand(b, *shape, t, c) for a in axes]


def _target(shape: tuple[int, ...], b: int = 2, t: int = 2, c: int = 1) -> torch.Tensor:
    """3 + cos(2 pi x1): its RMS over a periodic grid is sqrt(9 + 1/2) exactly."""
    return 3.0 + torch.cos(2 * math.pi * _grid(shape, b, t, c)[0])


def _score_error(e: torch.Tensor, **kwargs) -> dict[str, float]:
    """Metrics of a prediction whose error is e against the target 1 (nonzero norm)."""
    return pdebench_metrics(e + 1.0, torch.ones_like(e), **kwargs)


SHAPES = [(32,), (12, 10), (6, 5, 4)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("a", [0.5, -2.0])
def test_constant_offset(shape, a):
    target = _target(shape, c=2)
    m = pdebench_metrics(target + a, target)
    for key in ("rmse", "crmse", "brmse", "max_error"):
        assert m[key] == pytest.approx(abs(a), rel=1e-12), key
    assert m["nrmse"] == pytest.approx(abs(a) / math.sqrt(9.5), rel=1e-12)
    # a constant sits in shell 0 only: |F_0| = |a| N, so E_0 = |a| (unit lengths); the low band
    # averages shells 0..3, or all shells where there are fewer (6 x 5 x 4: shells 0, 1)
    low_shells = min(4, metrics.n_shells(shape))
    assert m["frmse_low"] == pytest.approx(abs(a) / low_shells, rel=1e-12)
    assert set(m) == set(KEYS) and all(isinstance(v, float) for v in m.values())


@pytest.mark.parametrize("mode,band", [(2, "frmse_low"), (7, "frmse_mid"), (20, "frmse_high"),
                                       (32, "frmse_high")])
def test_single_mode_1d(mode, band):
    """e = A cos(2 pi m n / nx): |rfft|_m = A nx / 2 (A nx at Nyquist), so E_m = A L / 2 (A L).

    64 points give 33 shells (Nyquist bin kept): low 4, mid 8, high 21 shells.
    """
    nx, amp, length = 64, 0.3, 2.0
    x = _grid((nx,), b=3)[0]
    target = torch.sin(2 * math.pi * x) + 2.0
    pred = target + amp * torch.cos(2 * math.pi * mode * x)
    m = pdebench_metrics(pred, target, domain_lengths=(length,))
    e_m = amp * length * (1.0 if mode == nx // 2 else 0.5)
    sizes = {"frmse_low": 4, "frmse_mid": 8, "frmse_high": 21}
    for name, size in sizes.items():
        expected = e_m / size if name == band else 0.0
        assert m[name] == pytest.approx(expected, rel=1e-10, abs=1e-12), name


def test_single_mode_2d_non_square():
    """Plane wave A cos(2 pi (3 x + 4 y)): one peak (A nx ny / 2) in the quadrant, shell 5.

    32 x 28 grid: 14 shells, so mid has 8 shells and high 2 (12, 13).
    """
    shape, amp, lengths = (32, 28), 0.7, (1.5, 0.5)
    x, y = _grid(shape)
    pred = amp * torch.cos(2 * math.pi * (3 * x + 4 * y))
    m = pdebench_metrics(pred + 1.0, torch.ones_like(pred), domain_lengths=lengths)
    e5 = amp / 2 * lengths[0] * lengths[1]
    assert m["frmse_mid"] == pytest.approx(e5 / 8, rel=1e-10)
    assert m["frmse_low"] == pytest.approx(0.0, abs=1e-12)
    assert m["frmse_high"] == pytest.approx(0.0, abs=1e-12)
    assert m["rmse"] == pytest.approx(amp / math.sqrt(2), rel=1e-12)


def test_mode_outside_kept_shells_2d():
    """(15, 15) is in the quadrant of a 32 x 32 grid but its shell 21 > 15 is dropped."""
    x, y = _grid((32, 32))
    e = torch.cos(2 * math.pi * (15 * x + 15 * y))
    m = _score_error(e)
    for name in ("frmse_low", "frmse_mid", "frmse_high"):
        assert m[name] == pytest.approx(0.0, abs=1e-12)
    assert m["rmse"] == pytest.approx(1 / math.sqrt(2), rel=1e-12)


def test_single_mode_3d():
    """Mode (2, 3, 2) on 16 x 12 x 10: shell floor(sqrt(17)) = 4, the only mid shell
    (5 shells), high band empty."""
    shape, amp, lengths = (16, 12, 10), 1.3, (2.0, 1.0, 0.5)
    x, y, z = _grid(shape)
    e = amp * torch.cos(2 * math.pi * (2 * x + 3 * y + 2 * z))
    m = _score_error(e, domain_lengths=lengths)
    assert m["frmse_mid"] == pytest.approx(amp / 2 * math.prod(lengths), rel=1e-10)
    assert m["frmse_low"] == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(m["frmse_high"])


def _naive_spectrum(e: np.ndarray) -> np.ndarray:
    """Loop version of the 2D/3D shell sum for one [b, *S] field: [K] (unit lengths)."""
    spatial = e.shape[1:]
    power = np.abs(np.fft.fftn(e, axes=tuple(range(1, e.ndim)))) ** 2
    k_max = min(n // 2 for n in spatial)
    shells = np.zeros((e.shape[0], k_max))
    for idx in np.ndindex(*(n // 2 for n in spatial)):
        k = math.isqrt(sum(i * i for i in idx))
        if k <= k_max - 1:
            shells[:, k] += power[(slice(None), *idx)]
    return np.sqrt(shells.mean(0)) / math.prod(spatial)


@pytest.mark.parametrize("shape", [(30, 27), (9, 8, 7)])
def test_spectrum_matches_loop_definition(shape):
    gen = torch.Generator().manual_seed(1)
    e = torch.randn(3, *shape, 1, 1, generator=gen, dtype=F64)
    spectrum = metrics._spectrum(metrics._to_bct(e), (1.0,) * len(shape))[0, 0]
    assert torch.allclose(spectrum, torch.from_numpy(_naive_spectrum(e[..., 0, 0].numpy())))


def test_boundary_only_error_1d():
    nx = 10
    e = torch.zeros(2, nx, 1, 1, dtype=F64)
    e[:, 0], e[:, -1] = 3.0, -4.0
    m = _score_error(e)
    assert m["brmse"] == pytest.approx(math.sqrt((9 + 16) / 2))
    assert m["rmse"] == pytest.approx(math.sqrt(25 / nx))
    assert m["max_error"] == pytest.approx(4.0)


def test_boundary_only_error_2d_counts_corners_twice():
    """e = a on the edge x = 0: that edge gives ny a^2, edges y = 0 and y = -1 add the two
    corners again: bRMSE = |a| sqrt((ny + 2) / (2 nx + 2 ny)); rmse = |a| / sqrt(nx)."""
    nx, ny, a = 8, 5, 2.0
    e = torch.zeros(2, nx, ny, 1, 1, dtype=F64)
    e[:, 0] = a
    m = _score_error(e)
    assert m["brmse"] == pytest.approx(a * math.sqrt((ny + 2) / (2 * nx + 2 * ny)))
    assert m["rmse"] == pytest.approx(a / math.sqrt(nx))


def test_boundary_only_error_3d():
    """e = a on the face x = 0: ny nz + 2 nz (faces y = 0, -1) + 2 ny (faces z = 0, -1)."""
    nx, ny, nz, a = 6, 5, 4, 1.5
    e = torch.zeros(1, nx, ny, nz, 1, 1, dtype=F64)
    e[:, 0] = a
    m = _score_error(e)
    faces = 2 * (nx * ny + ny * nz + nx * nz)
    assert m["brmse"] == pytest.approx(a * math.sqrt((ny * nz + 2 * nz + 2 * ny) / faces))
    assert m["rmse"] == pytest.approx(a / math.sqrt(nx))


@pytest.mark.parametrize("shape", SHAPES)
def test_initial_step_slices_context(shape):
    target = _target(shape, t=5)
    pred = target.clone()
    pred[..., :2, :] += 10.0  # errors only in the two context steps
    assert pdebench_metrics(pred, target)["rmse"] == pytest.approx(4.0)  # 10 * 2 / 5
    m = pdebench_metrics(pred, target, initial_step=2)
    for key, value in m.items():
        assert value == 0.0 or math.isnan(value), key
    assert per_channel_time(pred, target, initial_step=2)["rmse"].shape == (1, 3)


def test_per_channel_time_values_and_average():
    """Offsets a[c, t]: rmse[c, t] = |a[c, t]|; the summary is their mean."""
    a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=F64)  # [C, T]
    target = _target((16,), t=3, c=2)
    pred = target + a.T[None, None]  # [1, 1, T, C] broadcast
    ct = per_channel_time(pred, target)
    assert set(ct) == set(KEYS)
    assert torch.allclose(ct["rmse"], a) and torch.allclose(ct["max_error"], a)
    assert pdebench_metrics(pred, target)["rmse"] == pytest.approx(3.5)
    assert torch.allclose(nrmse_per_time(pred, target), a.mean(0) / math.sqrt(9.5))


def test_per_batch_overweights_partial_last_chunk():
    """Offsets 1, 1, 1, 1, 3 in chunks of 2: chunks [1, 1], [1, 1], [3]."""
    a = torch.tensor([1.0, 1.0, 1.0, 1.0, 3.0], dtype=F64)
    target = torch.full((5, 16, 1, 1), 2.0, dtype=F64)
    pred = target + a[:, None, None, None]
    full = pdebench_metrics(pred, target)
    chunked = pdebench_metrics(pred, target, per_batch=True, batch_size=2)
    assert full["rmse"] == pytest.approx(7 / 5)
    assert chunked["rmse"] == pytest.approx(5 / 3)
    assert full["nrmse"] == pytest.approx(7 / 10)
    assert chunked["nrmse"] == pytest.approx(5 / 6)
    assert full["crmse"] == pytest.approx(math.sqrt(13 / 5))  # sqrt(mean a^2)
    assert chunked["crmse"] == pytest.approx(5 / 3)
    assert full["max_error"] == pytest.approx(3.0)
    assert chunked["max_error"] == pytest.approx(5 / 3)  # mean of the chunk maxima
    assert pdebench_metrics(pred, target, per_batch=True, batch_size=5) == pytest.approx(full,
                                                                                 nan_ok=True)
    with pytest.raises(ValueError):
        pdebench_metrics(pred, target, per_batch=True)


def test_zero_norm_target_is_excluded_with_warning():
    target = torch.full((3, 8, 1, 1), 2.0, dtype=F64)
    target[1] = 0.0
    pred = target + torch.tensor([1.0, 5.0, 3.0], dtype=F64)[:, None, None, None]
    with pytest.warns(RuntimeWarning, match="1 of 3"):
        m = pdebench_metrics(pred, target)
    assert m["nrmse"] == pytest.approx((0.5 + 1.5) / 2)
    with pytest.warns(RuntimeWarning, match="1 of 3"):
        assert nrmse_per_time(pred, target).tolist() == pytest.approx([1.0])
    with pytest.warns(RuntimeWarning, match="3 of 3"):
        m = pdebench_metrics(pred, torch.zeros_like(target))
    assert math.isnan(m["nrmse"]) and m["rmse"] == pytest.approx((3 + 5 + 5) / 3)
    assert not any(math.isinf(v) for v in m.values())


def test_nan_prediction_propagates():
    target = torch.full((2, 8, 1, 1), 2.0, dtype=F64)
    pred = target.clone()
    pred[0, 3] = float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no zero-norm warning: nothing is excluded
        m = pdebench_metrics(pred, target)
    assert math.isnan(m["nrmse"]) and math.isnan(m["rmse"])


@pytest.mark.parametrize("shape,empty", [((16,), ["frmse_high"]), ((23,), ["frmse_high"]),
                                         ((24,), []), ((7,), ["frmse_mid", "frmse_high"]),
                                         ((25, 25), ["frmse_high"]), ((26, 26), []),
                                         ((26, 24), ["frmse_high"]),
                                         ((8, 8, 8), ["frmse_mid", "frmse_high"])])
def test_empty_bands(shape, empty):
    assert empty_bands(shape) == empty
    e = torch.ones(1, *shape, 1, 1, dtype=F64)
    m = _score_error(e)
    for name in ("frmse_low", "frmse_mid", "frmse_high"):
        assert math.isnan(m[name]) == (name in empty), name


def test_float32_input_and_time_blocks(monkeypatch):
    """float32 input is scored in float64; scoring in small time blocks changes nothing."""
    gen = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 10, 9, 6, 2, generator=gen)
    target = torch.randn(3, 10, 9, 6, 2, generator=gen)
    ref = per_channel_time(pred.double(), target.double(), initial_step=1)
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 500)  # one step per block
    assert len(metrics._time_blocks(pred.shape, 1)) == 5
    got = per_channel_time(pred, target, initial_step=1)
    for key in KEYS:
        assert got[key].dtype == F64
        assert torch.allclose(got[key], ref[key], equal_nan=True), key


def test_invalid_inputs():
    x = torch.zeros(2, 8, 3, 1)
    with pytest.raises(ValueError):
        pdebench_metrics(x, torch.zeros(2, 8, 3, 2))
    with pytest.raises(ValueError):
        pdebench_metrics(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1))
    with pytest.raises(ValueError):
        pdebench_metrics(x, x, initial_step=3)
    with pytest.raises(ValueError):
        pdebench_metrics(x, x, domain_lengths=(1.0, 1.0))
