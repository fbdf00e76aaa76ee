"""Physics and layout tests of the 2D Darcy simulator (ups.data.simulate.darcy)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from helpers import assert_refused_before_work

from ups.data.pdebench import RawReader
from ups.data.simulate import simulate
from ups.data.simulate.advection import cell_centres
from ups.data.simulate.darcy import bump_sum, solve_darcy, threshold, wall_outflow
from ups.tasks import get_task

SMALL = {"n_traj": 3, "nx": 16, "beta": [0.5, 2.0]}


def manufactured(nx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficient a, right-hand side f and exact u = sin(pi x) sin(pi y) at the cell centres.

    a = 1 + 0.5 sin(2 pi x + 0.3) cos(pi y) is smooth, positive and not symmetric in x <-> y;
    f = -div(a grad u) = 2 pi^2 a u - a_x u_x - a_y u_y.
    """
    x = cell_centres(nx)
    xx, yy = np.meshgrid(x, x, indexing="ij")  # arrays are [x, y]
    s, c = np.sin(2 * np.pi * xx + 0.3), np.cos(np.pi * yy)
    a = 1 + 0.5 * s * c
    a_x = np.pi * np.cos(2 * np.pi * xx + 0.3) * c
    a_y = -0.5 * np.pi * s * np.sin(np.pi * yy)
    u = np.sin(np.pi * xx) * np.sin(np.pi * yy)
    u_x = np.pi * np.cos(np.pi * xx) * np.sin(np.pi * yy)
    u_y = np.pi * np.sin(np.pi * xx) * np.cos(np.pi * yy)
    return a, 2 * np.pi**2 * a * u - a_x * u_x - a_y * u_y, u


def test_manufactured_solution_converges_at_second_order():
    errors = []
    for nx in (16, 32, 64):
        a, f, exact = manufactured(nx)
        errors.append(np.abs(solve_darcy(a, f, 1 / nx) - exact).max())
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 5e-4
    np.testing.assert_allclose(orders, 2.0, atol=0.15)


def test_axis_zero_is_x():
    # A slab of low conductivity at small x (axis 0) traps the source: the peak of u sits there,
    # centred in y (axis 1).
    nx = 32
    x = cell_centres(nx)
    a = np.where(x[:, None] < 0.5, 0.1, 1.0) * np.ones((1, nx))  # (X, Y)
    u = solve_darcy(a, 1.0, 1 / nx)
    i, j = np.unravel_index(np.argmax(u), u.shape)
    assert x[i] < 0.5 and abs(x[j] - 0.5) < 1 / nx
    # The transposed problem gives the transposed answer: the stencil treats both axes alike.
    np.testing.assert_allclose(solve_darcy(a.T, 1.0, 1 / nx), u.T, rtol=1e-12)


def random_coefficients(n: int, nx: int, seed: int = 0) -> np.ndarray:
    return threshold(bump_sum(np.random.default_rng(seed), n, cell_centres(nx), 5))


def test_coefficient_takes_only_the_two_values_in_both_phases():
    a = random_coefficients(20, 32)  # (N, X, Y)
    assert set(np.unique(a)) == {0.1, 1.0}
    high = (a == 1.0).mean(axis=(1, 2))
    assert np.all((high > 0.02) & (high < 0.98))  # every sample holds both phases


def test_source_equals_wall_outflow_and_solution_is_positive():
    nx, beta = 32, 3.0
    for a in random_coefficients(4, nx, seed=1):
        u = solve_darcy(a, beta, 1 / nx)
        np.testing.assert_allclose(wall_outflow(u, a), beta * 1.0, rtol=1e-10)
        assert u.min() > 0.0  # maximum principle: positive source, zero walls


def test_solution_is_linear_in_beta_and_jumps_in_gradient_not_flux():
    nx = 32
    a = random_coefficients(1, nx, seed=2)[0]
    u1, u5 = solve_darcy(a, 1.0, 1 / nx), solve_darcy(a, 5.0, 1 / nx)
    np.testing.assert_allclose(u5, 5 * u1, rtol=1e-10)
    # Low-conductivity regions hold steeper gradients: the mean |grad u| is larger where a = 0.1.
    gx = np.abs(np.diff(u1, axis=0))
    low = (a[:-1] == 0.1) & (a[1:] == 0.1)
    high = (a[:-1] == 1.0) & (a[1:] == 1.0)
    assert gx[low].mean() > gx[high].mean()


# ---- files -------------------------------------------------------------------------------------


def test_files_have_pdebench_layout_and_are_solutions(tmp_path):
    paths = simulate("darcy2d", SMALL, tmp_path, 11)
    assert [p.name for p in paths] == ["2D_DarcyFlow_beta0.5_Train.hdf5",
                                       "2D_DarcyFlow_beta2.0_Train.hdf5"]
    x = cell_centres(16)
    coefs = []
    for path, beta in zip(paths, SMALL["beta"]):
        with h5py.File(path, "r") as f:
            assert f["tensor"].shape == (3, 1, 16, 16) and f["nu"].shape == (3, 16, 16)
            assert f["tensor"].dtype == np.float32 and f["nu"].dtype == np.float32
            assert f.attrs["beta"].dtype == np.float64 and f.attrs["beta"] == beta
        with RawReader(path, get_task("darcy2d")) as reader:
            assert reader.info.params == {"forcing": beta}
            np.testing.assert_allclose(reader.info.coords["x"], x, rtol=1e-6)
            np.testing.assert_allclose(reader.info.coords["y"], x, rtol=1e-6)
            for i in range(3):
                u, a = reader.read(i), reader.read_inputs(i)  # (1, X, Y, 1), (X, Y, 1)
                assert u.shape == (1, 16, 16, 1) and a.shape == (16, 16, 1)
                ref = solve_darcy(a[..., 0].astype(np.float64), beta, 1 / 16)
                np.testing.assert_allclose(u[0, ..., 0], ref, rtol=1e-5)
                coefs.append(a)
    assert not np.array_equal(coefs[0], coefs[3])  # each beta file draws its own coefficients


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a = simulate("darcy2d", SMALL, tmp_path / "a", 3)
    b = simulate("darcy2d", SMALL, tmp_path / "b", 3)
    c = simulate("darcy2d", SMALL, tmp_path / "c", 4)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert a[0].read_bytes() != c[0].read_bytes()


@pytest.mark.parametrize("key,value,expected", [
    ("beta", [1.0, 0.0], "> 0"),
    ("beta", [], "non-empty list"),
    ("nx", 4, "integer >= 8"),
    ("n_bumps", 0, "integer >= 1"),
    ("nt", 5, "expected only"),
])
def test_bad_options_raise_before_any_file(tmp_path, key, value, expected):
    assert_refused_before_work("darcy2d", {**SMALL, key: value}, key, expected, tmp_path / "out")
