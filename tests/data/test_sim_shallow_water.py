"""Physics and layout tests of the shallow-water radial dam break (ups.data.simulate)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import yaml
from helpers import assert_refused_before_work
from scipy.optimize import brentq

from ups.data.pdebench import RawReader
from ups.data.simulate import simulate
from ups.data.simulate.advection import cell_centres, march
from ups.data.simulate.shallow_water import (
    GRAVITY,
    dam_break_state,
    hll_flux,
    physical_flux,
    solve_swe,
    swe_rhs,
)
from ups.tasks import get_task

SMALL = {"n_traj": 3, "nx": 20, "nt": 4, "t_end": 0.3}


# ---- exact and reference solutions -------------------------------------------------------------


def stoker(x: np.ndarray, t: float, h_left: float = 2.0, h_right: float = 1.0) -> np.ndarray:
    """Exact depth of the wet-bed dam break (left rarefaction, right shock) from a step at x = 0.

    The middle state h* matches the velocity behind the rarefaction, 2 (c_L - c*), to the one
    behind the shock, (h* - h_R) sqrt(g (h* + h_R) / (2 h* h_R)); the shock moves at
    h* u* / (h* - h_R) (mass balance) and the fan between x/t = -c_L and u* - c* has
    h = (2 c_L - x/t)^2 / (9 g).
    """
    g = GRAVITY
    c_left = np.sqrt(g * h_left)

    def mismatch(h_star: float) -> float:
        rare = 2.0 * (c_left - np.sqrt(g * h_star))
        shock = (h_star - h_right) * np.sqrt(0.5 * g * (h_star + h_right) / (h_star * h_right))
        return rare - shock

    h_star = brentq(mismatch, h_right, h_left, xtol=1e-14)
    u_star = 2.0 * (c_left - np.sqrt(g * h_star))
    shock_speed = h_star * u_star / (h_star - h_right)
    xi = x / t
    fan = (2.0 * c_left - xi) ** 2 / (9.0 * g)
    return np.select([xi < -c_left, xi < u_star - np.sqrt(g * h_star), xi < shock_speed],
                     [h_left, fan, h_star], h_right)


def planar_dam_break(n: int, along: str) -> tuple[np.ndarray, np.ndarray]:
    """Step h = 2 | 1 at 0 along x (q: (1, 3, n, 1)) or y ((1, 3, 1, n)); returns (q, centres)."""
    x = cell_centres(n, -2.5, 2.5)
    h = np.where(x < 0.0, 2.0, 1.0)
    shape = (1, 3, n, 1) if along == "x" else (1, 3, 1, n)
    q = np.zeros(shape)
    q[:, 0] = h.reshape(shape[2:])
    return q, x


def radial_reference(radius: float, times: np.ndarray, n: int = 800, r_max: float = 2.5):
    """Axisymmetric depth h(r, t) on n cells of (0, r_max): (T, n), and the centres r (n,).

    The 1D equations in r with the geometric sources of cylindrical symmetry,
    h_t + (hu)_r = -hu / r and (hu)_t + (hu^2 + g h^2 / 2)_r = -hu^2 / r,
    solved by the module's (Stoker-verified) planar fluxes on a fine grid, a wall at r = 0.
    """
    r = cell_centres(n, 0.0, r_max)
    dr = r_max / n
    edges = np.arange(n + 1) * dr
    inside = np.clip((radius**2 - edges[:-1] ** 2) / (edges[1:] ** 2 - edges[:-1] ** 2), 0, 1)
    q0 = np.zeros((1, 3, n, 1))
    q0[0, 0, :, 0] = 1.0 + inside  # exact cell averages (in area) of the disc

    def rhs(q: np.ndarray) -> np.ndarray:
        rate = swe_rhs(q, dr, 1.0, "reflective")
        hu = q[:, 1]
        rate[:, 0] -= hu / r[:, None]
        rate[:, 1] -= hu * hu / (q[:, 0] * r[:, None])
        return rate

    def max_dt(q: np.ndarray) -> float:
        speed = np.abs(q[:, 1] / q[:, 0]) + np.sqrt(GRAVITY * q[:, 0])
        return 0.4 * dr / float(speed.max())

    h = march(q0, rhs, times, max_dt, observe=lambda q: q[:, 0, :, 0].copy(), progress=False)
    return h[0], r


def total(q: np.ndarray, dx: float) -> np.ndarray:
    """Integral of each channel over the grid: (..., X, Y) -> (...)."""
    return q.sum(axis=(-2, -1)) * dx * dx


# ---- solver physics ----------------------------------------------------------------------------


def test_hll_flux_is_consistent_and_upwinds_supersonic_states():
    rng = np.random.default_rng(0)
    w = np.stack([rng.uniform(0.5, 2, 5), rng.normal(size=5), rng.normal(size=5)])[None]
    exact = physical_flux(w[:, 0], w[:, 1], w[:, 2])[:, 0]  # x-normal: (3, 5)
    np.testing.assert_allclose(hll_flux(w, w, 1)[0], exact, rtol=1e-14)
    swapped = physical_flux(w[:, 0], w[:, 2], w[:, 1])[[0, 2, 1], 0]  # y-normal, back to (h,hu,hv)
    np.testing.assert_allclose(hll_flux(w, w, 2)[0], swapped, rtol=1e-14)
    fast = np.array([[[1.0], [3.0], [0.0]]])  # u = 3 > c = 1: all waves move right
    slow = np.array([[[0.5], [2.0], [0.0]]])
    np.testing.assert_allclose(hll_flux(fast, slow, 1), physical_flux(*fast[0])[None], rtol=1e-14)


@pytest.mark.parametrize("along", ["x", "y"])
def test_planar_dam_break_converges_to_stoker_solution(along):
    errors = {}
    for n in (100, 200, 400):
        q0, x = planar_dam_break(n, along)
        h = solve_swe(q0, 5 / n, 5 / n, np.array([0.0, 1.0]), progress=False)[0, -1].ravel()
        errors[n] = np.sum(np.abs(h - stoker(x, 1.0))) * 5 / n  # L1 norm on [-2.5, 2.5]
    assert errors[400] < 0.01  # measured 7.9e-3 (shock and fan edges smeared over a few cells)
    assert errors[100] / errors[200] > 1.6 and errors[200] / errors[400] > 1.6  # ~1st order
    assert errors[100] < 0.04  # measured 3.2e-2


def test_walls_and_periodic_boundaries_conserve_mass_to_round_off():
    nx, dx = 24, 5 / 24
    x = cell_centres(nx, -2.5, 2.5)
    q0 = dam_break_state(x, x, np.array([0.6, 0.45]))
    times = np.linspace(0, 4, 5)  # waves hit the boundary around t ~ 1.5 and come back
    for boundary in ("reflective", "periodic"):
        q = solve_swe(q0, dx, dx, times, boundary=boundary, observe_depth=False, progress=False)
        mass = total(q[:, :, 0], dx)  # (N, T)
        np.testing.assert_allclose(mass, mass[:, :1] * np.ones((1, 5)), rtol=1e-13, atol=0)
        assert np.ptp(q[:, -1, 0]) > 0.05  # the waves are still moving: not a trivial test
        assert q[:, :, 0].min() > 0.3
    momentum = total(q[:, :, 1:], dx)  # periodic: momentum is conserved as well
    assert np.abs(momentum).max() < 1e-13


def test_outflow_conserves_mass_until_the_waves_leave():
    nx, dx = 32, 5 / 32
    x = cell_centres(nx, -2.5, 2.5)
    q0 = dam_break_state(x, x, np.array([0.5]))
    times = np.array([0.0, 0.4, 0.8, 3.0])  # the shock (speed ~1.3) needs t > 1.5 to leave
    h = solve_swe(q0, dx, dx, times, progress=False)[0]  # (T, X, Y)
    mass = total(h, dx)
    assert np.all(np.abs(mass[:3] - mass[0]) < 1e-12 * mass[0])
    assert mass[3] < mass[0] - 0.02  # measured -0.064: water has flowed out


def test_radial_dam_is_symmetric_positive_and_matches_axisymmetric_reference():
    radius, times = 0.6, np.array([0.0, 0.3, 0.6])
    ref, r = radial_reference(radius, times)  # (T, n)
    errors = {}
    for nx in (32, 64):
        x = cell_centres(nx, -2.5, 2.5)
        h = solve_swe(dam_break_state(x, x, np.array([radius])), 5 / nx, 5 / nx, times,
                      progress=False)[0]  # (T, X, Y)
        for frame in h:  # exactly symmetric under x <-> y and x -> -x, y -> -y
            assert np.array_equal(frame, frame.T)
            np.testing.assert_allclose(frame, frame[::-1], rtol=0, atol=1e-13)
            np.testing.assert_allclose(frame, frame[:, ::-1], rtol=0, atol=1e-13)
        assert h.min() > 0.5
        dist = np.hypot(x[:, None], x[None, :])  # (X, Y)
        exact = np.interp(dist, r, ref[-1])
        errors[nx] = np.mean(np.abs(h[-1] - exact))
    assert errors[64] < 0.011  # measured 7.6e-3 (mean |h - h_ref| over the domain)
    assert errors[32] / errors[64] > 1.6  # measured 1.95


# ---- files and options -------------------------------------------------------------------------


def test_file_has_pdebench_swe_layout_and_reads_back(tmp_path):
    (path,) = simulate("shallow_water2d", SMALL, tmp_path / "swe", seed=5)
    assert path.name == "2D_rdb_NA_NA.h5"
    nx, nt = SMALL["nx"], SMALL["nt"]
    x = cell_centres(nx, -2.5, 2.5)
    radius = np.random.default_rng(5).uniform(0.3, 0.7, size=SMALL["n_traj"])
    with h5py.File(path, "r") as f:
        assert sorted(f.keys()) == ["0000", "0001", "0002"]
        for i, key in enumerate(sorted(f.keys())):
            d = f[key]["data"]
            assert d.shape == (nt, nx, nx, 1) and d.dtype == np.float32
            assert d.compression is None  # uncompressed, as released
            assert sorted(f[key]["grid"].keys()) == ["t", "x", "y"]
            np.testing.assert_allclose(f[key]["grid/x"][()], x, rtol=1e-6)
            np.testing.assert_allclose(f[key]["grid/y"][()], x, rtol=1e-6)
            np.testing.assert_allclose(f[key]["grid/t"][()], np.linspace(0, 0.3, nt), rtol=1e-6)
            h0 = dam_break_state(x, x, radius[i : i + 1])[0, 0]
            np.testing.assert_allclose(d[0, ..., 0], h0, rtol=1e-6)
            assert not np.allclose(d[-1], d[0])  # the dam broke
            config = yaml.safe_load(f[key].attrs["config"])
            assert config["g"] == 1.0 and config["boundary"] == "outflow"
    with RawReader(path, get_task("shallow_water2d")) as reader:
        assert reader.info.n == 3 and reader.info.params == {}
        with h5py.File(path, "r") as f:
            np.testing.assert_array_equal(reader.read(1), f["0001/data"][()])  # already txyc


def test_same_seed_same_bytes_other_seed_other_radii(tmp_path):
    a = simulate("shallow_water2d", SMALL, tmp_path / "a", 1)[0]
    b = simulate("shallow_water2d", SMALL, tmp_path / "b", 1)[0]
    c = simulate("shallow_water2d", SMALL, tmp_path / "c", 2)[0]
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    one = simulate("shallow_water2d", {**SMALL, "n_traj": 1}, tmp_path / "d", 1)[0]
    with h5py.File(a, "r") as fa, h5py.File(one, "r") as fo:  # sample 0 ignores the batch size
        np.testing.assert_array_equal(fa["0000/data"][()], fo["0000/data"][()])


@pytest.mark.parametrize("key,value,expected", [
    ("cfl", 0.6, "(0, 0.5]"),
    ("cfl", 0.0, "(0, 0.5]"),
    ("nx", 3, "integer >= 4"),
    ("r_min", 0.1, "cell width"),
    ("r_max", 0.2, ">= r_min"),
    ("r_max", 2.5, "(0, 2.5)"),
    ("t_end", -1.0, "> 0"),
    ("gravity", 9.81, "expected only"),
])
def test_bad_options_raise_before_any_file(tmp_path, key, value, expected):
    assert_refused_before_work("shallow_water2d", {**SMALL, key: value}, key, expected,
                               tmp_path / "out")
