"""Raw data from a PDEBench download root: file discovery, SOURCE.json, subsampling, DVC."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from helpers import copy_project, init_repo, run, stage, tiny_params, write_params

from ups.config import ConvertConfig, SourceConfig
from ups.data.convert import convert_task
from ups.data.pdebench import RawDataError
from ups.data.simulate.layouts import write_tensor_file
from ups.data.sources import SOURCE_FILE, find_raw_files, pdebench_files, write_source_record
from ups.data.store import SPLITS, open_store, split_path
from ups.tasks import get_task

BURGERS = get_task("burgers1d")


@pytest.fixture
def pdebench_root(tmp_path):
    """A PDEBench download root holding two Burgers files where the downloader puts them."""
    root = tmp_path / "pdebench"
    folder = root / BURGERS.pdebench_dir[0]
    folder.mkdir(parents=True)
    n, n_t, n_x = 10, 9, 16
    x = (np.arange(n_x) + 0.5) / n_x
    t = np.linspace(0, 0.4, n_t + 1)
    base = np.arange(n)[:, None, None] * 100 + np.arange(n_t)[None, :, None] + x[None, None] / 10
    for nu in (0.01, 0.1):
        write_tensor_file(folder / f"1D_Burgers_Sols_Nu{nu}.hdf5", base + nu, x, t, {"Nu": nu})
    (root / "unrelated.txt").write_text("not data")
    return root


def test_files_are_found_in_the_official_sub_folder(pdebench_root):
    files = pdebench_files(BURGERS, pdebench_root)
    assert [f.name for f in files] == ["1D_Burgers_Sols_Nu0.01.hdf5", "1D_Burgers_Sols_Nu0.1.hdf5"]
    only = pdebench_files(BURGERS, pdebench_root, ("1D_Burgers_Sols_Nu0.1.hdf5",))
    assert [f.name for f in only] == ["1D_Burgers_Sols_Nu0.1.hdf5"]
    with pytest.raises(RawDataError, match=r"\['1D_Burgers_Sols_Nu9.hdf5'\] of task burgers1d"):
        pdebench_files(BURGERS, pdebench_root, ("1D_Burgers_Sols_Nu9.hdf5",))
    with pytest.raises(RawDataError, match="no files of task advection1d"):
        pdebench_files(get_task("advection1d"), pdebench_root)


def test_a_file_that_exists_but_fails_the_pattern_is_named_with_the_pattern(pdebench_root,
                                                                            tmp_path):
    folder = pdebench_root / BURGERS.pdebench_dir[0]
    odd = folder / "1D_burgers_Sols_Nu0.5.hdf5"  # lower-case b: the patterns are case-sensitive
    odd.write_bytes(b"")
    with pytest.raises(RawDataError) as err:
        pdebench_files(BURGERS, pdebench_root, (odd.name,))
    assert (f"{odd} exists but does not match task burgers1d's file pattern(s) "
            f"{list(BURGERS.file_patterns)}") in str(err.value)
    assert "not found" not in str(err.value)
    misplaced = pdebench_root / "1D_Burgers_Sols_Nu0.5.hdf5"  # in the root, not its sub-folder
    misplaced.write_bytes(b"")
    with pytest.raises(RawDataError, match=f"{misplaced} exists, but task burgers1d reads "
                                           rf"\['{folder}'\].*move it there"):
        pdebench_files(BURGERS, pdebench_root, (misplaced.name,))
    raw = tmp_path / "raw"  # a raw folder holding only a wrongly named file says so
    raw.mkdir()
    (raw / odd.name).write_bytes(b"")
    with pytest.raises(RawDataError,
                       match=r"holds \['1D_burgers_Sols_Nu0.5.hdf5'\], which match none"):
        find_raw_files(BURGERS, raw)


def test_subsampling_and_trajectory_limit(pdebench_root, tmp_path):
    source = SourceConfig("pdebench", str(pdebench_root), (), max_trajectories=5,
                          reduced_resolution=4, reduced_resolution_t=2)
    files = pdebench_files(BURGERS, pdebench_root)
    convert_task(BURGERS, None, tmp_path / "out", ConvertConfig(0.2, 0.2), 0, source, files)
    stores = [open_store(split_path(tmp_path / "out", s)) for s in SPLITS]
    assert sum(s.n for s in stores) == 10  # 5 per file
    store = stores[0]
    assert store.fields.shape[1:] == (5, 4, 1)  # 9 steps -> 5, 16 points -> 4
    np.testing.assert_allclose(store.coords["x"], ((np.arange(16) + 0.5) / 16)[::4], rtol=1e-6)
    f, i = store.source[0]
    with h5py.File(files[f]) as raw:
        np.testing.assert_allclose(store.fields[0, ..., 0], raw["tensor"][i, ::2, ::4])
    assert all(s.source[:, 1].max() < 5 for s in stores)
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert manifest["source"]["reduced_resolution"] == 4


def test_source_record_names_files_and_detects_changes(pdebench_root, tmp_path):
    source = SourceConfig("pdebench", str(pdebench_root), ("1D_Burgers_Sols_Nu0.1.hdf5",))
    raw = tmp_path / "raw"
    raw.mkdir()
    write_source_record(raw, BURGERS, source)
    files = find_raw_files(BURGERS, raw)
    assert [f.name for f in files] == ["1D_Burgers_Sols_Nu0.1.hdf5"]
    with open(files[0], "ab") as fh:
        fh.write(b"\0" * 10)
    with pytest.raises(RawDataError, match="changed size since it was recorded"):
        find_raw_files(BURGERS, raw)


def test_convert_cli_reads_a_pdebench_root(pdebench_root, tmp_path):
    project = copy_project(tmp_path / "proj")
    write_params(project / "params.yaml", tiny_params())
    proc = stage("convert", "burgers1d", "--pdebench-root", str(pdebench_root), "--out", "conv",
                 cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert sum(open_store(split_path(project / "conv", s)).n for s in SPLITS) == 20


@pytest.mark.slow
def test_dvc_repro_with_a_pdebench_source(pdebench_root, tmp_path):
    project = copy_project(tmp_path / "proj")
    params = tiny_params(tasks=["burgers1d"],
                         sources={"burgers1d": {"kind": "pdebench", "root": str(pdebench_root),
                                                "max_trajectories": 8}})
    write_params(project / "params.yaml", params)
    init_repo(project)
    run(["dvc", "repro", "convert@burgers1d"], project)
    record = json.loads((project / "data/raw/burgers1d" / SOURCE_FILE).read_text())
    assert len(record["files"]) == 2 and record["root"] == str(pdebench_root)
    stores = [open_store(split_path(project / "data/converted/burgers1d", s)) for s in SPLITS]
    assert sum(s.n for s in stores) == 16
