"""Convert and encode killed with SIGKILL at points through their run: no half-written output is
ever left under the final name, and the re-run's output equals an uninterrupted run's."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, tiny_params, write_params

from ups.data.simulate import simulate
from ups.data.simulate.layouts import write_tensor_file
from ups.data.store import open_store, split_path

pytestmark = pytest.mark.slow
# Of an uninterrupted run's writing time; the machine's load varies, so a late kill may find the
# stage finished (then its output must be complete), but most must interrupt it.
FRACTIONS = (0.1, 0.3, 0.5)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Simulated data for encode; for convert, a 43 MB PDEBench-layout file (smooth random
    fields), so that its writing takes long enough to be killed in the middle."""
    root = tmp_path_factory.mktemp("killed")
    opts = {"n_traj": 64, "nx": 256, "nt": 41, "t_end": 0.5, "nu": [0.01, 0.02]}
    simulate("burgers1d", opts, root / "raw", seed=0)
    rng = np.random.default_rng(0)
    n, t, x = 256, 41, 1024
    grid = (np.arange(x) + 0.5) / x
    modes = rng.normal(size=(n, t, 4, 1)).astype(np.float32)
    k = np.arange(1, 5, dtype=np.float32)[None, None, :, None]
    fields = (modes * np.sin(2 * np.pi * k * grid)).sum(2)  # (N, T, X)
    write_tensor_file(root / "big" / "1D_Burgers_Sols_Nu0.01.hdf5", fields, grid,
                      np.linspace(0, 1, t + 1), {"Nu": 0.01})
    write_params(root / "params.yaml", tiny_params(tasks=["burgers1d"]))
    return root


def stage(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"stages.{name}", *args]


def watched(cmd: list[str], out: Path, kill_at: float | None = None) -> tuple[float, int]:
    """Run `cmd`; once its temporary output (`.<name>.tmp-<pid>`) appears, wait `kill_at`
    seconds and SIGKILL it (None: let it finish). Returns (seconds from the temporary output's
    appearance to its rename into the final name, or to the kill; exit code)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    appeared = renamed = None
    while proc.poll() is None:
        now = time.perf_counter()
        names = [p.name for p in out.parent.iterdir()] if out.parent.is_dir() else []
        if appeared is None and any(n.startswith(f".{out.name}.tmp-") for n in names):
            appeared = now
        if appeared is not None and renamed is None and out.name in names:
            renamed = now
        if appeared is not None and kill_at is not None and now - appeared >= kill_at:
            proc.kill()  # SIGKILL: no handler, no cleanup
            renamed = now
            break
        time.sleep(0.001)
    code = proc.wait()
    assert appeared is not None, f"{cmd[2]} never wrote a temporary output (or too fast to see)"
    return (renamed or time.perf_counter()) - appeared, code


def store_arrays(root: Path) -> dict:
    out = {"manifest": json.loads((root / "manifest.json").read_text()),
           "stats": json.loads((root / "stats.json").read_text())}
    out["manifest"].pop("seconds", None)
    for split in ("train", "val", "test"):
        s = open_store(split_path(root, split))
        out[split] = (np.asarray(s.fields[()]), np.asarray(s.params), np.asarray(s.source))
        s.fields.file.close()
    return out


def cache_arrays(root: Path) -> dict:
    """The cache's arrays, its meta, and its scoring set's bytes (a copy of the test store)."""
    read = {".npy": np.load, ".json": lambda p: json.loads(p.read_text())}
    return {p.name: read.get(p.suffix, Path.read_bytes)(p) for p in sorted(root.iterdir())}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], tuple):
            for x, y in zip(a[k], b[k], strict=True):
                np.testing.assert_array_equal(x, y)
        elif isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k], k


def check_kills(cmd_for, out_for, read) -> None:
    """Kill runs at FRACTIONS of a clean run's writing time (measured from the moment its
    temporary output appears); nothing may then carry the final name, and a re-run completes
    with the clean run's output and removes the killed run's temporary output."""
    reference = out_for("reference")
    writing, code = watched(cmd_for(reference), reference)
    assert code == 0 and writing > 0.05, f"writing took {writing:.3f} s: too fast to interrupt"
    expected = read(reference)
    interrupted = 0
    for i, fraction in enumerate(FRACTIONS):
        out = out_for(f"killed{i}")
        _, code = watched(cmd_for(out), out, kill_at=fraction * writing)
        if code == 0:  # finished before the kill came
            assert_same(read(out), expected)
            continue
        interrupted += 1
        assert code == -9
        assert not out.exists(), "a killed stage left output under its final name"
        assert [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp-")]
        subprocess.run(cmd_for(out), cwd=ROOT, check=True, capture_output=True)  # re-run
        assert_same(read(out), expected)
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp-")], \
            "the killed run's temporary output was not cleaned up"
    assert interrupted >= 2, f"only {interrupted} of {len(FRACTIONS)} kills interrupted the stage"


def test_killed_convert_leaves_nothing_half_written_and_reruns_equal(work):
    check_kills(
        lambda out: stage("convert", "burgers1d", "--params", str(work / "params.yaml"),
                          "--raw", str(work / "big"), "--out", str(out)),
        lambda name: work / "conv" / name, store_arrays)


def test_killed_encode_leaves_nothing_half_written_and_reruns_equal(work):
    conv = work / "encode-input" / "burgers1d"
    subprocess.run(stage("convert", "burgers1d", "--params", str(work / "params.yaml"),
                         "--raw", str(work / "raw"), "--out", str(conv)),
                   cwd=ROOT, check=True, capture_output=True)
    ae = work / "ae.pt"
    subprocess.run(stage("train_autoencoder", "--params", str(work / "params.yaml"),
                         "--data", str(conv.parent), "--out", str(ae)),
                   cwd=ROOT, check=True, capture_output=True)
    check_kills(
        lambda out: stage("encode", "burgers1d", "--autoencoder", str(ae), "--data", str(conv),
                          "--out", str(out)),
        lambda name: work / "latent" / name, cache_arrays)
