"""Every PDEBench layout, written exactly as released: read, convert, and fail clearly."""

from __future__ import annotations

import dataclasses
import fnmatch
import re

import h5py
import numpy as np
import pytest
from pdebench_files import (
    FAMILIES,
    N,
    T,
    encoded,
    make_cfd,
    make_darcy,
    make_diff_sorp,
    make_ns,
    write_groups,
)

from ups.config import ConvertConfig
from ups.data.convert import convert_task
from ups.data.pdebench import RawDataError, RawReader, param_from_filename
from ups.data.store import SPLITS, open_store, split_path
from ups.tasks import FIELD_VOCAB, PARAM_VOCAB, TASK_NAMES, TASKS, get_task, task_index

TRANSIENT = [f for f, (task, _) in FAMILIES.items() if not get_task(task).steady]


def raises(path, *fragments):
    """pytest.raises(RawDataError) whose message names `path` and every fragment."""
    pattern = "".join(f"(?=[\\s\\S]*{re.escape(str(s))})" for s in (path, *fragments))
    return pytest.raises(RawDataError, match=pattern)


# ---- registry ------------------------------------------------------------------------------------

def test_task_names_and_vocabularies_are_stable():
    assert TASK_NAMES == (
        "advection1d", "burgers1d", "diffusion_sorption1d", "reaction_diffusion1d",
        "compressible_ns1d", "darcy2d", "reaction_diffusion2d", "shallow_water2d",
        "compressible_ns2d", "navier_stokes2d", "compressible_ns3d", "darcy2d_mesh",
        "particles_advect", "allen_cahn2d", "cahn_hilliard2d")
    assert set(TASK_NAMES) == set(TASKS)
    assert [task_index(n) for n in TASK_NAMES] == list(range(15))
    # Append-only: the entries existing models were built with come first, in their order.
    assert FIELD_VOCAB[:2] == ("u", "v") and PARAM_VOCAB[:2] == ("beta", "nu")
    assert len(set(FIELD_VOCAB)) == len(FIELD_VOCAB) and len(set(PARAM_VOCAB)) == len(PARAM_VOCAB)
    for spec in TASKS.values():
        assert set(spec.channels) | set(spec.input_channels) <= set(FIELD_VOCAB), spec.name
        assert set(spec.param_names) <= set(PARAM_VOCAB), spec.name


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_spec_is_complete(name):
    s = get_task(name)
    assert s.dims in (1, 2, 3) and s.kind in ("grid", "mesh", "particles") and s.channels
    assert s.layout in ("tensor", "darcy", "cfd", "group", "ns_incom", "ups_zarr")
    assert len(s.param_names) == len(s.param_attrs)
    assert not s.param_file_keys or len(s.param_file_keys) == len(s.param_names)
    assert s.param_source in ("attrs", "attrs_or_filename", "config")
    assert bool(s.pdebench_group) == bool(s.pdebench_dir)
    assert s.file_patterns
    if s.layout == "group":
        assert sorted(s.group_axes) == sorted("tc" + "xyz"[: s.dims])
    if s.kind != "grid":
        assert s.layout == "ups_zarr" and s.dims == 2
    assert s.steady == (name in ("darcy2d", "darcy2d_mesh"))


def test_zarr_tasks_are_refused_by_the_hdf5_reader(tmp_path):
    path = tmp_path / "Particles_advect.zarr"
    with raises(path, "zarr layout", "open_raw"):
        RawReader(path, get_task("particles_advect"))


# ---- every family: read ----------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_reader_gives_released_values(family, tmp_path):
    task, make = FAMILIES[family]
    spec = get_task(task)
    e = make(tmp_path)
    assert spec.pdebench_group == family
    assert any(fnmatch.fnmatch(e.path.name, p) for p in spec.file_patterns)
    with RawReader(e.path, spec) as r:
        assert r.info.n == e.fields.shape[0]
        assert r.info.layout == spec.layout
        np.testing.assert_array_equal(r.info.t, e.t)
        assert list(r.info.coords) == list(spec.axes)
        for axis, c in e.coords.items():
            np.testing.assert_allclose(r.info.coords[axis], c, rtol=1e-6)
        assert r.info.params == pytest.approx(e.params)
        assert list(r.info.params) == list(spec.param_names)
        assert e.fields.shape[-1] == len(spec.channels)
        for i in range(r.info.n):
            u = r.read(i)
            assert u.dtype == np.float32 and u.shape == e.fields[i].shape
            np.testing.assert_array_equal(u, e.fields[i])
            if e.inputs is not None:
                inputs = r.read_inputs(i)
                assert inputs.shape[-1] == len(spec.input_channels)
                np.testing.assert_array_equal(inputs, e.inputs[i])
        if e.inputs is None:
            with raises(e.path, "no input fields"):
                r.read_inputs(0)


def test_darcy_is_steady_with_coefficient_inputs(tmp_path):
    e = make_darcy(tmp_path)
    with RawReader(e.path, get_task("darcy2d")) as r:
        assert r.read(1).shape == (1, 4, 3, 1) and r.read_inputs(1).shape == (4, 3, 1)
        # Solution and coefficient are distinct datasets: digits n, c, x, y (+0.5 for nu).
        assert r.read(1)[0, 3, 2, 0] == 10032 and r.read_inputs(1)[3, 2, 0] == 10032.5


def test_ns_channels_times_and_forcing(tmp_path):
    e = make_ns(tmp_path)
    with RawReader(e.path, get_task("navier_stokes2d")) as r:
        assert r.info.n == 4
        u = r.read(2)  # (T, X, Y, [Vx, Vy, particles])
        assert u.shape == (T, 4, 3, 3)
        assert u[1, 3, 2, 2] == 21232  # digits n=2, t=1, c=2 (particles), x=3, y=2
        assert r.read_inputs(3)[2, 1, 1] == 30121.25  # force_y of trajectory 3 at x=2, y=1
        with h5py.File(e.path) as f:
            assert f["velocity"].chunks == (1, 1, 4, 3, 2)
            np.testing.assert_allclose(r.times(3), f["t"][3])
        np.testing.assert_allclose(r.info.coords["x"], [0.125, 0.375, 0.625, 0.875])


# ---- every transient family: convert ---------------------------------------------------------

@pytest.mark.parametrize("family", TRANSIENT)
def test_convert_stores_released_values(family, tmp_path):
    task, make = FAMILIES[family]
    spec = get_task(task)
    raw = tmp_path / "raw"
    raw.mkdir()
    e = make(raw)
    out = tmp_path / "conv"
    manifest = convert_task(spec, raw, out, ConvertConfig(0.0, 0.25), seed=0)
    assert manifest["files"][0]["layout"] == spec.layout
    rows = 0
    for split in SPLITS:
        store = open_store(split_path(out, split))
        assert store.channels == spec.channels and store.param_names == spec.param_names
        np.testing.assert_array_equal(store.t, e.t)
        for axis, c in e.coords.items():
            np.testing.assert_allclose(store.coords[axis], c, rtol=1e-6)
        for row in range(store.n):
            _, i = store.source[row]
            np.testing.assert_array_equal(store.fields[row], e.fields[i])
            np.testing.assert_allclose(store.params[row], [e.params[p] for p in spec.param_names])
        rows += store.n
    assert rows == e.fields.shape[0]


# ---- contents, not extensions ----------------------------------------------------------------

@pytest.mark.parametrize("family,new_suffix", [("burgers", ".h5"), ("2d_reacdiff", ".hdf5"),
                                               ("ns_incom", ".hdf5"), ("2d_cfd", ".h5"),
                                               ("darcy", ".h5"), ("swe", ".hdf5")])
def test_layout_comes_from_contents_not_extension(family, new_suffix, tmp_path):
    task, make = FAMILIES[family]
    e = make(tmp_path)
    assert e.path.suffix != new_suffix
    renamed = e.path.rename(e.path.with_suffix(new_suffix))
    with RawReader(renamed, get_task(task)) as r:
        np.testing.assert_array_equal(r.read(1), e.fields[1])
        assert r.info.params == pytest.approx(e.params)


def test_layout_mismatch_names_both_layouts(tmp_path):
    e = make_cfd(tmp_path, 1)
    with raises(e.path, "'cfd' layout", "burgers1d needs 'tensor'"):
        RawReader(e.path, get_task("burgers1d"))


# ---- parameters from file names and configs --------------------------------------------------

@pytest.mark.parametrize("dims,name,params", [
    (1, "1D_CFD_Rand_Eta1.e-8_Zeta1.e-8_trans_Train.hdf5", {"eta": 1e-8, "zeta": 1e-8}),
    (2, "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_128_Train.hdf5",
     {"mach": 0.1, "eta": 0.01, "zeta": 0.01}),
    (3, "3D_CFD_Turb_M1.0_Eta1e-08_Zeta1e-08_periodic_Train.h5",
     {"mach": 1.0, "eta": 1e-8, "zeta": 1e-8}),
])
def test_cfd_params_fall_back_to_the_file_name(dims, name, params, tmp_path):
    e = make_cfd(tmp_path, dims, name=name, attrs={}, params=params)
    task = {1: "compressible_ns1d", 2: "compressible_ns2d", 3: "compressible_ns3d"}[dims]
    with RawReader(e.path, get_task(task)) as r:
        assert r.info.params == pytest.approx(params, rel=1e-12)


def test_cfd_attr_missing_and_name_without_it_fails(tmp_path):
    e = make_cfd(tmp_path, 2, name="2D_shock.hdf5", attrs={"eta": 0.1, "zeta": 0.1})
    with raises(e.path, "root attribute 'M'", "_M<number>"):
        RawReader(e.path, get_task("compressible_ns2d"))
    assert param_from_filename("x_Eta0.1.hdf5", "Eta") == 0.1
    assert param_from_filename("x_Zeta0.1_Train.h5", "Eta") is None


def test_group_config_and_root_grid_fallback(tmp_path):
    e = make_diff_sorp(tmp_path, grid_at_root=True)
    spec = dataclasses.replace(get_task("diffusion_sorption1d"), param_names=("D",),
                               param_attrs=("sim.D",))
    with RawReader(e.path, spec) as r:
        assert r.info.config["sim"]["por"] == 0.29
        assert r.info.params == {"D": 0.0005}
        np.testing.assert_array_equal(r.read(2), e.fields[2])
        with h5py.File(e.path) as f:
            assert f["0000/data"].compression == "lzf"
    bad = dataclasses.replace(spec, param_attrs=("sim.k_f",))
    with raises(e.path, "'sim.k_f'", "'config'"):
        RawReader(e.path, bad)


# ---- bad inputs: RawDataError naming the file and the dataset --------------------------------

def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)


def _drop_samples(f):
    """Only a root `grid` is left: a group file without samples."""
    f.copy("0000/grid", "grid")
    for key in [k for k in f if k.isdigit()]:
        del f[key]


def _replace(f, key, data):
    del f[key]
    f[key] = np.asarray(data, np.float32)


BAD = {
    # name: (family, edit of the written file, fragments the message must hold)
    "unknown_layout": ("burgers", lambda f: (f.move("tensor", "solution")),
                       ("unknown PDEBench layout", "'solution'", "'tensor'")),
    "cfd_missing_field": ("2d_cfd", lambda f: f.__delitem__("pressure"),
                          ("dataset 'pressure' is missing",)),
    "cfd_missing_coordinate": ("3d_cfd", lambda f: f.__delitem__("z-coordinate"),
                               ("dataset 'z-coordinate' is missing",)),
    "ns_missing_force": ("ns_incom", lambda f: f.__delitem__("force"),
                         ("dataset 'force' is missing", "(N, X, Y, 2)")),
    "darcy_missing_nu_rank": ("darcy", lambda f: _replace(f, "nu", np.zeros((3, 12))),
                              ("dataset 'nu' has shape (3, 12)", "(N, X, Y)")),
    "group_missing_grid": ("swe", lambda f: [f.__delitem__(f"{k}/grid") for k in list(f)],
                           ("no 'grid' group", "/0000")),
    "cfd_wrong_rank": ("2d_cfd", lambda f: _replace(f, "Vx", np.zeros((3, 3, 12))),
                       ("dataset 'Vx' has shape (3, 3, 12)", "(N, T, X, Y)")),
    "ns_wrong_rank": ("ns_incom", lambda f: _replace(f, "velocity", np.zeros((4, 3, 12, 2))),
                      ("dataset 'velocity' has shape (4, 3, 12, 2)", "(N, T, X, Y, 2)")),
    "group_wrong_rank": ("2d_reacdiff", lambda f: _replace(f, "0000/data", np.zeros((3, 12, 2))),
                         ("dataset '0000/data' has shape (3, 12, 2)", "(T, Y, X, C)")),
    "darcy_wrong_rank": ("darcy", lambda f: _replace(f, "tensor", np.zeros((3, 4, 3))),
                         ("dataset 'tensor' has shape (3, 4, 3)", "(N, 1, X, Y)")),
    "cfd_field_shapes_differ": ("1d_cfd", lambda f: _replace(f, "Vx", np.zeros((3, 3, 4))),
                                ("dataset 'Vx' has shape (3, 3, 4)", "'density' has (3, 3, 5)")),
    "ns_particles_shape": ("ns_incom",
                           lambda f: _replace(f, "particles", np.zeros((4, 3, 4, 3, 2))),
                           ("dataset 'particles' has shape (4, 3, 4, 3, 2)",)),
    "t_coordinate_short": ("2d_cfd", lambda f: _replace(f, "t-coordinate", np.zeros(2)),
                           ("'t-coordinate' has 2 entries", "3 time steps")),
    "group_t_short": ("diff_sorp", lambda f: _replace(f, "0000/grid/t", np.zeros(1)),
                      ("'/0000/grid/t' has 1 entries",)),
    "ns_t_short": ("ns_incom", lambda f: _replace(f, "t", np.zeros((4, 2))),
                   ("'t' has 2 entries",)),
    "empty_group_file": ("swe", lambda f: _drop_samples(f), ("no sample groups", "'0000/data'")),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_fails_naming_file_and_dataset(case, tmp_path):
    family, edit, fragments = BAD[case]
    task, make = FAMILIES[family]
    e = make(tmp_path)
    _edit(e.path, edit)
    with raises(e.path, *fragments):
        RawReader(e.path, get_task(task))


def test_completely_empty_file_fails(tmp_path):
    path = tmp_path / "2D_rdb_NA_NA.h5"
    h5py.File(path, "w").close()
    with raises(path, "empty file", "'0000'"):
        RawReader(path, get_task("shallow_water2d"))


@pytest.mark.parametrize("family,key,index,where", [
    ("burgers", "tensor", (1, 2, 3), "tensor[1]"),
    ("3d_cfd", "Vy", (2, 0, 1, 1, 0), "Vy[2]"),
    ("ns_incom", "particles", (3, 2, 1, 1, 0), "particles[3]"),
    ("swe", "0001/data", (2, 1, 1, 0), "0001/data"),
    ("darcy", "nu", (0, 1, 1), "nu[0]"),
])
def test_nan_or_inf_names_trajectory_and_dataset(family, key, index, where, tmp_path):
    task, make = FAMILIES[family]
    e = make(tmp_path)

    def poison(f):
        f[key][index] = np.inf if family == "3d_cfd" else np.nan

    _edit(e.path, poison)
    with RawReader(e.path, get_task(task)) as r:
        i = index[0] if key != "0001/data" else 1
        with raises(e.path, f"{where} contains NaN or Inf"):
            r.read_inputs(i) if key == "nu" else r.read(i)


def test_group_samples_of_other_shapes_fail(tmp_path):
    u = encoded((N, T, 5, 1))
    x, t = np.arange(5.0), np.arange(float(T))
    path = write_groups(tmp_path / "1D_diff-sorp_NA_NA.h5", [u[0], u[1, :2]], {"x": x, "t": t})
    with RawReader(path, get_task("diffusion_sorption1d")) as r:
        with raises(path, "'0001/data' has shape (2, 5, 1)", "(3, 5, 1)"):
            r.read(1)


@pytest.mark.parametrize("family, task", [("darcy", "darcy2d"), ("ns_incom", "navier_stokes2d")])
def test_convert_stores_input_fields(tmp_path, family, task):
    """Darcy's coefficient and NS's forcing land in the store's `inputs`, beside the fields."""
    raw = tmp_path / "raw"
    raw.mkdir()
    e = FAMILIES[family][1](raw)
    spec = get_task(task)
    convert_task(spec, raw, tmp_path / "conv", ConvertConfig(0.0, 0.25), seed=0)
    for split in SPLITS:
        store = open_store(split_path(tmp_path / "conv", split))
        assert store.input_channels == spec.input_channels
        for row in range(store.n):
            i = store.source[row, 1]
            with RawReader(e.path, spec) as r:
                np.testing.assert_array_equal(store.inputs[row], r.read_inputs(i))
                np.testing.assert_array_equal(store.fields[row], r.read(i))
