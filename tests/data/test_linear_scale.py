"""Darcy's solution is proportional to its forcing beta (-div(a grad u) = beta): the autoencoder
works in u / beta, so the beta files share one latent space, and decoding multiplies each
sample's beta back. Checked on solver output with two betas and the same coefficient fields."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import torch
from helpers import save_operator, tiny_params

from ups.config import config_from_dict
from ups.data.convert import convert_task
from ups.data.datasets import Normaliser, TaskFrames, field_scale
from ups.data.latent import encode_task
from ups.data.simulate import simulate
from ups.data.store import open_store, split_path
from ups.eval.evaluate import load_surrogate
from ups.models.autoencoder import AutoEncoder, autoencoder_args
from ups.models.operator import LatentOperator
from ups.tasks import get_task
from ups.training.checkpoint import save_checkpoint
from ups.training.operator import operator_args

BETAS = [1.0, 10.0]


@pytest.fixture(scope="module")
def darcy(tmp_path_factory):
    root = tmp_path_factory.mktemp("linear")
    params = tiny_params()
    params["tasks"] = ["darcy2d"]
    params["simulate"]["darcy2d"] = {"n_traj": 6, "nx": 12, "beta": BETAS[:1]}
    cfg = config_from_dict(params)
    (first,) = simulate("darcy2d", cfg.simulate["darcy2d"], root / "raw", cfg.seed)
    # The simulator draws new coefficients per beta file; this file has the first file's
    # coefficients under beta = 10, so its solutions are exactly 10x the first's.
    other = first.with_name(first.name.replace(f"beta{BETAS[0]}", f"beta{BETAS[1]}"))
    shutil.copyfile(first, other)
    with h5py.File(other, "r+") as f:
        f["tensor"][...] = f["tensor"][()] * (BETAS[1] / BETAS[0])
        f.attrs["beta"] = BETAS[1]
    convert_task(get_task("darcy2d"), root / "raw", root / "conv", cfg.convert, cfg.seed)
    torch.manual_seed(0)
    save_checkpoint(root / "ae.pt", AutoEncoder(**autoencoder_args(cfg)),
                    autoencoder_args(cfg), config={}, step=0)
    encode_task("darcy2d", root / "ae.pt", root / "conv", root / "lat")
    return root, cfg


def pairs(store) -> list[tuple[int, int]]:
    """Rows of the same coefficient field (trajectory index) in the two beta files."""
    rows = {(int(f), int(i)): r for r, (f, i) in enumerate(store.source)}
    return [(rows[0, i], rows[1, i]) for f, i in rows if f == 0 and (1, i) in rows]


def test_normaliser_divides_and_multiplies_back_each_samples_scale():
    norm = Normaliser(np.array([0.5], np.float32), np.array([2.0], np.float32), by="forcing")
    u = np.random.default_rng(0).normal(size=(3, 4, 1))  # float64: exact enough at 100x
    scale = np.array([0.1, 1.0, 100.0])
    coded = norm.encode(u, scale)
    assert np.allclose(coded, (u / scale[:, None, None] - 0.5) / 2.0)
    assert np.allclose(norm.decode(coded, scale), u, rtol=1e-5)
    assert torch.allclose(norm.decode(torch.from_numpy(coded), scale), torch.from_numpy(u),
                          rtol=1e-5)
    with pytest.raises(ValueError, match="per sample by 'forcing'"):
        norm.encode(u)
    with pytest.raises(ValueError, match="per sample by 'forcing'"):
        norm.decode(coded)


def test_convert_records_the_statistics_of_u_over_beta(darcy):
    root, _ = darcy
    stats = json.loads((root / "conv" / "stats.json").read_text())
    train = open_store(split_path(root / "conv", "train"))
    u = np.asarray(train.fields[()], np.float64)  # (N, 1, X, Y, 1)
    beta = train.params[:, 0]
    assert sorted(set(beta.tolist())) == BETAS
    scaled = u / beta[:, None, None, None, None]
    assert stats["scaled"]["by"] == "forcing"
    assert stats["scaled"]["mean"][0] == pytest.approx(scaled.mean(), rel=1e-6)
    assert stats["scaled"]["std"][0] == pytest.approx(scaled.std(), rel=1e-5)
    # The top-level statistics stay those of u itself (the FNO's units).
    assert stats["mean"][0] == pytest.approx(u.mean(), rel=1e-6)


def test_the_same_coefficient_gives_the_same_training_frame_and_latent_for_every_beta(darcy):
    root, _ = darcy
    frames = TaskFrames(root / "conv", "train")
    store = frames.store
    matched = pairs(store)
    assert matched, "the two beta files share their coefficient fields (trajectory i)"
    raw = np.asarray(store.fields[()])
    values = frames.views[0].values  # (N, 1, P, 1) in the autoencoder's units
    z = np.load(root / "lat" / "train.npy")  # (N, 1, L, D)
    for a, b in matched:
        assert not np.allclose(raw[a], raw[b])  # 10x apart in physical units...
        assert np.allclose(values[a], values[b], atol=1e-4)  # ...one frame for the model
        assert np.allclose(z[a].astype(np.float32), z[b].astype(np.float32), atol=2e-2)
    meta = json.loads((root / "lat" / "meta.json").read_text())
    assert meta["field_stats"]["by"] == "forcing"


def test_decoding_multiplies_each_test_samples_beta_back(darcy, tmp_path):
    root, cfg = darcy
    save_operator(tmp_path / "op.pt", LatentOperator(**operator_args(cfg)), operator_args(cfg),
                  root / "ae.pt")
    model = load_surrogate(root / "ae.pt", tmp_path / "op.pt", root / "lat")
    test = open_store(split_path(root / "lat", "test"))
    assert np.array_equal(model.scale, field_scale(test))
    assert len(set(model.scale.tolist())) > 1  # both betas are in the test split
    z = torch.from_numpy(np.load(root / "lat" / "test.npy")[:, 0].astype(np.float32))
    n = len(z)
    traj, step = np.arange(n), np.zeros(n, int)
    decoded = model.decode(z, traj, step)  # (N, P, C) physical
    flipped = model.decode(z, traj[::-1].copy(), step)  # the same latents, others' betas
    ratio = decoded / flipped
    assert np.allclose(ratio, (model.scale / model.scale[::-1])[:, None, None], rtol=1e-4)


def test_a_zero_beta_is_refused_naming_the_file(tmp_path):
    from ups.data.pdebench import RawDataError

    params = tiny_params()
    cfg = config_from_dict(params)
    simulate("darcy2d", {"n_traj": 4, "nx": 8, "beta": [1.0]}, tmp_path / "raw", cfg.seed)
    (path,) = (tmp_path / "raw").glob("*.hdf5")
    with h5py.File(path, "r+") as f:
        f.attrs["beta"] = 0.0
    with pytest.raises(RawDataError, match=f"{path.name}.*forcing is 0.0"):
        convert_task(get_task("darcy2d"), tmp_path / "raw", tmp_path / "conv", cfg.convert,
                     cfg.seed)
    assert not (tmp_path / "conv").exists()
