"""Physics and layout tests of the incompressible Navier-Stokes simulator (navier_stokes2d)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from helpers import assert_refused_before_work, assert_seed_decides_bytes

from ups.data.pdebench import RawReader
from ups.data.simulate import simulate
from ups.data.simulate.advection import cell_centres
from ups.data.simulate.incompressible import (
    curl_hat,
    divergence,
    random_initial_state,
    solve_ns,
    spectral_grid,
    to_physical,
)
from ups.tasks import get_task

TASK = "navier_stokes2d"
SMALL = {"n_traj": 8, "nx": 16, "nt": 5, "t_end": 0.2, "modes": 2}
TWO_PI = 2.0 * np.pi


def grid_xy(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre coordinates X, Y, each (n, n) in [x, y] axis order."""
    x = cell_centres(n)
    return np.meshgrid(x, x, indexing="ij")


def energy_and_enstrophy(vel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean |u|^2 and mean w^2 of velocities (N, T, X, Y, 2): (N, T) each."""
    n = vel.shape[2]
    grid = spectral_grid(n)
    w = np.stack([to_physical(curl_hat(vel[:, i], grid), n) for i in range(vel.shape[1])], 1)
    return (vel**2).sum(-1).mean((-2, -1)), (w**2).mean((-2, -1))


# ---- exact solutions ---------------------------------------------------------------------------


def test_taylor_green_vortex_decays_at_the_viscous_rate():
    X, Y = grid_xy(16)
    vel0 = np.stack([np.sin(TWO_PI * X) * np.cos(TWO_PI * Y),
                     -np.cos(TWO_PI * X) * np.sin(TWO_PI * Y)], -1)[None]  # (1, X, Y, 2)
    times, nu = np.array([0.0, 0.5, 1.0]), 0.05
    vel, _ = solve_ns(vel0, np.zeros((1, 16, 16)), np.zeros_like(vel0), times, nu=nu,
                      progress=False)
    decay = np.exp(-2.0 * nu * TWO_PI**2 * times)  # exp(-2 nu k^2 t), k = 2 pi
    exact = vel0[:, None] * decay[None, :, None, None, None]
    assert decay[-1] < 0.02  # the test sees a real decay
    assert np.abs(vel - exact).max() < 1e-10


def test_kolmogorov_forcing_spins_up_the_laminar_shear_flow():
    # f = (sin 4 pi y, 0) from rest: u = f / (nu k^2) (1 - exp(-nu k^2 t)), k = 4 pi, v = 0.
    _, Y = grid_xy(16)
    force = np.stack([np.sin(2 * TWO_PI * Y), 0 * Y], -1)[None]
    times, nu = np.array([0.0, 0.3, 1.0]), 0.05
    vel, _ = solve_ns(np.zeros_like(force), np.zeros((1, 16, 16)), force, times, nu=nu,
                      progress=False)
    rate = nu * (2 * TWO_PI) ** 2
    exact = force[:, None] / rate * (1.0 - np.exp(-rate * times))[None, :, None, None, None]
    assert np.abs(exact).max() > 0.1
    assert np.abs(vel - exact).max() < 1e-10


def test_density_in_steady_shear_flow_matches_characteristics():
    # Inviscid u = (sin 2 pi y, 0) is steady; rho0 = cos 2 pi x is carried to
    # rho = cos 2 pi (x - t sin 2 pi y). Exercises the advection term and its axis order.
    n = 48
    X, Y = grid_xy(n)
    vel0 = np.stack([np.sin(TWO_PI * Y), 0 * Y], -1)[None]
    times = np.array([0.0, 0.125, 0.25])
    vel, rho = solve_ns(vel0, np.cos(TWO_PI * X)[None], np.zeros_like(vel0), times, nu=0.0,
                        kappa=0.0, progress=False)
    exact = np.cos(TWO_PI * (X - times[:, None, None] * np.sin(TWO_PI * Y)))  # (T, X, Y)
    assert np.abs(rho[0] - exact).max() < 2e-6
    assert np.abs(vel[0] - vel0).max() < 1e-12
    assert np.abs(rho[0, -1] - rho[0, 0]).max() > 0.5  # it did move


# ---- conservation ------------------------------------------------------------------------------


def test_inviscid_flow_conserves_energy_enstrophy_and_density_moments():
    vel0, rho0 = random_initial_state(np.random.default_rng(0), 2, 32, 4, 1.0)
    times = np.linspace(0.0, 0.5, 3)
    vel, rho = solve_ns(vel0, rho0, np.zeros_like(vel0), times, nu=0.0, kappa=0.0,
                        progress=False)
    energy, enstrophy = energy_and_enstrophy(vel)
    assert np.abs(energy / energy[:, :1] - 1).max() < 1e-5
    assert np.abs(enstrophy / enstrophy[:, :1] - 1).max() < 1e-4
    mean, var = rho.mean((-2, -1)), rho.var((-2, -1))
    assert np.abs(mean - mean[:, :1]).max() < 1e-12
    assert np.abs(var / var[:, :1] - 1).max() < 1e-3
    assert np.abs(vel[:, -1] - vel[:, 0]).max() > 0.3  # nonlinear dynamics happened


def test_viscous_energy_budget():
    # d/dt mean|u|^2 = -2 nu mean(w^2) without forcing (the advection does no work).
    vel0, rho0 = random_initial_state(np.random.default_rng(1), 2, 32, 3, 1.0)
    times, nu = np.linspace(0.0, 0.2, 41), 0.01
    vel, _ = solve_ns(vel0, rho0, np.zeros_like(vel0), times, nu=nu, progress=False)
    energy, enstrophy = energy_and_enstrophy(vel)
    dissipated = 2 * nu * np.sum(0.5 * (enstrophy[:, 1:] + enstrophy[:, :-1]), 1) * 0.005
    drop = energy[:, 0] - energy[:, -1]
    assert drop.min() > 0.1 * energy[:, 0].min()
    np.testing.assert_allclose(drop, dissipated, rtol=1e-3)


# ---- files -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> list[Path]:
    return simulate(TASK, SMALL, tmp_path_factory.mktemp("ns"), seed=7)


def test_files_have_the_pdebench_ns_layout(written):
    o = SMALL
    assert [p.name for p in written] == ["ns_incom_inhom_2d_512-0.h5", "ns_incom_inhom_2d_512-1.h5"]
    for path in written:
        with h5py.File(path, "r") as f:
            assert sorted(f.keys()) == ["force", "particles", "t", "velocity"]
            assert f["velocity"].shape == (4, o["nt"], o["nx"], o["nx"], 2)
            assert f["particles"].shape == (4, o["nt"], o["nx"], o["nx"], 1)
            assert f["force"].shape == (4, o["nx"], o["nx"], 2)
            assert all(f[k].dtype == np.float32 for k in f)
            assert f["velocity"].chunks == (1, 1, o["nx"], o["nx"], 2)
            assert f.attrs["latestIndex"] == o["nt"] - 1
            config = yaml.safe_load(f.attrs["config"])
            assert config["nu"] == 0.01 and config["nx"] == o["nx"]
            np.testing.assert_allclose(f["t"][()], np.tile(np.linspace(0, 0.2, 5), (4, 1)),
                                       rtol=1e-6)
            vel, rho = f["velocity"][()], f["particles"][()][..., 0]
            assert np.abs(f["force"][()]).max() > 0.1
            assert np.all(np.ptp(vel[:, -1], axis=(1, 2)) > 0.1)
            assert rho.min() > -0.05 and rho.max() < 1.05  # 0.5 (1 + tanh g), little overshoot
            # Saved velocity is divergence-free to float32 round-off, relative to its gradients.
            # d/dx is taken along axis 1 of Vx and d/dy along axis 2 of Vy: data stored [y, x]
            # would fail this.
            grid = spectral_grid(o["nx"])
            div = np.stack([divergence(vel[:, i].astype(float), grid) for i in range(o["nt"])])
            scale = TWO_PI * o["modes"] * np.abs(vel).max()
            assert np.abs(div).max() < 1e-5 * scale
            mean = rho.astype(float).mean((-2, -1))  # (4, T)
            assert np.abs(mean - mean[:, :1]).max() < 1e-6


def test_raw_reader_reads_channels_and_force(written):
    spec = get_task(TASK)
    with h5py.File(written[1], "r") as f:
        vel, rho, force = f["velocity"][2], f["particles"][2], f["force"][2]
    with RawReader(written[1], spec) as reader:
        assert reader.info.n == 4 and reader.info.params == {}
        np.testing.assert_allclose(reader.info.coords["x"], cell_centres(SMALL["nx"]))
        u = reader.read(2)  # (T, X, Y, C): Vx, Vy, particles
        np.testing.assert_array_equal(u, np.concatenate([vel, rho], axis=-1))
        np.testing.assert_array_equal(reader.read_inputs(2), force)  # force_x, force_y
        np.testing.assert_allclose(reader.times(2), np.linspace(0, 0.2, 5), rtol=1e-6)
    # Frame 0 is the seeded random initial state (trajectory 4 + 2 of the batch).
    vel0, rho0 = random_initial_state(np.random.default_rng(7), SMALL["n_traj"], SMALL["nx"],
                                      SMALL["modes"], 1.0)
    np.testing.assert_allclose(u[0, ..., :2], vel0[6], atol=1e-5)
    # The 2/3-rule truncation of the initial density keeps its mean, which then stays put.
    np.testing.assert_allclose(u[:, ..., 2].mean((1, 2)), rho0[6].mean(), rtol=1e-6)


def test_same_seed_gives_identical_bytes(tmp_path):
    assert_seed_decides_bytes(TASK, {**SMALL, "n_traj": 4}, tmp_path)


@pytest.mark.parametrize("key,value,expected", [
    ("n_traj", 6, "multiple of 4"),
    ("cfl", 1.5, "<= 1"),
    ("modes", 6, "nx/3"),
    ("nu", -0.01, ">= 0"),
    ("nx", 3, "integer >= 4"),
    ("u_rms", 0.0, "> 0"),
])
def test_bad_options_raise_before_any_work(tmp_path, key, value, expected):
    assert_refused_before_work(TASK, {**SMALL, key: value}, key, expected, tmp_path / "out")
