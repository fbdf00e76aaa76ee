"""Fuzzing the converter's inputs and the params: damaged raw files of every kind (HDF5 layouts,
zarr stores) and malformed parameters give errors that name what is wrong, never a crash, a hang
or a traceback, and never a half-written output."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import ROOT

from ups.config import config_from_dict, load_config
from ups.data.simulate import validate_options

# The converter's own errors for damaged input (the stage CLIs print them as one line).
NAMED = {"RawDataError", "NonFiniteError"}


@pytest.mark.slow
def test_damaged_raw_files_are_refused_naming_the_file(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tests/data/fuzz_convert.py"),
                           str(tmp_path)], capture_output=True, text=True, timeout=900)
    cases = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, (f"the fuzz driver died (exit {proc.returncode}) after "
                                  f"{cases[-1] if cases else 'no case'}:\n{proc.stderr[-3000:]}")
    assert len(cases) == 11 * 9 + 2 * 10
    bad = []
    for case in cases:
        raw = str(Path(case["file"]).parents[0])  # the damaged file's folder (or store part)
        case_raw = case["file"].split("/raw/")[0] + "/raw/"
        if case["outcome"] == "converted":
            if not case["output_exists"]:
                bad.append(("converted without output", case))
            continue
        if case["type"] not in NAMED:
            bad.append(("not the converter's own error", case))
        elif case_raw not in case["message"] and raw not in case["message"]:
            bad.append(("does not name the file", case))
        elif case["output_exists"]:
            bad.append(("left an output", case))
    assert not bad, "\n".join(f"{why}: {c}" for why, c in bad)
    refused = sum(c["outcome"] == "refused" for c in cases)
    assert refused >= len(cases) // 2, f"only {refused} of {len(cases)} damages were noticed"


def leaves(tree: dict, path: tuple = ()):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, (*path, key))
        else:
            yield (*path, key), value


BAD_VALUES = ["x", -1, 0, 1e30, None, [], {}, [1, "a"], True, float("nan"), -0.5, "1e-3"]


def test_malformed_params_are_refused_naming_the_key():
    """Every leaf of params.yaml set to each of a dozen wrong values: the config (or, for
    simulator options, the simulator's check) accepts it or raises a ValueError naming the key;
    no other exception escapes."""
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    refused = 0
    for path, _ in leaves(base):
        for value in BAD_VALUES:
            params = copy.deepcopy(base)
            node = params
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
            where = ".".join(map(str, path))
            try:
                config_from_dict(params)
                if path[0] == "simulate" and len(path) == 3:
                    validate_options(path[1], params["simulate"][path[1]])
            except ValueError as err:
                refused += 1
                assert str(path[-1]) in str(err), (where, value, str(err))
            except Exception as err:
                raise AssertionError(f"{where} = {value!r}: {type(err).__name__}: {err}")
    assert refused > 1000  # the fuzz reaches the checks (not a loop that accepts everything)


@pytest.mark.parametrize("text,expected", [
    ("latent: [1, 2\n", "params.yaml"),  # not YAML
    ("", "params.yaml"),  # empty
    ("- a\n- b\n", "params.yaml"),  # a list, not a mapping
    ("latent:\n  dim: 8\n  dim: 9\n", "params.yaml"),  # a duplicated key
    ("\x00\x01\x02", "params.yaml"),  # binary
])
def test_malformed_params_files_are_refused_naming_the_file(tmp_path, text, expected):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        load_config(path)
    assert expected in str(err.value)
