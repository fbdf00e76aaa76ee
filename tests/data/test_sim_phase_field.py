"""Physics and layout tests of the Allen-Cahn and Cahn-Hilliard simulators (ups.data.simulate)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import yaml
from helpers import assert_refused_before_work

from ups.data.pdebench import RawReader
from ups.data.simulate import SPECS, simulate
from ups.data.simulate.advection import cell_centres
from ups.data.simulate.phase_field import (
    MAX_RATE_ERROR,
    PhaseField,
    evolve,
    free_energy,
    initial_states,
)
from ups.tasks import get_task

SMALL = {
    "allen_cahn2d": {"n_traj": 3, "nx": 32, "nt": 5, "t_end": 4.0, "eps": 0.03},
    "cahn_hilliard2d": {"n_traj": 3, "nx": 32, "nt": 5, "t_end": 0.02, "eps": 0.03,
                        "dt": 1e-4},
}
FILES = {"allen_cahn2d": "AllenCahn_2D.h5", "cahn_hilliard2d": "CahnHilliard_2D.h5"}
KINDS = {"allen_cahn2d": "allen_cahn", "cahn_hilliard2d": "cahn_hilliard"}


def random_state(n: int, nx: int, mean_max: float, seed: int = 1) -> np.ndarray:
    """Band-limited random fields of amplitude 0.3 around random means: (n, Y, X)."""
    opts = {"ic_modes": 6, "ic_amplitude": 0.3, "mean_max": mean_max}
    return initial_states(seed, n, cell_centres(nx), opts)


def grid(nx: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinate arrays X, Y of the nx x nx cell centres, each (Y, X)."""
    x = cell_centres(nx)
    return np.meshgrid(x, x, indexing="xy")


# ---- conservation and energy -------------------------------------------------------------------


def test_cahn_hilliard_conserves_the_mean_to_round_off():
    u0 = random_state(4, 32, 0.3)
    u = evolve(PhaseField("cahn_hilliard", 0.03), u0, np.linspace(0, 0.05, 6), 1e-4,
               progress=False)  # (N, T, Y, X)
    mean = u.mean(axis=(-2, -1))
    assert np.abs(mean - mean[:, :1]).max() < 1e-14
    assert np.ptp(mean[:, 0]) > 0.05  # distinct means, and the fields did change a lot:
    assert np.abs(u[:, -1] - u[:, 0]).max() > 0.5


@pytest.mark.parametrize("kind,dt", [("allen_cahn", 0.05), ("allen_cahn", 5.0),
                                     ("cahn_hilliard", 1e-4), ("cahn_hilliard", 1e-2)])
def test_free_energy_never_increases(kind, dt):
    """Every step, at a step within the accuracy limit and one far beyond it (the scheme is
    unconditionally energy stable; the limit on `dt` is about accuracy)."""
    eps = 0.03
    u0 = random_state(3, 32, 0.2)
    times = np.arange(201) * dt  # save every step
    u = evolve(PhaseField(kind, eps), u0, times, dt, progress=False)
    energy = free_energy(u, eps)  # (N, T)
    assert np.all(np.diff(energy, axis=1) <= 1e-13 * energy[:, :1])
    assert np.all(energy[:, -1] < 0.8 * energy[:, 0])  # it did relax


def test_explicit_nonlinearity_without_stabiliser_raises_energy():
    """The stabiliser is what makes a large step safe: S = 0 at the same step is not monotone
    (so the energy test above can fail)."""
    eps, dt = 0.03, 1e-2  # beyond the explicit limit ~2 eps^2 of f'(u) = 2 at |u| = 1
    u0 = random_state(3, 32, 0.2)
    u = evolve(PhaseField("cahn_hilliard", eps, stabilization=0.0), u0, np.arange(21) * dt, dt,
               progress=False)
    assert np.diff(free_energy(u, eps), axis=1).max() > 1e-3  # measured +0.024


# ---- Allen-Cahn: interfaces --------------------------------------------------------------------


def test_allen_cahn_flat_tanh_interfaces_are_stationary():
    nx, eps = 64, 0.025
    x = cell_centres(nx)
    width = np.sqrt(2) * eps

    def stripe(w: float) -> np.ndarray:  # two flat interfaces, at x = 1/4 and x = 3/4: (Y, X)
        prof = np.tanh((x - 0.25) / w) - np.tanh((x - 0.75) / w) - 1.0
        return np.broadcast_to(prof, (nx, nx))

    u0 = np.stack([stripe(width), stripe(2 * width)])  # the exact profile, and a too-wide one
    u = evolve(PhaseField("allen_cahn", eps), u0, np.array([0.0, 20.0]), 0.05, progress=False)
    change = np.abs(u[:, -1] - u0).max(axis=(-2, -1))
    assert change[0] < 1e-4  # measured 1.1e-5
    assert change[1] > 0.1  # a wrong profile relaxes (measured 0.30)


def test_allen_cahn_circle_shrinks_by_mean_curvature():
    """Motion by mean curvature, V = -eps^2 / R, gives dR^2/dt = -2 eps^2 for a disc."""
    nx, eps, r0 = 64, 0.025, 0.3
    xx, yy = grid(nx)
    u0 = np.tanh((r0 - np.hypot(xx - 0.5, yy - 0.5)) / (np.sqrt(2) * eps))[None]
    times = np.linspace(0.0, 25.0, 6)
    u = evolve(PhaseField("allen_cahn", eps), u0, times, 0.01, progress=False)
    area = ((1.0 + u[0]) / 2.0).mean(axis=(-2, -1))  # (T,) on the unit square
    slope = np.polyfit(times, area / np.pi, 1)[0]
    assert slope / (-2 * eps**2) == pytest.approx(1.0, abs=0.03)  # measured 0.989
    assert area[-1] < 0.8 * area[0]  # it really shrank (R^2: 0.09 -> 0.059)


# ---- Cahn-Hilliard: spinodal growth ------------------------------------------------------------


def test_cahn_hilliard_linear_growth_rates_match_dispersion_relation():
    """Small modes around c = 0 grow at k^2 (1 - eps^2 k^2); the last one (eps k > 1) decays."""
    nx, eps, t_end = 32, 0.025, 0.004
    model = PhaseField("cahn_hilliard", eps)
    xx, yy = grid(nx)
    modes = [(1, 0), (2, 1), (3, 0), (0, 4), (3, 3), (5, 2), (7, 0)]  # (m_x, m_y)
    u0 = 1e-6 * sum(np.cos(2 * np.pi * (a * xx + b * yy)) for a, b in modes)[None]
    for dt in (5e-6, 5e-5):
        u = evolve(model, u0, np.array([0.0, t_end]), dt, progress=False)[0]  # (T, Y, X)
        f0, f1 = np.fft.fft2(u[0]), np.fft.fft2(u[-1])  # (Y, X): index [m_y, m_x]
        for a, b in modes:
            k2 = (2 * np.pi) ** 2 * (a * a + b * b)
            rate = np.log(abs(f1[b, a]) / abs(f0[b, a])) / t_end
            # The scheme's own amplification, to round-off ...
            assert rate == pytest.approx(float(model.discrete_growth_rate(k2, dt)), rel=1e-8)
            if dt == 5e-6:  # ... and the PDE's, within 2 % at a small step (measured <= 2.0 %)
                assert rate == pytest.approx(float(model.growth_rate(k2)), rel=0.021)
    assert model.rate_error(5e-5) < MAX_RATE_ERROR  # the default step is accepted


# ---- files and options -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    base = tmp_path_factory.mktemp("phase")
    return {task: simulate(task, SMALL[task], base / task, seed=3) for task in SMALL}


@pytest.mark.parametrize("task", list(SMALL))
def test_files_have_group_layout_and_read_back(written, task):
    (path,) = written[task]
    o = SMALL[task]
    nx, nt = o["nx"], o["nt"]
    assert path.name == FILES[task]
    x = cell_centres(nx)
    defaults = {k: d for k, (d, _) in SPECS[task].optional.items()}
    ic = initial_states(3, o["n_traj"], x, {**defaults, **o})  # (N, Y, X)
    with h5py.File(path, "r") as f:
        assert sorted(f.keys()) == ["0000", "0001", "0002"]
        for i, key in enumerate(sorted(f.keys())):
            g = f[key]
            d = g["data"]
            assert d.shape == (nt, nx, nx, 1) and d.dtype == np.float32
            assert d.compression == "lzf"
            for axis in "xyt":
                assert g["grid"][axis].dtype == np.float32
            np.testing.assert_allclose(g["grid/x"][()], x, rtol=1e-6)
            np.testing.assert_allclose(g["grid/y"][()], x, rtol=1e-6)
            np.testing.assert_allclose(g["grid/t"][()], np.linspace(0, o["t_end"], nt), rtol=1e-6)
            # The random initial field is not x <-> y symmetric: this pins axis 1 = y.
            np.testing.assert_allclose(d[0, ..., 0], ic[i], rtol=1e-6, atol=1e-7)
            assert not np.allclose(d[0], np.swapaxes(d[0], 0, 1), atol=1e-3)
            energy = free_energy(d[..., 0].astype(np.float64), o["eps"])
            assert np.all(np.diff(energy) < 1e-5 * energy[0])  # (float32 frames)
            assert energy[-1] < 0.9 * energy[0]
            config = yaml.safe_load(g.attrs["config"])
            assert config["eps"] == o["eps"] and config["boundary"] == "periodic"
            assert 0 < config["dt"] <= o.get("dt", defaults["dt"])  # a number, not a string
            if task == "cahn_hilliard2d":
                means = d[()].mean(axis=(1, 2, 3))
                np.testing.assert_allclose(means, means[0], atol=1e-6)
    with RawReader(path, get_task(task)) as reader:
        assert reader.info.n == 3 and reader.info.params == {}
        np.testing.assert_allclose(reader.info.coords["x"], x, rtol=1e-6)
        with h5py.File(path, "r") as f:  # (T, Y, X, 1) in the file -> (T, X, Y, 1)
            np.testing.assert_array_equal(reader.read(2), np.swapaxes(f["0002/data"][()], 1, 2))


def test_default_options_coarsen_visibly():
    """The default dynamics (AC, cheap) coarsen over the saved frames: the power-weighted mean
    wavenumber of the fluctuations falls."""
    opts = {k: d for k, (d, _) in SPECS["allen_cahn2d"].optional.items()}
    u0 = initial_states(0, 4, cell_centres(32), opts)
    model = PhaseField("allen_cahn", opts["eps"])
    u = evolve(model, u0, np.linspace(0.0, 20.0, 3), opts["dt"], progress=False)
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(32, 1 / 32), np.fft.fftfreq(32, 1 / 32)))
    power = np.abs(np.fft.fft2(u - u.mean(axis=(-2, -1), keepdims=True))) ** 2
    k_mean = (k * power).sum(axis=(-2, -1)) / power.sum(axis=(-2, -1))  # (N, T)
    assert np.all(k_mean[:, 2] < 0.8 * k_mean[:, 0])


@pytest.mark.parametrize("task", list(SMALL))
def test_same_seed_same_bytes(tmp_path, task):
    a = simulate(task, SMALL[task], tmp_path / "a", 1)[0]
    b = simulate(task, SMALL[task], tmp_path / "b", 1)[0]
    c = simulate(task, SMALL[task], tmp_path / "c", 2)[0]
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    one = simulate(task, {**SMALL[task], "n_traj": 1}, tmp_path / "d", 1)[0]
    with h5py.File(a, "r") as fa, h5py.File(one, "r") as fo:  # sample 0 ignores the batch size
        np.testing.assert_array_equal(fa["0000/data"][()], fo["0000/data"][()])


@pytest.mark.parametrize("task,key,value,expected", [
    ("allen_cahn2d", "dt", 0.5, "smaller dt"),
    ("cahn_hilliard2d", "dt", 1e-3, "smaller dt"),
    ("cahn_hilliard2d", "dt", 0.0, "> 0"),
    ("allen_cahn2d", "eps", 0.01, "resolves the interfaces"),
    ("cahn_hilliard2d", "eps", -0.1, "> 0"),
    ("allen_cahn2d", "ic_modes", 16, "nx/2"),
    ("cahn_hilliard2d", "mean_max", 1.0, "[0, 1)"),
    ("allen_cahn2d", "ic_amplitude", -0.1, ">= 0"),
    ("cahn_hilliard2d", "nx", 2, "integer >= 4"),
    ("allen_cahn2d", "mobility", 2.0, "expected only"),
])
def test_bad_options_raise_before_any_file(tmp_path, task, key, value, expected):
    assert_refused_before_work(task, {**SMALL[task], key: value}, key, expected,
                               tmp_path / "out")


def test_dt_limit_is_the_growth_rate_accuracy():
    for kind, eps in (("allen_cahn", 0.025), ("cahn_hilliard", 0.025)):
        model = PhaseField(kind, eps)
        fast = model.fastest_mode()
        exact = float(model.growth_rate(fast))
        assert exact == pytest.approx(1.0 if kind == "allen_cahn" else 1 / (4 * eps**2))
        for dt in (1e-6, 1e-4, 1e-2, 1.0):
            err = model.rate_error(dt)
            assert err == pytest.approx(1 - float(model.discrete_growth_rate(fast, dt)) / exact)
            assert 0 < err < 1
        assert model.rate_error(1e-6) < model.rate_error(1e-4) < model.rate_error(1e-2)
