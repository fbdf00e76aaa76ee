"""UPS's zarr point-set layouts (meshes, particles): writers, reader and conversion to the store."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import zarr

from ups.config import ConvertConfig, SourceConfig
from ups.data.convert import convert_task
from ups.data.pdebench import NonFiniteError, RawDataError
from ups.data.raw import open_raw
from ups.data.store import SPLITS, open_store, split_path
from ups.data.zarr_layout import ZarrReader, write_mesh_zarr, write_particles_zarr
from ups.tasks import get_task

N, T, P = 10, 4, 7


def mesh_store(folder, n: int = N):
    """A unit-square mesh (4 corners + centre) whose values encode (sample, node)."""
    nodes = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], np.float32)
    cells = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    boundary = np.array([True] * 4 + [False])
    idx = np.arange(n)[:, None] * 10 + np.arange(5)[None]  # (N, P): digits sample, node
    path = write_mesh_zarr(folder / "Darcy_2D_mesh.zarr", nodes, cells, boundary,
                           coefficient=idx + 0.5, solution=idx.astype(float), task="darcy2d_mesh",
                           bounds=[[0, 1], [0, 1]], params={"forcing": 1.0})
    return path, nodes, idx


def particle_store(folder, n: int = N):
    """Particles whose fields and positions encode (sample, step, particle, channel); the store
    keeps its channels as (Vy, Vx), the reverse of the task's order."""
    i, t, p, c = np.indices((n, T, P, 2))
    fields = (i * 1000 + t * 100 + p * 10 + c).astype(np.float32)
    positions = fields / 1e4
    path = write_particles_zarr(folder / "Particles_advect.zarr", np.linspace(0, 1, T),
                                positions, fields, task="particles_advect",
                                channels=["Vy", "Vx"], bounds=[[0, 1], [0, 1]],
                                periodic=True)
    return path, positions, fields


def test_mesh_store_reads_back_fields_inputs_and_nodes(tmp_path):
    path, nodes, idx = mesh_store(tmp_path)
    with open_raw(path, get_task("darcy2d_mesh")) as r:
        assert isinstance(r, ZarrReader)
        assert r.info.n == N and r.info.spatial_shape == (5,) and r.info.layout == "ups_zarr"
        assert r.info.params == {} and r.info.bounds == ((0.0, 1.0), (0.0, 1.0))
        assert r.info.cells.shape == (4, 3) and r.info.t.tolist() == [0.0]
        np.testing.assert_array_equal(r.read(3), idx[3][None, :, None])  # (1, P, 1)
        np.testing.assert_array_equal(r.read_inputs(3), idx[3][:, None] + 0.5)  # (P, 1)
        np.testing.assert_array_equal(r.read_points(3), nodes[None])  # (1, P, 2)
        with pytest.raises(IndexError, match="out of range"):
            r.read(N)


def test_particle_store_reads_channels_by_name(tmp_path):
    path, positions, fields = particle_store(tmp_path)
    with open_raw(path, get_task("particles_advect")) as r:
        assert r.info.n == N and r.info.spatial_shape == (P,) and r.info.cells is None
        np.testing.assert_allclose(r.info.t, np.linspace(0, 1, T))
        np.testing.assert_array_equal(r.read(2), fields[2][..., ::-1])  # (T, P, [Vx, Vy])
        np.testing.assert_array_equal(r.read_points(2), positions[2])


def test_point_sets_convert_with_points_cells_and_inputs(tmp_path):
    path, nodes, idx = mesh_store(tmp_path)
    out = tmp_path / "mesh"
    manifest = convert_task(get_task("darcy2d_mesh"), tmp_path, out, ConvertConfig(0.2, 0.2), 0)
    assert manifest["files"][0]["name"] == "Darcy_2D_mesh.zarr"
    seen = []
    for split in SPLITS:
        s = open_store(split_path(out, split))
        assert s.kind == "mesh" and s.coords == {} and s.cells.shape == (4, 3)
        assert s.fields.shape[1:] == (1, 5, 1) and s.points.shape[1:] == (1, 5, 2)
        np.testing.assert_array_equal(s.bounds, [[0, 1], [0, 1]])
        for k, (_, i) in enumerate(s.source):
            np.testing.assert_array_equal(s.fields[k, 0, :, 0], idx[i])
            np.testing.assert_array_equal(s.inputs[k, :, 0], idx[i] + 0.5)
            np.testing.assert_array_equal(s.points[k, 0], nodes)
            seen.append(int(i))
    assert sorted(seen) == list(range(N))

    path, positions, fields = particle_store(tmp_path)
    out = tmp_path / "particles"
    source = SourceConfig(reduced_resolution=2, reduced_resolution_t=3)
    convert_task(get_task("particles_advect"), tmp_path, out, ConvertConfig(0.2, 0.2), 0,
                 source=source)
    s = open_store(split_path(out, "train"))
    assert s.kind == "particles" and s.cells is None and len(s.t) == 2
    (_, i) = s.source[0]
    np.testing.assert_array_equal(s.fields[0], fields[i, ::3, ::2, ::-1])  # (T', P', C)
    np.testing.assert_array_equal(s.points[0], positions[i, ::3, ::2])  # (T', P', 2)


def test_a_mesh_cannot_be_thinned(tmp_path):
    mesh_store(tmp_path)
    with pytest.raises(RawDataError, match="reduced_resolution is 2; a mesh cannot be thinned"):
        convert_task(get_task("darcy2d_mesh"), tmp_path, tmp_path / "out",
                     ConvertConfig(0.2, 0.2), 0, source=SourceConfig(reduced_resolution=2))
    assert not (tmp_path / "out").exists()


def _drop(path, key):
    shutil.rmtree(path / key)


def _retag(path, key):
    g = zarr.open_group(path, mode="r+")
    g.attrs["ups_layout"] = "grid"


def _nan(path, key):
    g = zarr.open_group(path, mode="r+")
    g["solution"][1, 2] = np.nan


def _scramble(path, key):
    for chunk in (path / "solution").rglob("*"):
        if chunk.is_file() and chunk.name != "zarr.json":
            chunk.write_bytes(b"\x00garbage")


@pytest.mark.parametrize("damage,expected,error", [
    (_drop, "array 'cells' is missing; expected (E, 3) simplices", RawDataError),
    (_retag, "ups_layout='grid'", RawDataError),
    (_nan, "solution[1] contains NaN", NonFiniteError),
    (_scramble, "Darcy_2D_mesh.zarr", RawDataError),
])
def test_damaged_stores_fail_clearly_and_convert_writes_nothing(tmp_path, damage, expected,
                                                                error):
    path, *_ = mesh_store(tmp_path)
    damage(path, "cells")
    out = tmp_path / "out"
    with pytest.raises(error, match=re.escape(expected)):
        convert_task(get_task("darcy2d_mesh"), tmp_path, out, ConvertConfig(0.2, 0.2), 0)
    assert not out.exists()


def test_missing_store_and_writer_shape_checks(tmp_path):
    with pytest.raises(RawDataError, match="store not found"):
        open_raw(tmp_path / "Darcy_2D_mesh.zarr", get_task("darcy2d_mesh"))
    with pytest.raises(ValueError, match=r"fields \(N, T, P, 2\)"):
        write_particles_zarr(tmp_path / "p.zarr", np.zeros(3), np.zeros((2, 3, 4, 2)),
                             np.zeros((2, 3, 4, 1)), task="particles_advect",
                             channels=["Vx", "Vy"], bounds=[[0, 1], [0, 1]], periodic=True)
    with pytest.raises(ValueError, match="cells index nodes outside"):
        write_mesh_zarr(tmp_path / "m.zarr", np.zeros((3, 2)), [[0, 1, 3]], np.ones(3),
                        np.zeros((1, 3)), np.zeros((1, 3)), task="darcy2d_mesh",
                        bounds=[[0, 1], [0, 1]])
    assert list(tmp_path.iterdir()) == []  # nothing half-written
