"""Every task's embedded simulator feeds the same converter as real files, and its store passes
the same checks: trajectories equal to what the reader reads, channels, parameters, inputs and
points where the task has them, disjoint splits that cover every trajectory, finite fields and
train-split statistics. Options are tiny; physics is tested per family in test_sim_*.py."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import TINY_SIMULATE as TINY

from ups.config import ConvertConfig
from ups.data.convert import convert_task
from ups.data.raw import open_raw
from ups.data.simulate import SPECS, simulate
from ups.data.sources import find_raw_files
from ups.data.store import SPLITS, open_store, split_path
from ups.io import read_json
from ups.tasks import TASK_NAMES, get_task


def test_every_task_has_a_simulator():
    assert sorted(SPECS) == sorted(TASK_NAMES)
    assert sorted(TINY) == sorted(TASK_NAMES)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_simulated_data_converts_and_passes_the_store_checks(task, tmp_path):
    spec = get_task(task)
    raw, out = tmp_path / "raw", tmp_path / "converted"
    simulate(task, TINY[task], raw, seed=0)
    manifest = convert_task(spec, raw, out, ConvertConfig(0.2, 0.2), seed=0)
    readers = {p.name: open_raw(p, spec) for p in find_raw_files(spec, raw)}
    members = []
    for split in SPLITS:
        s = open_store(split_path(out, split))
        assert (s.task, s.channels, s.kind) == (task, spec.channels, spec.kind)
        assert s.param_names == spec.param_names and s.input_channels == spec.input_channels
        spatial_axes = 1 if spec.kind != "grid" else spec.dims
        assert s.fields.ndim == 3 + spatial_axes
        assert s.fields.shape[1] == (1 if spec.steady else len(s.t)) > 0
        fields = s.fields[()]
        assert np.isfinite(fields).all()
        for k, (f, i) in enumerate(s.source):
            r = readers[s.files[f]]
            np.testing.assert_array_equal(fields[k], r.read(int(i)))
            np.testing.assert_array_equal(s.params[k], [r.info.params[p]
                                                        for p in spec.param_names])
            if spec.input_channels:
                np.testing.assert_array_equal(s.inputs[k], r.read_inputs(int(i)))
            if spec.kind != "grid":
                np.testing.assert_array_equal(s.points[k], r.read_points(int(i)))
            members.append((s.files[f], int(i), split))
    # Every trajectory lands in exactly one split, and an initial state never straddles two.
    assert len({(name, i) for name, i, _ in members}) == len(members)
    assert len(members) == sum(r.info.n for r in readers.values())
    if spec.shared_initial_states:  # trajectory i of every file: one initial state
        by_state: dict[int, set[str]] = {}
        for _, i, split in members:
            by_state.setdefault(i, set()).add(split)
        assert all(len(splits) == 1 for splits in by_state.values())
    assert {split for *_, split in members} == set(SPLITS)  # no empty split
    stats = read_json(out / "stats.json")
    assert stats["channels"] == list(spec.channels) and all(s > 0 for s in stats["std"])
    if spec.input_channels:  # inputs are normalised by their own train-split statistics
        assert stats["inputs"]["channels"] == list(spec.input_channels)
        assert all(s > 0 for s in stats["inputs"]["std"])
    assert manifest["task"] == task and all(f["md5"] for f in manifest["files"])
    for r in readers.values():
        r.close()
