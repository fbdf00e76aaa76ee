"""Physics and layout tests of the 1D diffusion-sorption simulator (ups.data.simulate.sorption)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from helpers import assert_refused_before_work
from scipy.special import erfc

from ups.data.pdebench import RawReader
from ups.data.simulate import simulate
from ups.data.simulate.advection import cell_centres
from ups.data.simulate.sorption import SorptionParams, retardation, solve_sorption, sorbed, total
from ups.tasks import get_task

SMALL = {"n_traj": 3, "nx": 32, "nt": 5, "t_end": 100.0, "dt": 5.0}


def mass(u: np.ndarray, p: SorptionParams) -> np.ndarray:
    """Total (dissolved + sorbed) mass per unit cross-section: (..., X) -> (...)."""
    return total(u, p).sum(axis=-1) / u.shape[-1]


def test_isotherm_derivative_is_pdebench_retardation_factor():
    p = SorptionParams()
    u = np.array([-1e-3, 1e-7, 1e-4, 0.05, 0.5, 1.0])
    h = 1e-10
    numeric = 1 + (sorbed(u + h, p) - sorbed(u - h, p)) / (2 * h)
    np.testing.assert_allclose(retardation(u, p), numeric, rtol=1e-5)
    k = (1 - 0.29) / 0.29 * 2880 * 3.5e-4 * 0.874  # PDEBench's R(u) - 1 prefactor
    pdebench = 1 + k * (u[1:] + 1e-6) ** (0.874 - 1)
    np.testing.assert_allclose(retardation(u[1:], p), pdebench, rtol=1e-12)
    assert np.all(np.diff(sorbed(u, p)) > 0) and sorbed(np.zeros(1), p)[0] == 0.0
    # The linear extension below 0 joins with the same slope (no kink for Newton to trip on).
    np.testing.assert_allclose(retardation(np.array([-1e-12]), p), retardation(np.zeros(1), p))


def test_total_mass_changes_only_by_the_boundary_fluxes():
    nx, p = 64, SorptionParams()
    u0 = np.repeat(np.array([[0.0], [0.07], [0.2]]), nx, axis=1)  # (N, X), constant per sample
    times = np.linspace(0, 500, 11)
    sol = solve_sorption(u0, 1 / nx, times, p, max_dt=2.0, progress=False)
    entered, left = sol.boundary_mass[..., 0], sol.boundary_mass[..., 1]  # (N, T)
    balance = mass(sol.u, p) - mass(u0, p)[:, None] - (entered - left)
    assert np.abs(balance).max() < 1e-9
    assert entered[:, -1].min() > 0.5 and left[2, -1] > 0.05  # both boundaries really exchange
    # Physics sanity: u stays within its initial/boundary bounds and the front moved in.
    assert sol.u.min() >= -1e-12 and sol.u.max() <= 1 + 1e-12
    assert np.all(sol.u[:, -1, nx // 8] > 0.5) and np.all(np.diff(sol.u[:, -1], axis=-1) < 0)


def test_without_sorption_matches_erfc_half_space_solution():
    # From u0 = 0, u = erfc(x / 2 sqrt(D t)); 2 sqrt(D t) = 0.32, so the far wall (3.2 diffusion
    # lengths away, erfc = 1e-5) is invisible.
    t = 50.0
    p = SorptionParams(sorption=False)
    errors = []
    for nx in (100, 200):
        x = cell_centres(nx)
        sol = solve_sorption(np.zeros((1, nx)), 1 / nx, np.array([0, 0.5 * t, t]), p,
                             max_dt=0.5, progress=False)
        exact = erfc(x / (2 * np.sqrt(p.D * t)))
        errors.append(np.abs(sol.u[0, -1] - exact).max())
    assert errors[1] < 5e-5
    assert errors[0] / errors[1] > 3.5  # second order in space
    # The same run with sorption on is slower (R > 1): the front lags the erfc profile.
    slow = solve_sorption(np.zeros((1, nx)), 1 / nx, np.array([0, t]), max_dt=0.5,
                          progress=False)
    assert slow.u[0, -1, nx // 10] < exact[nx // 10] - 0.1


def test_steady_state_is_the_exact_linear_profile_of_the_robin_outflow():
    # At steady state D u_xx = 0 with u(0) = 1 and u(1) = -D u_x(1): u = 1 - x / (1 + D),
    # whatever the sorption. The FV scheme is exact on linear profiles, so only the decay of
    # the transient (rate ~ pi^2 D / R) separates the two.
    nx = 32
    p = SorptionParams(D=0.2)
    x = cell_centres(nx)
    sol = solve_sorption(np.zeros((1, nx)), 1 / nx, np.array([0.0, 200.0]), p, max_dt=2.0,
                         progress=False)
    np.testing.assert_allclose(sol.u[0, -1], 1 - x / (1 + p.D), atol=1e-8)
    flux = p.D / (1 + p.D)  # steady flux through the column
    # Steady state: as much enters at x = 0 as leaves at x = 1.
    late = solve_sorption(sol.u[:, -1], 1 / nx, np.array([0.0, 10.0]), p, progress=False)
    np.testing.assert_allclose(late.boundary_mass[0, -1], [10 * flux, 10 * flux], rtol=1e-7)


def test_time_stepping_is_second_order():
    nx, p = 64, SorptionParams()
    u0 = np.full((2, nx), 0.05)
    times = np.array([0.0, 100.0])
    ref = solve_sorption(u0, 1 / nx, times, p, max_dt=0.25, progress=False).u[:, -1]
    errors = [np.abs(solve_sorption(u0, 1 / nx, times, p, max_dt=dt, progress=False).u[:, -1]
                     - ref).max() for dt in (4.0, 2.0)]
    assert errors[1] < 5e-5
    assert errors[0] / errors[1] > 3.5


# ---- files -------------------------------------------------------------------------------------


def test_group_file_has_pdebench_layout_and_config(tmp_path):
    (path,) = simulate("diffusion_sorption1d", SMALL, tmp_path, 5)
    assert path.name == "1D_diff-sorp_NA_NA.h5"
    x, t = cell_centres(SMALL["nx"]), np.linspace(0, 100, 5)
    levels = np.random.default_rng(5).uniform(0, 0.2, size=3)
    with h5py.File(path, "r") as f:
        assert sorted(f.keys()) == ["0000", "0001", "0002"]
        g = f["0001"]
        assert sorted(g.keys()) == ["data", "grid"] and sorted(g["grid"].keys()) == ["t", "x"]
        assert g["data"].shape == (5, 32, 1) and g["data"].dtype == np.float32
        assert g["data"].compression == "lzf"
        assert g["grid/t"].shape == (5,)
    with RawReader(path, get_task("diffusion_sorption1d")) as reader:
        assert reader.info.n == 3 and reader.info.params == {}
        assert reader.info.config["sim"]["D"] == 5e-4 and reader.info.config["sim"]["n_f"] == 0.874
        np.testing.assert_allclose(reader.info.coords["x"], x, rtol=1e-6)
        np.testing.assert_allclose(reader.info.t, t, rtol=1e-6)
        for i in range(3):
            u = reader.read(i)  # (T, X, 1)
            assert u.shape == (5, 32, 1)
            np.testing.assert_allclose(u[0, :, 0], levels[i], rtol=1e-6)  # constant start
            ref = solve_sorption(np.full((1, 32), levels[i]), 1 / 32, t, max_dt=5.0,
                                 progress=False).u[0]
            np.testing.assert_allclose(u[..., 0], ref, rtol=1e-6, atol=1e-7)


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    (a,) = simulate("diffusion_sorption1d", SMALL, tmp_path / "a", 3)
    (b,) = simulate("diffusion_sorption1d", SMALL, tmp_path / "b", 3)
    (c,) = simulate("diffusion_sorption1d", SMALL, tmp_path / "c", 4)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("key,value,expected", [
    ("dt", -1.0, "> 0"),
    ("u0_max", 1.5, "[0, 1]"),
    ("nx", 3, "integer >= 4"),
    ("nt", 1, "integer >= 2"),
    ("n_traj", 0, "integer >= 1"),
    ("D", 1.0, "expected only"),
])
def test_bad_options_raise_before_any_file(tmp_path, key, value, expected):
    assert_refused_before_work("diffusion_sorption1d", {**SMALL, key: value}, key, expected,
                               tmp_path / "out")
