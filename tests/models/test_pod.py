"""The POD baseline: the PCA finds a known subspace (both ways), the fitted maps reproduce a known
linear system, the val split chooses the modes, and on our solvers' data: advection rolls out
nearly exactly with enough modes, Darcy's steady map works on a grid and a mesh, moving particles
get null figures with a note, and evaluation scores it like every other model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_SIMULATE

from ups.config import ConvertConfig
from ups.data.convert import convert_task
from ups.data.simulate import simulate
from ups.data.store import open_store, split_path
from ups.eval.pod import pod_one_step, pod_rollout, pod_steady
from ups.eval.variants import score_pod
from ups.tasks import get_task
from ups.training import pca as pca_module
from ups.training.fno import nrmse
from ups.training.pod import Candidates, fit_pod, train_pod
from ups.training.pod_model import (
    FrameNorm,
    Split,
    load_pod,
    read_record,
    save_disabled_pod,
    save_pod,
)

POINTS, CHANNELS, RANK = 6, 2, 3  # synthetic frames: 6 points x 2 channels, in a 3-dim subspace
NORM = FrameNorm(np.array([0.5, -1.0]), np.array([2.0, 0.5]))  # a non-trivial standardisation


def converted(root: Path, task: str, opts: dict) -> Path:
    simulate(task, opts, root / "raw", seed=0)
    convert_task(get_task(task), root / "raw", root / "conv", ConvertConfig(0.2, 0.2), seed=0)
    return root / "conv"


def rotation(angle: float, decay: float) -> np.ndarray:
    """A linear map of the 3 latent coordinates: mode 0 decays, modes 1-2 rotate."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[decay, 0, 0], [0, c, -s], [0, s, c]])


def system(rng, maps: dict[float, np.ndarray], n: int, n_t: int,
           names: tuple[str, ...] = ("beta",)) -> Split:
    """`n` trajectories per parameter value of x(t) = shift + U a(t), a(t+1) = A a(t), in the
    fixed 3-dim subspace U of R^12 (physical units: NORM decoded); `names` () for none."""
    basis_rng = np.random.default_rng(0)  # the same U and shift for every split
    u = np.linalg.qr(basis_rng.normal(size=(POINTS * CHANNELS, RANK)))[0]  # (12, 3)
    shift = basis_rng.normal(size=POINTS * CHANNELS)
    fields, params = [], []
    for beta, a_map in maps.items():
        a = np.empty((n, n_t, RANK))
        a[:, 0] = rng.normal(size=(n, RANK)) * [3.0, 1.0, 1.0]  # mode 0 dominates
        for t in range(n_t - 1):
            a[:, t + 1] = a[:, t] @ a_map.T
        y = (shift + a @ u.T).reshape(n, n_t, POINTS, CHANNELS)
        fields.append(NORM.decode(y, None))
        params += [beta] * n
    params = np.asarray(params, np.float64)[:, None][:, :len(names)]  # (N, 1) or (N, 0)
    return Split(Path("mem.h5"), np.concatenate(fields), params, names)


META = {"task": "synthetic", "kind": "grid", "channels": ["u", "v"], "input_channels": [],
        "spatial_shape": [POINTS], "times": 6}


def frames_in_subspace(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    u = np.linalg.qr(rng.normal(size=(12, RANK)))[0]
    x = 1.5 + (rng.normal(size=(n, RANK)) * [3.0, 2.0, 1.0]) @ u.T  # (n, 12)
    return x, u


@pytest.mark.parametrize("way", ["covariance", "snapshots", "subsample"])
def test_pca_finds_a_known_subspace(way, monkeypatch):
    rng = np.random.default_rng(0)
    x, u = frames_in_subspace(rng, 40)
    if way != "covariance":
        monkeypatch.setattr(pca_module, "MAX_COVARIANCE_DIM", 4)  # 12 values: snapshots
    if way == "subsample":
        monkeypatch.setattr(pca_module, "SNAPSHOT_ELEMENTS", 12 * 20)  # 20 of the 40 frames
    pca = pca_module.fit_pca(lambda: iter((x[:25], x[25:])), 40, 12, k_max=8, seed=0)
    assert pca.method.startswith(way if way != "subsample" else "snapshots (subsample)")
    assert pca.frames == (20 if way == "subsample" else 40)
    assert pca.modes == RANK  # 8 asked for, the data has 3 directions
    np.testing.assert_allclose(pca.basis.T @ pca.basis, np.eye(RANK), atol=1e-10)
    np.testing.assert_allclose(u @ (u.T @ pca.basis), pca.basis, atol=1e-10)  # inside span U
    np.testing.assert_allclose(pca.decode(pca.project(x)), x, atol=1e-9)
    assert pca.explained(RANK) == pytest.approx(1.0)
    assert np.all(np.diff(pca.variance) <= 0)
    if way == "covariance":
        np.testing.assert_allclose(pca.variance, np.var(x @ pca.basis, axis=0), rtol=1e-9)


def test_snapshots_and_covariance_give_the_same_basis(monkeypatch):
    rng = np.random.default_rng(1)
    x, _ = frames_in_subspace(rng, 30)
    by_cov = pca_module.fit_pca(lambda: iter([x]), 30, 12, 3, 0)
    monkeypatch.setattr(pca_module, "MAX_COVARIANCE_DIM", 4)
    by_snap = pca_module.fit_pca(lambda: iter([x]), 30, 12, 3, 0)
    np.testing.assert_allclose(by_snap.basis, by_cov.basis, atol=1e-8)  # signs fixed too
    np.testing.assert_allclose(by_snap.variance, by_cov.variance, rtol=1e-8)


def test_fitted_maps_reproduce_a_known_linear_system(tmp_path):
    """Two parameter values, two different linear systems: each group's map is exact, so
    rollouts and one-step predictions of new trajectories match to rounding, also after the
    model file's round trip; a group with too few pairs takes the map of all trajectories."""
    rng = np.random.default_rng(0)
    maps = {0.4: rotation(0.3, 0.95), 1.0: rotation(-0.7, 0.8)}
    train, val, test = (system(rng, maps, n, 6) for n in (10, 3, 4))
    model = fit_pod(train, val, NORM, None, Candidates((3, 8), (1e-12,)), 0, False, META)
    record = model.record
    assert record["modes"] == 3 and record["pca"]["available_modes"] == 3
    assert [g["map"] for g in record["groups"]] == ["own", "own"]
    assert record["val_nrmse"] < 1e-6 and record["val_without_group"] == 0
    save_pod(tmp_path / "pod.npz", model)
    loaded = load_pod(tmp_path / "pod.npz")
    for m in (model, loaded):
        for mode in ("rollout", "one_step"):
            np.testing.assert_allclose(m.predict(test, mode, test.n), test.fields, atol=1e-7)
    assert read_record(tmp_path / "pod.npz")["groups"] == record["groups"]
    # A third value with a single pair: 1 < 2 x (3 modes + bias), so it borrows the all-groups map.
    few = system(rng, {2.0: rotation(0.1, 0.5)}, 1, 2)
    few = Split(few.path, np.concatenate([train.fields[:, :2], few.fields]),
                np.concatenate([train.params, few.params]), train.param_names)
    small = fit_pod(few, val, NORM, None, Candidates((3,), (1e-12,)), 0, False, META)
    assert [g["map"] for g in small.record["groups"][:2]] == ["own", "own"]
    assert small.record["groups"][2]["map"].startswith("all trajectories' (too few pairs")
    np.testing.assert_array_equal(small.maps[2], small.maps[-1])


def test_the_val_split_chooses_the_number_of_modes():
    """The same train split; val trajectories whose rotating modes turn the other way make the
    one-mode model (which leaves them out) the better choice."""
    rng = np.random.default_rng(0)
    train, same, other = (system(rng, {0.0: rotation(angle, 0.9)}, n, 6, names=())
                          for angle, n in ((0.6, 12), (0.6, 4), (-0.6, 4)))
    chosen = {}
    for name, val in (("same", same), ("other", other)):
        model = fit_pod(train, val, NORM, None, Candidates((1, 3), (1e-8, 1e-2)), 0, False, META)
        table = model.record["candidates"]
        assert len(table) == 2 * 2 * 2  # modes x targets (increment, state) x ridges
        assert model.record["val_nrmse"] == min(c["val_nrmse"] for c in table)
        chosen[name] = model.record["modes"]
    assert chosen == {"same": 3, "other": 1}


@pytest.fixture(scope="module")
def advection(tmp_path_factory):
    """Our advection solver's data (both betas), its POD fitted on 4 or 16 modes."""
    root = tmp_path_factory.mktemp("pod-adv")
    conv = converted(root, "advection1d", {"n_traj": 24, "nx": 32, "nt": 11, "t_end": 0.5,
                                           "beta": [0.4, 1.0]})
    record = train_pod((4, 16), (1e-8, 1e-4), 0, conv, root / "pod.npz", task="advection1d")
    return conv, root / "pod.npz", record


def test_advection_rolls_out_nearly_exactly_with_enough_modes(advection):
    conv, path, record = advection
    assert record["modes"] == 16 and record["group_by"] == ["beta"]
    assert [g["map"] for g in record["groups"]] == ["own", "own"]  # one map per beta
    few = min(c["val_nrmse"] for c in record["candidates"] if c["modes"] == 4)
    assert record["val_nrmse"] < 0.1 and few > 0.5  # 4 modes cannot hold the shifted waves
    truth = np.asarray(open_store(split_path(conv, "test")).fields[()])  # (n, T, X, 1)
    rollout, one_step = (f(path, conv, len(truth)) for f in (pod_rollout, pod_one_step))
    assert rollout.shape == one_step.shape == truth.shape
    np.testing.assert_array_equal(rollout[:, 0], truth[:, 0])  # the given state
    np.testing.assert_array_equal(one_step[:, 0], truth[:, 0])
    persistence = nrmse(np.repeat(truth[:, :1], truth.shape[1], 1)[:, 1:], truth[:, 1:])
    error = nrmse(rollout[:, 1:], truth[:, 1:])
    assert error < 0.1 and error < 0.1 * persistence, (error, persistence)
    assert nrmse(one_step[:, 1:], truth[:, 1:]) <= error
    with pytest.raises(ValueError, match="transient; use pod_rollout"):
        pod_steady(path, conv, 1)
    with pytest.raises(ValueError, match=r"test.h5: n is 0; expected 1 <= n"):
        pod_rollout(path, conv, 0)


def test_eval_scores_the_pod_like_the_fno(advection):
    conv, path, record = advection
    truth = np.asarray(open_store(split_path(conv, "test")).fields[:3])
    scored = score_pod(path, conv, truth, False, (1.0,))
    m = scored.metrics
    for key in ("nrmse_rollout", "nrmse_one_step", "frmse_low", "seconds_per_step",
                "train_seconds"):
        assert m[f"pod_{key}"] is not None and m[f"pod_{key}"] >= 0, key
    assert (m["pod_modes"], m["pod_ridge"]) == (record["modes"], record["ridge"])
    assert m["pod_nrmse_rollout"] == pytest.approx(
        nrmse(pod_rollout(path, conv, 3)[:, 1:], truth[:, 1:]), rel=1e-6)
    assert scored.rollouts["pod"].shape == truth.shape and not scored.notes
    missing = score_pod(None, conv, truth, False, (1.0,))
    assert missing.metrics["pod_nrmse_rollout"] is None and missing.notes == [
        "pod: no POD model given"]


@pytest.mark.parametrize("task,opts", [
    ("darcy2d", {"n_traj": 20, "nx": 8, "beta": [1.0, 10.0]}),
    ("darcy2d_mesh", {"n_traj": 24, "n_points": 40}),
])
def test_steady_map_from_the_coefficient_to_the_solution(task, opts, tmp_path):
    conv = converted(tmp_path, task, opts)
    record = train_pod((4, 8, 16), (1e-6, 1e-2), 0, conv, tmp_path / "pod.npz")
    assert record["steady"] and record["group_by"] == [] and record["target"] == "state"
    assert record["input_modes"] == record["modes"] and record["input_channels"] == ["nu"]
    truth = np.asarray(open_store(split_path(conv, "test")).fields[()])  # (n, 1, *S, 1)
    pred = pod_steady(tmp_path / "pod.npz", conv, len(truth))
    assert pred.shape == truth.shape and np.isfinite(pred).all()
    train = np.asarray(open_store(split_path(conv, "train")).fields[()])
    mean_field = np.broadcast_to(train.mean(axis=(0, 1, *range(2, train.ndim - 1))),
                                 truth.shape).copy()  # evaluate's steady baseline
    assert nrmse(pred, truth) < 0.5 * nrmse(mean_field, truth)
    if task == "darcy2d":  # u / beta: both forcing files share one map
        assert record["normalisation"]["fields"]["by"] == "forcing"
    with pytest.raises(ValueError, match="steady; use pod_steady"):
        pod_rollout(tmp_path / "pod.npz", conv, 1)


def test_moving_particles_are_refused_and_scored_null(tmp_path):
    conv = converted(tmp_path, "particles_advect", TINY_SIMULATE["particles_advect"])
    with pytest.raises(ValueError, match="train.h5: task 'particles_advect' is a particles "
                                         "task whose points move"):
        train_pod((4,), (1e-3,), 0, conv, tmp_path / "pod.npz")
    assert not (tmp_path / "pod.npz").exists()
    save_disabled_pod(tmp_path / "pod.npz", "the POD baseline needs fixed points")
    truth = np.asarray(open_store(split_path(conv, "test")).fields[()])
    scored = score_pod(tmp_path / "pod.npz", conv, truth, False, None)
    assert scored.metrics["pod_nrmse_rollout"] is None and scored.metrics["pod_modes"] is None
    assert scored.notes == ["pod: the POD baseline needs fixed points"] and not scored.rollouts
    with pytest.raises(ValueError, match="holds no POD model"):
        load_pod(tmp_path / "pod.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz: not a POD model file"):
        read_record(tmp_path / "junk.npz")
