"""Convert and encode onto a disk that fills up: a clear one-line error naming the file, exit 1,
and nothing left behind (no output under its final name, no temporaries eating the space).

Two ways to run out: a real tmpfs of a few hundred KB (mounted when the tests run as
root), which the stages' free-space check refuses before writing; and a file-size limit
(RLIMIT_FSIZE) on a roomy disk, which passes that check and fails the writes in the middle (EFBIG,
as a disk filled by someone else would with ENOSPC). Where mounting is not permitted the first
falls back to the second, and says so.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from helpers import ROOT, tiny_params, write_params

from ups.config import config_from_dict
from ups.data.convert import convert_task
from ups.data.simulate import simulate
from ups.models.autoencoder import AutoEncoder, autoencoder_args
from ups.tasks import get_task
from ups.training.checkpoint import save_checkpoint

DISK_KB = 256
FULL = ("No space left on device", "File too large")


@contextmanager
def small_disk(path: Path, kb: int, how: str):
    """`path` as a tmpfs of `kb` KB (`how` "tmpfs"); yields the limit to put on the stage (None:
    the tmpfs limits it) or, for "fsize" or where mounting is refused, a byte limit for
    RLIMIT_FSIZE."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = how == "tmpfs" and os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={kb}k", "tmpfs", str(path)],
        capture_output=True).returncode == 0
    print(f"small disk: {'tmpfs' if mounted else 'RLIMIT_FSIZE'} of {kb} KB", file=sys.stderr)
    try:
        yield None if mounted else kb * 1024
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], check=True)


def run_limited(cmd: list[str], fsize: int | None) -> subprocess.CompletedProcess:
    def limit():  # in the child: writes past `fsize` fail with EFBIG, not SIGXFSZ
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          preexec_fn=limit if fsize else None)


def assert_clean_failure(proc: subprocess.CompletedProcess, disk: Path, out: Path) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert any(reason in line for reason in FULL), line
    assert str(disk) in line, line  # names the file it could not write
    assert not out.exists()
    assert list(disk.iterdir()) == []  # no temporaries left to fill the disk


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Raw burgers1d whose converted store (~1.4 MB) cannot fit the small disk, its converted
    store, and an (untrained) autoencoder checkpoint for encode."""
    root = tmp_path_factory.mktemp("fulldisk")
    opts = {"n_traj": 40, "nx": 256, "nt": 33, "t_end": 0.5, "nu": [0.01]}
    params = tiny_params(tasks=["burgers1d"], simulate={"burgers1d": opts})
    write_params(root / "params.yaml", params)
    cfg = config_from_dict(params)
    simulate("burgers1d", opts, root / "raw", cfg.seed)
    convert_task(get_task("burgers1d"), root / "raw", root / "conv", cfg.convert, cfg.seed)
    torch.manual_seed(0)
    args = autoencoder_args(cfg)
    save_checkpoint(root / "ae.pt", AutoEncoder(**args), args, config={}, step=0)
    return root


@pytest.mark.parametrize("how", ["tmpfs", "fsize"])
def test_convert_onto_a_full_disk(data, tmp_path, how):
    disk, out = tmp_path / "disk", tmp_path / "disk" / "conv"
    with small_disk(disk, DISK_KB, how) as fsize:
        proc = run_limited([sys.executable, "-m", "stages.convert", "burgers1d", "--raw",
                            str(data / "raw"), "--out", str(out), "--params",
                            str(data / "params.yaml")], fsize)
        assert_clean_failure(proc, disk, out)


@pytest.mark.parametrize("how", ["tmpfs", "fsize"])
def test_encode_onto_a_full_disk(data, tmp_path, how):
    disk, out = tmp_path / "disk", tmp_path / "disk" / "latent"
    with small_disk(disk, 64, how) as fsize:
        proc = run_limited([sys.executable, "-m", "stages.encode", "burgers1d", "--autoencoder",
                            str(data / "ae.pt"), "--data", str(data / "conv"), "--out",
                            str(out)], fsize)
        assert_clean_failure(proc, disk, out)
