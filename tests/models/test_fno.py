"""The FNO baseline: shapes in 1D/2D/3D, what a Fourier layer is, and that training on converted
data learns (beats its untrained self and persistence), for transient and steady tasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import TINY_SIMULATE

from ups.config import ConvertConfig, TrainConfig
from ups.data.convert import convert_task
from ups.data.simulate import simulate
from ups.data.store import open_store, split_path
from ups.eval.fno import fno_one_step, fno_rollout, fno_steady
from ups.models.fno import FNO, FourierLayer, SpectralConv
from ups.tasks import get_task
from ups.training.checkpoint import load_checkpoint
from ups.training.fno import FNOData, fno_args, nrmse, train_fno, validation_error

torch.set_num_threads(1)


def converted(root, task: str, opts: dict):
    simulate(task, opts, root / "raw", seed=0)
    convert_task(get_task(task), root / "raw", root / "conv", ConvertConfig(0.2, 0.2), seed=0)
    return root / "conv"


@pytest.mark.parametrize("spatial", [(24,), (10, 7), (6, 5, 4)])
@pytest.mark.parametrize("padding", [0, 2])
def test_shapes_in_1d_2d_3d(spatial, padding):
    torch.manual_seed(0)
    model = FNO(dims=len(spatial), in_channels=3, out_channels=2, width=8, modes=4, layers=2,
                padding=padding)
    out = model(torch.randn(2, *spatial, 3))
    assert out.shape == (2, *spatial, 2) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="dims=") as err:
        model(torch.randn(2, *spatial, 1, 3))
    assert "spatial axes" in str(err.value)


def test_modes_above_the_grid_are_capped():
    """modes larger than the grid: every frequency is kept once (no index out of range)."""
    torch.manual_seed(0)
    conv = SpectralConv(2, 2, 2, modes=16)
    x = torch.randn(1, 2, 6, 5)
    assert conv(x).shape == x.shape


@pytest.mark.parametrize("spatial,shift", [((32,), (5,)), ((12, 10), (3, -4)),
                                           ((8, 6, 6), (1, 2, -3))])
def test_fourier_layer_is_translation_equivariant(spatial, shift):
    torch.manual_seed(0)
    layer = FourierLayer(len(spatial), width=4, modes=3)
    x = torch.randn(2, 4, *spatial)
    axes = tuple(range(2, 2 + len(spatial)))
    with torch.no_grad():
        shifted_out = layer(torch.roll(x, shift, axes))
        out_shifted = torch.roll(layer(x), shift, axes)
        # A non-trivial map: not the identity, not constant.
        assert (layer(x) - x).abs().max() > 1e-2 and layer(x).std() > 1e-3
    torch.testing.assert_close(shifted_out, out_shifted, atol=1e-5, rtol=1e-5)


def test_only_the_kept_modes_pass_the_spectral_part():
    torch.manual_seed(0)
    n, modes = 32, 5
    conv = SpectralConv(1, 1, 1, modes)
    x = torch.arange(n) / n
    with torch.no_grad():
        for k in range(n // 2):
            wave = torch.sin(2 * np.pi * k * x + 0.3)[None, None]  # (1, 1, n)
            amplitude = conv(wave).abs().max().item()
            assert (amplitude > 1e-3) if k < modes else (amplitude < 1e-5), (k, amplitude)
        # A random input in 2D: the output spectrum is zero beyond the kept block. The last
        # (rfft) axis keeps frequencies 0..m-1; the first keeps -m..m-1 (Li et al.'s corners),
        # which a real output mirrors to |kx| <= m.
        conv2 = SpectralConv(2, 3, 2, modes=3)
        y = torch.fft.fftn(conv2(torch.randn(4, 3, 16, 12)), dim=(2, 3)).abs()  # (4, 2, 16, 12)
    kx = torch.fft.fftfreq(16, 1 / 16).abs()[:, None]
    ky = torch.fft.fftfreq(12, 1 / 12).abs()[None, :]
    outside = (kx > 3) | (ky >= 3)
    assert y[..., outside].max() < 1e-5 and y[..., ~outside].max() > 1e-3


def test_spectral_conv_matches_li_et_al_corner_formula():
    """An independent 2D reference: Li et al.'s code keeps the corners [:m, :m] and [-m:, :m]
    of the rfft2 spectrum, weighted by the two halves of our weight."""
    torch.manual_seed(0)
    m, conv = 4, SpectralConv(2, 3, 2, modes=4)
    x = torch.randn(2, 3, 12, 10)
    w = torch.view_as_complex(conv.weight.detach())  # (3, 2, 2m, m)
    x_ft = torch.fft.rfft2(x)
    out_ft = torch.zeros(2, 2, 12, 6, dtype=x_ft.dtype)
    out_ft[:, :, :m, :m] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, :m, :m], w[:, :, :m])
    out_ft[:, :, -m:, :m] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, -m:, :m], w[:, :, m:])
    with torch.no_grad():
        torch.testing.assert_close(conv(x), torch.fft.irfft2(out_ft, s=(12, 10)), atol=1e-6,
                                   rtol=1e-5)


@pytest.fixture(scope="module")
def advection(tmp_path_factory):
    """A tiny advection set (both betas), trained for 300 steps."""
    root = tmp_path_factory.mktemp("fno-adv")
    conv = converted(root, "advection1d", {"n_traj": 24, "nx": 32, "nt": 11, "t_end": 0.5,
                                           "beta": [0.4, 1.0]})
    cfg = TrainConfig(steps=300, batch_size=16, lr=3e-3, warmup_steps=20, eval_every=100,
                      rollout_steps=2, device="cpu")
    result = train_fno(cfg, 0, conv, root / "fno.pt", None, width=16, modes=8, layers=2)
    return conv, root / "fno.pt", result


def test_training_beats_its_start_and_persistence(advection):
    conv, ckpt, result = advection
    payload = load_checkpoint(ckpt)
    val = FNOData.load(conv, "val", payload["extra"])
    torch.manual_seed(0)  # train_fno's seed: the untrained model it started from
    initial = validation_error(FNO(**fno_args(conv, 16, 8, 2)), val)
    persistence = nrmse(np.repeat(val.truth[:, :1], val.truth.shape[1], 1)[:, 1:],
                        val.truth[:, 1:])
    assert result.best_val < 0.3 * initial and result.best_val < 0.3 * persistence, (
        result.best_val, initial, persistence)
    assert payload["extra"]["train_seconds"] > 0
    assert payload["extra"]["best_val"] == pytest.approx(result.best_val)
    assert payload["extra"]["predicts"] == "increment"


def test_test_split_predictions(advection):
    conv, ckpt, _ = advection
    truth = np.asarray(open_store(split_path(conv, "test")).fields[:3])  # (3, T, X, 1)
    rollout, one_step = fno_rollout(ckpt, conv, 3), fno_one_step(ckpt, conv, 3)
    assert rollout.shape == one_step.shape == truth.shape
    np.testing.assert_allclose(rollout[:, 0], truth[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one_step[:, 0], truth[:, 0], rtol=1e-5, atol=1e-6)
    # Both start step 1 from the true first state; afterwards only one-step sees the truth.
    np.testing.assert_allclose(rollout[:, 1], one_step[:, 1], rtol=1e-4, atol=1e-5)
    assert nrmse(one_step[:, 1:], truth[:, 1:]) <= nrmse(rollout[:, 1:], truth[:, 1:]) + 1e-6
    persistence = nrmse(np.repeat(truth[:, :1], truth.shape[1], 1)[:, 1:], truth[:, 1:])
    assert nrmse(rollout[:, 1:], truth[:, 1:]) < 0.3 * persistence
    with pytest.raises(ValueError, match="test.h5: n is 0"):
        fno_rollout(ckpt, conv, 0)
    with pytest.raises(ValueError, match="fno_rollout"):
        fno_steady(ckpt, conv, 1)


def test_steady_task_maps_coefficient_to_solution(tmp_path):
    conv = converted(tmp_path, "darcy2d", {"n_traj": 20, "nx": 8, "beta": [1.0]})
    args = fno_args(conv, 8, 4, 2)
    assert args["in_channels"] == 2 and args["padding"] == 2  # nu + beta; non-periodic
    cfg = TrainConfig(steps=80, batch_size=8, lr=3e-3, warmup_steps=10, eval_every=40,
                      device="cpu")
    result = train_fno(cfg, 0, conv, tmp_path / "fno.pt", None, width=8, modes=4, layers=2)
    extra = load_checkpoint(tmp_path / "fno.pt")["extra"]
    val = FNOData.load(conv, "val", extra)
    torch.manual_seed(0)
    assert result.best_val < 0.7 * validation_error(FNO(**args), val)
    mean_field = nrmse(np.broadcast_to(val.norm.mean, val.truth.shape).copy(), val.truth)
    assert result.best_val < 0.7 * mean_field  # the train mean field: evaluate's baseline
    pred = fno_steady(tmp_path / "fno.pt", conv, 2)
    assert pred.shape == (2, 1, 8, 8, 1) and np.isfinite(pred).all()
    with pytest.raises(ValueError, match="steady; use fno_steady"):
        fno_rollout(tmp_path / "fno.pt", conv, 1)


def test_point_set_task_is_refused_by_name(tmp_path):
    conv = converted(tmp_path, "particles_advect", TINY_SIMULATE["particles_advect"])
    cfg = TrainConfig(steps=5, batch_size=2, eval_every=5, device="cpu")
    with pytest.raises(ValueError, match="'particles_advect' is a particles task") as err:
        train_fno(cfg, 0, conv, tmp_path / "fno.pt", None, width=4, modes=2, layers=1)
    assert "regular grid" in str(err.value)
    assert not (tmp_path / "fno.pt").exists()
