"""Physics and layout tests of the embedded simulators (ups.data.simulate); fast, one core."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import assert_refused_before_work
from scipy.integrate import solve_ivp
from scipy.special import ive

from ups.data.simulate import simulate
from ups.data.simulate.advection import cell_centres, solve_advection
from ups.data.simulate.burgers import solve_burgers
from ups.data.simulate.diffusion_reaction import REFINE, block_average, solve_fhn
from ups.data.simulate.initial import gaussian_random_field_2d, sine_sum_1d
from ups.data.simulate.layouts import write_group_file, write_tensor_file

SMALL = {
    "burgers1d": {"n_traj": 4, "nx": 32, "nt": 5, "t_end": 0.2, "nu": [0.01, 0.1]},
    "advection1d": {"n_traj": 4, "nx": 32, "nt": 5, "t_end": 0.2, "beta": [0.4, 1.0]},
    "reaction_diffusion2d": {"n_traj": 3, "nx": 8, "nt": 4, "t_end": 0.3, "ic_modes": 2},
}


def sine_cell_averages(x: np.ndarray, dx: float, shift: float = 0.0) -> np.ndarray:
    """Exact cell averages of sin(2 pi (x - shift)) over cells of width dx centred at x."""
    return np.sin(2 * np.pi * (x - shift)) * np.sin(np.pi * dx) / (np.pi * dx)


# ---- advection ---------------------------------------------------------------------------------


def advection_error(nx: int, beta: float, t_end: float) -> float:
    x, dx = cell_centres(nx), 1.0 / nx
    u = solve_advection(sine_cell_averages(x, dx)[None], beta, dx, np.array([0.0, t_end]),
                        progress=False)
    return float(np.mean(np.abs(u[0, -1] - sine_cell_averages(x, dx, beta * t_end))))


def test_advection_matches_exact_shift_with_second_order_convergence():
    e64, e128 = advection_error(64, 1.0, 1.0), advection_error(128, 1.0, 1.0)
    assert e128 < 5e-3
    assert e64 / e128 > 3.0  # ~2nd order (a limiter clips smooth extrema, so not exactly 4)


def test_advection_negative_speed_and_zero_speed():
    assert advection_error(128, -0.7, 0.5) < 5e-3
    x = cell_centres(16)
    u0 = sine_sum_1d(np.random.default_rng(1), 3, x)
    u = solve_advection(u0, 0.0, 1 / 16, np.linspace(0, 1, 3), progress=False)
    np.testing.assert_array_equal(u[:, -1], u0)


# ---- Burgers -----------------------------------------------------------------------------------


def cole_hopf_sine(x: np.ndarray, t: float, amp: float, visc: float, n_max: int = 80):
    """Exact Burgers solution from u0 = amp sin(2 pi x) via Cole-Hopf, u = -2 visc phi_x / phi.

    phi solves the heat equation from exp(a cos(2 pi x)), a = amp / (4 pi visc), whose Fourier
    coefficients are modified Bessel functions I_n(a) (scaled by e^-a, which cancels).
    """
    a = amp / (4 * np.pi * visc)
    n = np.arange(1, n_max + 1)[:, None]
    c = ive(n, a) * np.exp(-visc * (2 * np.pi * n) ** 2 * t)
    phi = ive(0, a) + 2 * np.sum(c * np.cos(2 * np.pi * n * x), axis=0)
    phi_x = -2 * np.sum(c * 2 * np.pi * n * np.sin(2 * np.pi * n * x), axis=0)
    return -2 * visc * phi_x / phi


def test_burgers_conserves_mass_and_dissipates_energy():
    nx = 64
    x = cell_centres(nx)
    u0 = sine_sum_1d(np.random.default_rng(0), 8, x)
    u = solve_burgers(u0, 0.01, 1 / nx, np.linspace(0, 1, 11), progress=False)  # shocks form
    mass, energy = u.sum(-1) / nx, (u**2).sum(-1) / nx  # (N, T)
    scale = np.abs(u0).sum(-1, keepdims=True) / nx
    assert np.all(np.abs(mass - mass[:, :1]) <= 1e-6 * scale)
    assert np.all(np.diff(energy, axis=1) <= 1e-12)
    assert np.all(energy[:, -1] < 0.95 * energy[:, 0])  # shocks dissipate noticeably


def test_burgers_matches_cole_hopf_nonlinear_solution():
    nu, t = 0.1, 0.5  # viscosity nu/pi; the front steepens to ~4 cells at nx=128
    errors = []
    for nx in (64, 128):
        x = cell_centres(nx)
        u0 = cole_hopf_sine(x, 0.0, 1.0, nu / np.pi)
        u = solve_burgers(u0[None], nu, 1 / nx, np.array([0.0, t]), progress=False)
        errors.append(np.max(np.abs(u[0, -1] - cole_hopf_sine(x, t, 1.0, nu / np.pi))))
    assert errors[1] < 2e-3
    assert errors[0] / errors[1] > 3.0


def test_burgers_small_amplitude_decays_like_heat_equation():
    nx, nu, t, amp = 64, 1.0, 0.1, 1e-3
    x = cell_centres(nx)
    u = solve_burgers(amp * np.sin(2 * np.pi * x)[None], nu, 1 / nx, np.array([0.0, t]),
                      progress=False)
    mode = 2 * np.mean(u[0, -1] * np.sin(2 * np.pi * x))  # sine coefficient
    np.testing.assert_allclose(mode, amp * np.exp(-nu / np.pi * (2 * np.pi) ** 2 * t), rtol=3e-3)


# ---- FitzHugh-Nagumo ----------------------------------------------------------------------------


def test_fhn_diffusion_conserves_sum_with_no_flux():
    x = cell_centres(16, -1, 1)
    w0 = gaussian_random_field_2d(np.random.default_rng(3), 4, x, x, 3).reshape(2, 2, 16, 16)
    w0 = w0 + np.exp(x)[None, None, None, :]  # a non-zero total that diffusion must keep
    w = solve_fhn(w0, 0.125, 0.125, np.linspace(0, 5, 3), du=0.02, dv=0.05, reactions=False,
                  progress=False)
    sums = w.sum(axis=(-2, -1))  # (N, T, 2)
    np.testing.assert_allclose(sums, np.broadcast_to(sums[:, :1], sums.shape), rtol=1e-13)
    assert w[:, -1].std() < 0.8 * w[:, 0].std()  # and it did diffuse


def test_fhn_cosine_modes_decay_at_discrete_and_exact_rates():
    nx, m, n, du, dv, t = 32, 3, 2, 0.05, 0.02, 2.0
    x = cell_centres(nx, -1, 1)
    dx = 2 / nx
    cos_x = np.cos(m * np.pi * (x + 1) / 2)[None, :]  # a Neumann eigenmode along x: (1, X)
    cos_y = np.cos(n * np.pi * (x + 1) / 2)[:, None]  # and along y: (Y, 1)
    w0 = np.stack([np.broadcast_to(cos_x, (nx, nx)), cos_y * cos_x])[None]  # (1, 2, Y, X)
    w = solve_fhn(w0, dx, dx, np.array([0.0, t]), du=du, dv=dv, reactions=False, max_dt=0.01,
                  progress=False)

    def discrete(j: int) -> float:  # eigenvalue of the cell-centred Neumann Laplacian
        return 4 / dx**2 * np.sin(j * np.pi * dx / 4) ** 2

    ratio_u = w[0, -1, 0] / w0[0, 0]
    ratio_v = np.sum(w[0, -1, 1] * w0[0, 1]) / np.sum(w0[0, 1] ** 2)  # projection on the mode
    np.testing.assert_allclose(ratio_u, np.exp(-du * discrete(m) * t), rtol=1e-4)
    np.testing.assert_allclose(ratio_v, np.exp(-dv * (discrete(m) + discrete(n)) * t), rtol=1e-4)
    exact = np.exp(-du * (m * np.pi / 2) ** 2 * t)
    np.testing.assert_allclose(ratio_u, exact, rtol=2e-2)


def test_fhn_uniform_state_follows_the_reaction_ode():
    k = 5e-3
    times = np.linspace(0, 5, 11)
    starts = np.array([[0.8, -0.3], [-1.5, 0.5]])
    w0 = np.broadcast_to(starts[:, :, None, None], (2, 2, 4, 4)).copy()

    def ode(_, y):
        u, v = y
        return [u - u**3 - k - v, u - v]

    ref = np.stack([solve_ivp(ode, (0, 5), s, t_eval=times, method="DOP853", rtol=1e-11,
                              atol=1e-12).y.T for s in starts])  # (N, T, 2)
    errors = []
    for max_dt in (0.05, 0.025):
        w = solve_fhn(w0, 0.5, 0.5, times, k=k, max_dt=max_dt, progress=False)
        assert np.ptp(w, axis=(-2, -1)).max() == 0.0  # stays uniform
        errors.append(np.abs(w[..., 0, 0] - ref).max())
    assert errors[0] < 2e-3
    assert errors[0] / errors[1] > 3.0  # second order in time


# ---- initial states ----------------------------------------------------------------------------


def test_initial_states_are_reproducible_and_bounded():
    x = cell_centres(64)
    a = sine_sum_1d(np.random.default_rng(5), 200, x)
    np.testing.assert_array_equal(a, sine_sum_1d(np.random.default_rng(5), 200, x))
    assert a.shape == (200, 64) and np.abs(a).max() <= 2.0
    assert (a.min(axis=1) >= 0).any() and (a.max(axis=1) <= 0).any()  # abs and sign flips occur


def test_gaussian_random_field_is_band_limited_with_unit_variance():
    x = cell_centres(32, -1, 1)
    f = gaussian_random_field_2d(np.random.default_rng(2), 400, x, x, 4)  # (N, Y, X)
    assert abs(f.var() - 1.0) < 0.05 and abs(f.mean()) < 0.05
    power = np.abs(np.fft.fft2(f)).mean(axis=0)  # the grid spans one period
    k = np.fft.fftfreq(32, 1 / 32)
    outside = (k[:, None] ** 2 + k[None, :] ** 2) > 16
    assert power[outside].max() < 1e-9 * power.max()


# ---- files ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, list[Path]]:
    base = tmp_path_factory.mktemp("sim")
    return {task: simulate(task, SMALL[task], base / task, seed=7) for task in SMALL}


@pytest.mark.parametrize("task,attr,values", [("burgers1d", "Nu", [0.01, 0.1]),
                                              ("advection1d", "beta", [0.4, 1.0])])
def test_tensor_files_have_pdebench_layout(written, task, attr, values):
    o = SMALL[task]
    prefix = "1D_Burgers_Sols_Nu" if task == "burgers1d" else "1D_Advection_Sols_beta"
    paths = written[task]
    assert [p.name for p in paths] == [f"{prefix}{v}.hdf5" for v in values]
    assert sorted(p.name for p in paths[0].parent.iterdir()) == sorted(p.name for p in paths)
    firsts = []
    for path, value in zip(paths, values):
        with h5py.File(path, "r") as f:
            assert sorted(f.keys()) == ["t-coordinate", "tensor", "x-coordinate"]
            assert f["tensor"].shape == (o["n_traj"], o["nt"], o["nx"])
            assert all(f[k].dtype == np.float32 for k in f)
            assert list(f.attrs) == [attr] and f.attrs[attr].dtype == np.float64
            assert f.attrs[attr] == value
            t = f["t-coordinate"][()]
            assert t.shape == (o["nt"] + 1,)  # one longer than the data, like PDEBench
            np.testing.assert_allclose(t, np.linspace(0, 0.25, 6), rtol=1e-6)
            np.testing.assert_allclose(f["x-coordinate"][()], cell_centres(o["nx"]), rtol=1e-6)
            assert np.isfinite(f["tensor"][()]).all()
            firsts.append(f["tensor"][:, 0])
    np.testing.assert_array_equal(firsts[0], firsts[1])  # files share initial states
    assert np.ptp(firsts[0], axis=1).min() > 0


def test_group_file_has_pdebench_layout_and_axis_order(written):
    o = SMALL["reaction_diffusion2d"]
    (path,) = written["reaction_diffusion2d"]
    assert path.name == "2D_diff-react_NA_NA.h5"
    x = cell_centres(o["nx"], -1, 1)
    fine = cell_centres(o["nx"] * REFINE, -1, 1)
    ic = gaussian_random_field_2d(np.random.default_rng(7), 2 * o["n_traj"], fine, fine,
                                  o["ic_modes"])
    ic = block_average(ic, REFINE).reshape(o["n_traj"], 2, o["nx"], o["nx"])  # (N, C, Y, X)
    with h5py.File(path, "r") as f:
        assert sorted(f.keys()) == [f"{i:04d}" for i in range(o["n_traj"])]
        for i, key in enumerate(sorted(f.keys())):
            g = f[key]
            assert sorted(g.keys()) == ["data", "grid"]
            assert sorted(g["grid"].keys()) == ["t", "x", "y"]
            d = g["data"]
            assert d.shape == (o["nt"], o["nx"], o["nx"], 2) and d.dtype == np.float32
            assert d.compression == "lzf"
            for axis in "xy":
                assert g["grid"][axis].dtype == np.float32
                np.testing.assert_allclose(g["grid"][axis][()], x, rtol=1e-6)
            np.testing.assert_allclose(g["grid/t"][()], np.linspace(0, 0.3, 4), rtol=1e-6)
            # The initial field is not symmetric in x <-> y: this pins axis 1 = y, axis 2 = x.
            np.testing.assert_allclose(d[0], np.moveaxis(ic[i], 0, -1), rtol=1e-5, atol=1e-6)
            assert not np.allclose(d[0], np.swapaxes(d[0], 0, 1), atol=1e-3)


def test_same_seed_gives_identical_bytes(tmp_path):
    for task, opts in SMALL.items():
        a = simulate(task, opts, tmp_path / "a" / task, 3)
        b = simulate(task, opts, tmp_path / "b" / task, 3)
        c = simulate(task, opts, tmp_path / "c" / task, 4)
        for pa, pb in zip(a, b):
            assert pa.read_bytes() == pb.read_bytes()
        assert a[0].read_bytes() != c[0].read_bytes()


def test_writers_are_atomic_and_check_shapes(tmp_path):
    GRID = {"y": np.arange(3), "x": np.arange(4), "t": np.arange(2)}  # data axes (T, Y, X, C)

    def samples():
        yield np.zeros((2, 3, 4, 2))
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_group_file(tmp_path / "g.h5", samples(), GRID)
    with pytest.raises(ValueError, match="t-coordinate"):
        write_tensor_file(tmp_path / "t.hdf5", np.zeros((2, 3, 4)), np.arange(4), np.arange(3))
    assert list(tmp_path.iterdir()) == []  # no finished-looking file, no temporary left over
    path = write_group_file(tmp_path / "g.h5", iter([np.ones((2, 3, 4, 1))] * 2), GRID,
                            compression=None)
    with h5py.File(path, "r") as f:
        assert f["0001/data"].shape == (2, 3, 4, 1) and f["0001/data"].compression is None
    assert [p.name for p in tmp_path.iterdir()] == ["g.h5"]


# ---- option validation -------------------------------------------------------------------------


@pytest.mark.parametrize("task,key,value,expected", [
    ("burgers1d", "nu", [0.01, -0.1], ">= 0"),
    ("burgers1d", "nx", 3, "integer >= 4"),
    ("burgers1d", "nt", 1, "integer >= 2"),
    ("advection1d", "t_end", 0.0, "> 0"),
    ("advection1d", "t_end", -1.0, "> 0"),
    ("advection1d", "n_traj", 2.5, "integer >= 1"),
    ("advection1d", "beta", [], "non-empty list"),
    ("advection1d", "beta", [1.0, 1], "distinct"),
    ("reaction_diffusion2d", "nx", True, "integer >= 4"),
    ("reaction_diffusion2d", "ic_modes", 4, "nx/2"),
    ("reaction_diffusion2d", "du", -1e-3, ">= 0"),
    ("reaction_diffusion2d", "viscosity", 0.1, "expected only"),
])
def test_bad_options_raise_before_any_work(tmp_path, task, key, value, expected):
    assert_refused_before_work(task, {**SMALL[task], key: value}, key, expected,
                               tmp_path / "out")


def test_unknown_task_and_missing_option(tmp_path):
    with pytest.raises(ValueError, match="known tasks.*advection1d"):
        simulate("navier_stokes", {}, tmp_path / "out", 0)
    opts = {k: v for k, v in SMALL["burgers1d"].items() if k != "nu"}
    with pytest.raises(ValueError, match="missing.*nu"):
        simulate("burgers1d", opts, tmp_path / "out", 0)
    assert not (tmp_path / "out").exists()
