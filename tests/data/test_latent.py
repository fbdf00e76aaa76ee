"""The latent cache: one float16 array per split, tied to the autoencoder that made it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import save_operator, tiny_params

from ups.config import config_from_dict
from ups.data.convert import convert_task
from ups.data.latent import encode_task, uniform_dt
from ups.data.simulate import simulate
from ups.eval.evaluate import load_surrogate
from ups.models.autoencoder import AutoEncoder, autoencoder_args
from ups.models.operator import LatentOperator
from ups.tasks import get_task
from ups.training.checkpoint import save_checkpoint
from ups.training.operator import operator_args


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("latent")
    cfg = config_from_dict(tiny_params())
    simulate("advection1d", cfg.simulate["advection1d"], root / "raw", cfg.seed)
    convert_task(get_task("advection1d"), root / "raw", root / "conv", cfg.convert, cfg.seed)
    torch.manual_seed(0)
    ae = AutoEncoder(**autoencoder_args(cfg))
    save_checkpoint(root / "ae.pt", ae, autoencoder_args(cfg), config={}, step=0)
    return root, cfg


def test_cache_is_one_float16_array_per_split_with_meta(converted):
    root, cfg = converted
    meta = encode_task("advection1d", root / "ae.pt", root / "conv", root / "lat")
    files = sorted(p.name for p in (root / "lat").iterdir())
    assert files == ["meta.json", "stats.json", "test.h5", "test.npy", "train.npy", "val.npy"]
    # The scoring set travels with the cache, byte for byte (a box scores without conv/).
    for name in ("test.h5", "stats.json"):
        assert (root / "lat" / name).read_bytes() == (root / "conv" / name).read_bytes()
    for split in ("train", "val", "test"):
        z = np.load(root / "lat" / f"{split}.npy", mmap_mode="r")
        assert z.dtype == np.float16
        # TINY: 32 points, 4 per cell (patch_values 4) -> 8 tokens of the task's lattice
        assert z.shape[1:] == (cfg.simulate["advection1d"]["nt"], 8, cfg.latent.dim)
        assert list(z.shape) == meta["shape"][split]
        assert len(meta["params"][split]) == z.shape[0]
    on_disk = json.loads((root / "lat" / "meta.json").read_text())
    assert on_disk["param_names"] == ["beta"] and on_disk["task"] == "advection1d"
    assert on_disk["dt"] == pytest.approx(0.5 / 8)


def test_encoding_matches_the_model(converted):
    root, cfg = converted
    encode_task("advection1d", root / "ae.pt", root / "conv", root / "lat2")
    z = np.load(root / "lat2" / "train.npy")
    assert np.isfinite(z).all() and z.std() > 0
    assert not np.allclose(z[0, 0], z[1, 0])  # different states, different latents


def test_a_cache_from_another_autoencoder_is_refused(converted, tmp_path):
    root, cfg = converted
    encode_task("advection1d", root / "ae.pt", root / "conv", root / "lat3")
    torch.manual_seed(1)
    other = AutoEncoder(**autoencoder_args(cfg))
    save_checkpoint(tmp_path / "other.pt", other, autoencoder_args(cfg), config={}, step=0)
    save_operator(tmp_path / "op.pt", LatentOperator(**operator_args(cfg)), operator_args(cfg),
                  None)
    with pytest.raises(ValueError, match="made with another autoencoder"):
        load_surrogate(tmp_path / "other.pt", tmp_path / "op.pt", root / "lat3")


def test_wrong_task_name_is_refused(converted):
    root, _ = converted
    with pytest.raises(ValueError, match="holds task 'advection1d', not 'burgers1d'"):
        encode_task("burgers1d", root / "ae.pt", root / "conv", root / "lat4")
    assert not (root / "lat4").exists()


def test_non_uniform_time_axis_is_refused():
    assert uniform_dt(np.linspace(0, 1, 5), "t") == pytest.approx(0.25)
    with pytest.raises(ValueError, match="not uniform"):
        uniform_dt(np.array([0.0, 0.1, 0.3]), "t")


def test_a_diverged_checkpoint_is_refused_and_no_non_finite_latent_is_written(converted,
                                                                             tmp_path):
    """A checkpoint holding NaN is refused by name; one whose latents overflow float16 stops
    the encoding, and neither leaves a cache behind."""
    root, cfg = converted
    ae = AutoEncoder(**autoencoder_args(cfg))
    with torch.no_grad():
        ae.encoder.out.weight[0, 0] = float("nan")
    save_checkpoint(tmp_path / "nan.pt", ae, autoencoder_args(cfg), config={}, step=0)
    with pytest.raises(ValueError, match=r"nan.pt: weight 'encoder.out.weight' holds NaN"):
        encode_task("advection1d", tmp_path / "nan.pt", root / "conv", tmp_path / "lat")
    with torch.no_grad():
        ae.encoder.out.weight[0, 0] = 0.0
        ae.encoder.out.bias.fill_(1e6)  # finite weights, latents beyond float16's 65504
    save_checkpoint(tmp_path / "big.pt", ae, autoencoder_args(cfg), config={}, step=0)
    with pytest.raises(ValueError, match="non-finite float16 latents"):
        encode_task("advection1d", tmp_path / "big.pt", root / "conv", tmp_path / "lat")
    assert not (tmp_path / "lat").exists()
