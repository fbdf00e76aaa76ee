"""Physics and layout tests of the particle advection simulator (particles_advect).

The zarr store is read back with zarr itself (the UPS reader of this layout is separate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from helpers import assert_refused_before_work, assert_seed_decides_bytes

from ups.data.simulate import simulate
from ups.data.simulate.particles import StreamField, advect, random_stream_field

TASK = "particles_advect"
SMALL = {"n_traj": 3, "n_particles": 20, "nt": 5, "t_end": 0.4}
TWO_PI = 2.0 * np.pi


def field_for(seed: int, n: int = 2) -> StreamField:
    return random_stream_field(np.random.default_rng(seed), n, 4, 2, 1.0, TWO_PI)


def shear(omega: float) -> StreamField:
    """u = (sin(2 pi y - omega t), 0): one mode k = (0, 1), A = 1 / 2 pi, phase -pi/2."""
    one = np.ones((1, 1))
    return StreamField(np.array([[[0.0, 1.0]]]), one / TWO_PI, -omega * one, -0.5 * np.pi * one)


def test_shear_flows_give_the_exact_trajectories():
    x0 = np.random.default_rng(0).uniform(size=(1, 50, 2))
    times = np.array([0.0, 0.3, 0.7])
    x, y = x0[..., 0], x0[..., 1]
    steady = advect(shear(0.0), x0, times, 0.05, progress=False)
    exact = x[:, None] + times[None, :, None] * np.sin(TWO_PI * y)[:, None]  # x0 + t sin 2 pi y0
    np.testing.assert_allclose(steady[..., 0], exact, atol=1e-12)
    np.testing.assert_allclose(steady[..., 1], np.broadcast_to(y[:, None], exact.shape), atol=0)
    # Travelling shear: x(t) = x0 + (cos(2 pi y0 - w t) - cos(2 pi y0)) / w.
    w = TWO_PI
    moving = advect(shear(w), x0, times, 0.01, progress=False)
    phase = TWO_PI * y[:, None]
    exact = x[:, None] + (np.cos(phase - w * times[None, :, None]) - np.cos(phase)) / w
    assert np.abs(moving[..., 0] - exact).max() < 1e-8
    assert np.abs(exact[:, -1] - x).max() > 0.1


def test_rk4_converges_at_fourth_order():
    field = field_for(1)
    x0 = np.random.default_rng(2).uniform(size=(2, 40, 2))
    times = np.array([0.0, 1.0])
    ref = advect(field, x0, times, 1.0 / 1280, progress=False)[:, -1]
    steps = [0.04, 0.02, 0.01]
    err = [np.abs(advect(field, x0, times, dt, progress=False)[:, -1] - ref).max() for dt in steps]
    orders = np.log2(np.array(err[:-1]) / np.array(err[1:]))
    assert np.all(orders > 3.7) and np.all(orders < 4.4), (err, orders)


def test_velocity_field_is_divergence_free():
    field = field_for(3, n=4)
    x = np.random.default_rng(4).uniform(size=(4, 100, 2))
    h, t = 1e-5, 0.37
    ex, ey = np.array([h, 0.0]), np.array([0.0, h])
    dudx = (field.velocity(x + ex, t) - field.velocity(x - ex, t)) / (2 * h)  # (N, P, 2)
    dudy = (field.velocity(x + ey, t) - field.velocity(x - ey, t)) / (2 * h)
    div = dudx[..., 0] + dudy[..., 1]
    scale = np.abs(np.concatenate([dudx, dudy], -1)).max()
    assert scale > 1.0
    assert np.abs(div).max() < 1e-6 * scale
    # The field is periodic on the unit square and bounded by its `speed` (1 here).
    np.testing.assert_allclose(field.velocity(x + np.array([1.0, -2.0]), t),
                               field.velocity(x, t), atol=1e-12)
    assert np.abs(field.velocity(x, t)).max() <= 1.0


def test_flow_map_preserves_area():
    field = field_for(5)
    x0 = np.random.default_rng(6).uniform(size=(2, 30, 2))
    eps, times = 1e-6, np.array([0.0, 0.5, 1.0])
    shifts = [np.array(s) for s in ([eps, 0], [-eps, 0], [0, eps], [0, -eps])]
    xp, xm, yp, ym = (advect(field, x0 + s, times, 0.005, progress=False) for s in shifts)
    d_dx, d_dy = (xp - xm) / (2 * eps), (yp - ym) / (2 * eps)  # columns of the Jacobian
    det = d_dx[..., 0] * d_dy[..., 1] - d_dx[..., 1] * d_dy[..., 0]  # (N, T, P)
    assert np.abs(det - 1.0).max() < 1e-6  # measured 3e-9
    assert np.abs(d_dx[:, -1, :, 0] - 1.0).max() > 0.3  # the map does deform


# ---- the written store -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    (path,) = simulate(TASK, SMALL, tmp_path_factory.mktemp("particles"), seed=9)
    return path


def test_store_layout_and_fields(store):
    assert store.name == "Particles_advect.zarr"
    g = zarr.open_group(store, mode="r")
    n, p, nt = SMALL["n_traj"], SMALL["n_particles"], SMALL["nt"]
    attrs = g.attrs
    assert attrs["ups_layout"] == "particles" and attrs["task"] == TASK
    assert attrs["channels"] == ["Vx", "Vy"] and attrs["periodic"] is True
    assert attrs["bounds"] == [[0.0, 1.0], [0.0, 1.0]]
    shapes = {k: (g[k].shape, str(g[k].dtype)) for k in g.array_keys()}
    assert shapes == {"t": ((nt,), "float32"), "positions": ((n, nt, p, 2), "float32"),
                      "fields": ((n, nt, p, 2), "float32")}
    t = g["t"][...]
    np.testing.assert_allclose(t, np.linspace(0, SMALL["t_end"], nt), rtol=1e-6)
    pos, vel = np.asarray(g["positions"][...]), np.asarray(g["fields"][...])
    assert pos.min() >= 0.0 and pos.max() < 1.0
    # Rebuild the seeded field and start positions: fields = velocity at the saved positions.
    rng = np.random.default_rng(9)
    field = random_stream_field(rng, n, 4, 2, 1.0, TWO_PI)
    x0 = rng.uniform(0.0, 1.0, size=(n, p, 2))
    np.testing.assert_allclose(pos[:, 0], x0, atol=1e-7)
    for i, ti in enumerate(t.astype(float)):
        np.testing.assert_allclose(vel[:, i], field.velocity(pos[:, i].astype(float), ti),
                                   atol=2e-5)
    # The particles really moved with the field: the saved positions match a fresh integration.
    ref = advect(field, x0, t.astype(float), 0.001, progress=False) % 1.0
    gap = np.abs(pos - ref)
    assert np.minimum(gap, 1.0 - gap).max() < 1e-5
    assert np.abs(pos[:, -1] - pos[:, 0]).max() > 0.05


def test_same_seed_gives_identical_bytes(tmp_path):
    assert_seed_decides_bytes(TASK, SMALL, tmp_path)


@pytest.mark.parametrize("key,value,expected", [
    ("dt", 0.05, "the field's time scale"),
    ("n_particles", 0, "integer >= 1"),
    ("omega", -1.0, ">= 0"),
    ("t_end", 0.0, "> 0"),
    ("nx", 32, "expected only"),
])
def test_bad_options_raise_before_any_work(tmp_path, key, value, expected):
    assert_refused_before_work(TASK, {**SMALL, key: value}, key, expected, tmp_path / "out")
