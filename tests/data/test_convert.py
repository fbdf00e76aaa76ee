"""Converter: PDEBench layouts in, the UPS store out; splits without leakage; clear errors."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest

from ups.config import ConvertConfig
from ups.data.convert import assign_splits, convert_task
from ups.data.pdebench import RawDataError
from ups.data.store import SPLITS, open_store, split_path
from ups.tasks import get_task


def write_tensor_file(path, tensor, x, t_plus_one, **attrs):
    """A 1D PDEBench file exactly as released: `tensor` (N, T, X), t-coordinate of length T+1."""
    with h5py.File(path, "w") as f:
        f["tensor"] = tensor.astype(np.float32)
        f["x-coordinate"] = x.astype(np.float32)
        f["t-coordinate"] = t_plus_one.astype(np.float32)
        for k, v in attrs.items():
            f.attrs[k] = np.float64(v)


def write_diff_react(path, samples, x, y, t):
    """PDEBench's 2D diff-react group file: `NNNN/data` (T, Y, X, 2) lzf, `NNNN/grid/{x,y,t}`."""
    with h5py.File(path, "w") as f:
        for i, s in enumerate(samples):
            g = f.create_group(f"{i:04d}")
            g.create_dataset("data", data=s.astype(np.float32), compression="lzf")
            g["grid/x"] = x.astype(np.float32)
            g["grid/y"] = y.astype(np.float32)
            g["grid/t"] = t.astype(np.float32)


@pytest.fixture
def burgers_raw(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    n, n_t, n_x = 20, 5, 16
    x = (np.arange(n_x) + 0.5) / n_x
    t = np.linspace(0, 0.5, n_t + 1)  # PDEBench: one longer than the data
    rng = np.random.default_rng(0)
    u0 = rng.normal(size=(n, 1, n_x))
    for nu in (0.01, 0.1):
        # Each trajectory's values encode (file, index, step) so the test can trace them.
        tensor = u0 + nu * 1000 + np.arange(n_t)[None, :, None] * 0.001
        write_tensor_file(raw / f"1D_Burgers_Sols_Nu{nu}.hdf5", tensor, x, t, Nu=nu)
    return raw, u0, x, t


def test_tensor_files_convert_with_params_coords_and_times(burgers_raw, tmp_path):
    raw, u0, x, t = burgers_raw
    out = tmp_path / "conv"
    manifest = convert_task(get_task("burgers1d"), raw, out, ConvertConfig(0.2, 0.2), seed=0)
    total = 0
    for split in SPLITS:
        store = open_store(split_path(out, split))
        assert store.channels == ("u",) and store.param_names == ("nu",)
        np.testing.assert_allclose(store.t, t[:-1], rtol=1e-6)  # the first T of T+1 times
        np.testing.assert_allclose(store.coords["x"], x, rtol=1e-6)
        for row in range(store.n):
            f, i = store.source[row]
            nu = store.params[row, 0]
            assert store.files[f] == f"1D_Burgers_Sols_Nu{nu}.hdf5"
            expected = u0[i, 0] + nu * 1000  # (X,)
            np.testing.assert_allclose(store.fields[row, 0, :, 0], expected, rtol=1e-5)
        total += store.n
    assert total == 40
    assert [f["params"]["nu"] for f in manifest["files"]] == [0.01, 0.1]
    assert all(len(f["md5"]) == 32 for f in manifest["files"])
    assert json.loads((out / "manifest.json").read_text())["splits"]["test"]["count"] == 8


def test_no_initial_state_in_two_splits(burgers_raw, tmp_path):
    raw, *_ = burgers_raw
    out = tmp_path / "conv"
    convert_task(get_task("burgers1d"), raw, out, ConvertConfig(0.2, 0.2), seed=3)
    states = {s: set(open_store(split_path(out, s)).source[:, 1].tolist()) for s in SPLITS}
    assert not states["train"] & states["val"]
    assert not states["train"] & states["test"]
    assert not states["val"] & states["test"]
    assert set().union(*states.values()) == set(range(20))


def test_stats_come_from_train_split_only(burgers_raw, tmp_path):
    raw, *_ = burgers_raw
    out = tmp_path / "conv"
    convert_task(get_task("burgers1d"), raw, out, ConvertConfig(0.2, 0.2), seed=0)
    train = np.asarray(open_store(split_path(out, "train")).fields[()])
    stats = json.loads((out / "stats.json").read_text())
    assert stats["mean"][0] == pytest.approx(train.mean(), rel=1e-5)
    assert stats["std"][0] == pytest.approx(train.std(), rel=1e-4)


def test_group_file_axis_order_is_y_then_x(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    n_t, nx, ny = 3, 6, 4
    x, y, t = np.linspace(-1, 1, nx), np.linspace(-1, 1, ny), np.linspace(0, 1, n_t)
    # Field value = 10 * x + y on channel 0, so a swapped axis is detected.
    xx, yy = np.meshgrid(x, y, indexing="xy")  # (Y, X)
    sample = np.stack([10 * xx + yy, -yy], axis=-1)[None].repeat(n_t, 0)  # (T, Y, X, 2)
    write_diff_react(raw / "2D_diff-react_NA_NA.h5", [sample + k for k in range(10)], x, y, t)
    out = tmp_path / "conv"
    convert_task(get_task("reaction_diffusion2d"), raw, out, ConvertConfig(0.1, 0.2), seed=0)
    store = open_store(split_path(out, "train"))
    u = store.fields[0]  # (T, X, Y, C)
    assert u.shape == (n_t, nx, ny, 2)
    k = store.source[0, 1]
    np.testing.assert_allclose(u[0, :, :, 0], 10 * x[:, None] + y[None, :] + k, rtol=1e-5)
    assert store.channels == ("u", "v")


def test_split_fractions_and_determinism():
    cfg = ConvertConfig(0.1, 0.1)
    a, b = assign_splits(100, cfg, 7), assign_splits(100, cfg, 7)
    assert (a == b).all()
    assert np.bincount(a).tolist() == [80, 10, 10]
    assert (assign_splits(100, cfg, 8) != a).any()


@pytest.mark.parametrize("damage", ["missing", "truncated", "wrong_rank", "nan", "no_attr"])
def test_bad_raw_input_fails_clearly_and_writes_nothing(burgers_raw, tmp_path, damage):
    raw, *_ = burgers_raw
    target = raw / "1D_Burgers_Sols_Nu0.1.hdf5"
    if damage == "missing":
        for p in raw.iterdir():
            p.unlink()
        expected = "no raw files"
    elif damage == "truncated":
        data = target.read_bytes()
        target.write_bytes(data[: len(data) // 3])
        expected = "truncated or corrupt"
    elif damage == "wrong_rank":
        write_tensor_file(target, np.zeros((8, 201)), np.zeros(201), np.zeros(9), Nu=0.1)
        expected = "has shape (8, 201) but a 1D trajectory file needs (N, T, X)"
    elif damage == "nan":
        with h5py.File(target, "r+") as f:
            f["tensor"][3, 2, 5] = np.nan
        expected = "tensor[3] contains NaN"
    else:
        with h5py.File(target, "r+") as f:
            del f.attrs["Nu"]
        expected = "root attribute 'Nu'"
    out = tmp_path / "conv"
    with pytest.raises(RawDataError, match=re.escape(expected)):
        convert_task(get_task("burgers1d"), raw, out, ConvertConfig(0.2, 0.2), seed=0)
    assert not out.exists()
    assert not any(p.name.startswith(".conv") for p in tmp_path.iterdir())


def test_pdebench_split_mode_follows_pdebench_convention():
    cfg = ConvertConfig(0.1, 0.1, split="pdebench")
    single = assign_splits(20, cfg, seed=0, layout="tensor")
    assert (single[:2] == 2).all() and (single[2:4] == 1).all() and (single[4:] == 0).all()
    group = assign_splits(20, cfg, seed=0, layout="group")
    assert (group[-2:] == 2).all() and (group[:-4] == 0).all()


def test_byte_identical_files_are_converted_once(burgers_raw, tmp_path):
    raw, *_ = burgers_raw
    original = raw / "1D_Burgers_Sols_Nu0.1.hdf5"
    (raw / "1D_Burgers_Sols_Nu0.1_copy.hdf5").write_bytes(original.read_bytes())
    out = tmp_path / "conv"
    manifest = convert_task(get_task("burgers1d"), raw, out, ConvertConfig(0.2, 0.2), seed=0)
    assert sum(manifest["splits"][s]["count"] for s in SPLITS) == 40  # not 60
    assert manifest["duplicates_skipped"] == [
        {"name": "1D_Burgers_Sols_Nu0.1_copy.hdf5", "md5": manifest["files"][1]["md5"],
         "same_as": "1D_Burgers_Sols_Nu0.1.hdf5"}]


def test_nonfinite_trajectories_can_be_skipped_and_are_counted(burgers_raw, tmp_path):
    raw, *_ = burgers_raw
    with h5py.File(raw / "1D_Burgers_Sols_Nu0.1.hdf5", "r+") as f:
        f["tensor"][3, 2, 5] = np.inf
    out = tmp_path / "conv"
    manifest = convert_task(get_task("burgers1d"), raw, out,
                            ConvertConfig(0.2, 0.2, skip_nonfinite=True), seed=0)
    assert [(k["file"], k["index"]) for k in manifest["skipped_nonfinite"]] == [
        ("1D_Burgers_Sols_Nu0.1.hdf5", 3)]
    stores = [open_store(split_path(out, s)) for s in SPLITS]
    assert sum(s.n for s in stores) == 39
    assert all(np.isfinite(np.asarray(s.fields[()])).all() for s in stores)
    assert [s.n for s in stores] == [manifest["splits"][s]["count"] for s in SPLITS]
