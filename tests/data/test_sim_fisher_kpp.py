"""Physics and layout tests of the 1D Fisher-KPP simulator (ups.data.simulate.fisher_kpp)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from helpers import assert_refused_before_work
from scipy.integrate import solve_ivp

from ups.data.pdebench import RawReader
from ups.data.simulate import simulate
from ups.data.simulate.advection import cell_centres
from ups.data.simulate.fisher_kpp import (
    diffusion_step,
    logistic_step,
    solve_fisher_kpp,
    unit_rescaled_sines,
)
from ups.tasks import get_task

SMALL = {"n_traj": 4, "nx": 32, "nt": 5, "t_end": 0.2, "nu": [0.5, 2.0], "rho": [1.0, 10.0],
         "dt": 5e-3}


def test_logistic_step_is_the_exact_ode_solution():
    u0 = np.array([0.0, 1e-6, 0.03, 0.5, 0.97, 1.0])
    for rho, dt in ((1.0, 0.3), (10.0, 0.05), (10.0, 2.0)):
        ref = solve_ivp(lambda _, u, r=rho: r * u * (1 - u), (0, dt), u0, method="DOP853",
                        rtol=1e-12, atol=1e-14).y[:, -1]
        np.testing.assert_allclose(logistic_step(u0, rho, dt), ref, rtol=1e-9, atol=1e-14)
    # An exact flow composes: two half steps are one full step.
    half = logistic_step(logistic_step(u0, 7.0, 0.1), 7.0, 0.1)
    np.testing.assert_allclose(half, logistic_step(u0, 7.0, 0.2), rtol=1e-13, atol=1e-16)


def test_diffusion_alone_decays_a_fourier_mode_at_the_discrete_and_exact_rates():
    nx, k, nu, t = 64, 2, 0.01, 1.0
    x, dx = cell_centres(nx), 1.0 / nx
    u0 = 0.5 + 0.4 * np.cos(2 * np.pi * k * x)[None]  # (1, X)
    u = solve_fisher_kpp(u0, nu, 0.0, dx, np.array([0.0, 0.5 * t, t]), max_dt=0.1,
                         progress=False)
    amp = 2 * np.mean((u[0] - 0.5) * np.cos(2 * np.pi * k * x), axis=-1) / 0.4  # (T,)
    discrete = np.exp(-nu * 4 * np.sin(np.pi * k * dx) ** 2 / dx**2 * np.array([0, 0.5, 1]) * t)
    np.testing.assert_allclose(amp, discrete, rtol=1e-10)
    exact = np.exp(-nu * (2 * np.pi * k) ** 2 * t)  # continuous rate, O(dx^2) away:
    # the exponent differs by nu t (2 pi k)^2 (pi k dx)^2 / 3 = 0.5 %.
    np.testing.assert_allclose(amp[-1], exact, rtol=7e-3)
    assert abs(amp[-1] - exact) / exact > 1e-5  # it IS the FV rate, not a spectral one
    np.testing.assert_allclose(u[0, :, :].mean(-1), 0.5, rtol=1e-13)  # mean is conserved


def test_diffusion_step_keeps_bounds_on_a_sharp_step():
    u = np.zeros((1, 50))
    u[0, 20:30] = 1.0
    out = diffusion_step(u, 1.0, 0.02, 1e-4)
    assert out.min() >= -1e-14 and out.max() <= 1 + 1e-14
    assert 0.0 < out[0, 19] < 1.0  # and it did smooth the step


def front_position(u: np.ndarray, dx: float) -> np.ndarray:
    """Half the invaded length: two fronts leave the initial block, each moving this far."""
    return 0.5 * u.sum(axis=-1) * dx


def test_travelling_front_speed_approaches_two_sqrt_nu_rho():
    # Speed 2 sqrt(nu rho) = 1.5; rho t stays small enough (e^{rho t} round-off ~1e-6) that the
    # unstable state 0 ahead of the fronts is not invaded by amplified round-off.
    nu, rho, length, dx = 0.5625, 1.0, 160.0, 0.25
    x = cell_centres(int(length / dx), 0.0, length)
    u0 = (x < 5.0).astype(float)[None]  # a block of the stable state 1 in the unstable 0
    u = solve_fisher_kpp(u0, nu, rho, dx, np.array([0.0, 10.0, 25.0]), max_dt=0.05,
                         progress=False)
    pos = front_position(u[0], dx)
    speed = (pos[2] - pos[1]) / 15.0
    assert abs(speed / 1.5 - 1.0) < 0.1  # pulled fronts approach 2 sqrt(nu rho) from below
    assert 0.0 <= u.min() and u.max() <= 1.0 + 1e-12


def test_splitting_is_second_order_in_time_and_bounded():
    x = cell_centres(64)
    u0 = unit_rescaled_sines(np.random.default_rng(0), 3, x)
    times = np.array([0.0, 0.5])
    ref = solve_fisher_kpp(u0, 0.01, 10.0, 1 / 64, times, max_dt=1e-4, progress=False)[:, -1]
    errors = [np.abs(solve_fisher_kpp(u0, 0.01, 10.0, 1 / 64, times, max_dt=dt,
                                      progress=False)[:, -1] - ref).max() for dt in (0.02, 0.01)]
    assert errors[1] < 5e-5
    assert 3.5 < errors[0] / errors[1] < 4.5
    u = solve_fisher_kpp(u0, 2.0, 10.0, 1 / 64, np.linspace(0, 1, 6), progress=False)
    assert u.min() >= -1e-12 and u.max() <= 1 + 1e-12
    np.testing.assert_allclose(u[:, -1], 1.0, atol=1e-3)  # everything is invaded by u = 1


def test_initial_states_span_zero_to_one():
    u0 = unit_rescaled_sines(np.random.default_rng(1), 50, cell_centres(32))
    np.testing.assert_allclose(u0.min(axis=1), 0.0, atol=1e-15)
    np.testing.assert_allclose(u0.max(axis=1), 1.0, rtol=1e-15)


# ---- files -------------------------------------------------------------------------------------


def test_files_have_pdebench_layout_and_share_initial_states(tmp_path):
    paths = simulate("reaction_diffusion1d", SMALL, tmp_path, 7)
    pairs = [(0.5, 1.0), (0.5, 10.0), (2.0, 1.0), (2.0, 10.0)]
    assert [p.name for p in paths] == [f"ReacDiff_Nu{n}_Rho{r}.hdf5" for n, r in pairs]
    spec = get_task("reaction_diffusion1d")
    x = cell_centres(SMALL["nx"])
    u0 = unit_rescaled_sines(np.random.default_rng(7), SMALL["n_traj"], x)
    for path, (nu, rho) in zip(paths, pairs):
        with h5py.File(path, "r") as f:
            assert sorted(f.keys()) == ["t-coordinate", "tensor", "x-coordinate"]
            assert f["tensor"].shape == (4, 5, 32) and f["tensor"].dtype == np.float32
            assert f.attrs["Nu"].dtype == np.float64 and f.attrs["rho"].dtype == np.float64
            assert f["t-coordinate"].shape == (6,)
        with RawReader(path, spec) as reader:
            assert reader.info.params == {"nu": nu, "rho": rho}
            np.testing.assert_allclose(reader.info.t, np.linspace(0, 0.2, 5), rtol=1e-6)
            np.testing.assert_allclose(reader.info.coords["x"], x, rtol=1e-6)
            u = reader.read(1)
            assert u.shape == (5, 32, 1)
            np.testing.assert_allclose(u[0, :, 0], u0[1], rtol=1e-6, atol=1e-7)
            ref = solve_fisher_kpp(u0[1:2], nu, rho, 1 / 32, np.linspace(0, 0.2, 5),
                                   max_dt=5e-3, progress=False)
            np.testing.assert_allclose(u[..., 0], ref[0], rtol=1e-6, atol=1e-7)


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    opts = {**SMALL, "nu": [1.0], "rho": [5.0]}
    (a,) = simulate("reaction_diffusion1d", opts, tmp_path / "a", 3)
    (b,) = simulate("reaction_diffusion1d", opts, tmp_path / "b", 3)
    (c,) = simulate("reaction_diffusion1d", opts, tmp_path / "c", 4)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("key,value,expected", [
    ("nu", [0.5, -1.0], ">= 0"),
    ("rho", [], "non-empty list"),
    ("rho", 5.0, "list"),
    ("dt", 0.0, "> 0"),
    ("nx", 2, "integer >= 4"),
    ("t_end", -1.0, "> 0"),
    ("viscosity", 1.0, "expected only"),
])
def test_bad_options_raise_before_any_file(tmp_path, key, value, expected):
    assert_refused_before_work("reaction_diffusion1d", {**SMALL, key: value}, key, expected,
                               tmp_path / "out")
