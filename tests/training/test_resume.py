"""A training stage killed with SIGKILL resumes from its last checkpoint and ends exactly where
an uninterrupted run ends (CPU, fixed seed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import ROOT, processes_mentioning, tiny_burgers, tiny_params, write_params


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    tiny_burgers(root)
    params = tiny_params(tasks=["burgers1d"], autoencoder={
        "steps": 150, "eval_every": 30, "checkpoint_every": 10, "ema_decay": 0.9,
        "optimizer": "muon"})
    write_params(root / "params.yaml", params)
    return root


def command(root, out, resume):
    return [sys.executable, "-m", "stages.train_autoencoder", "--params", str(root / "params.yaml"),
            "--data", str(root / "conv"), "--out", str(out), "--resume", str(resume)]


def test_killed_training_resumes_and_matches(setup):
    root = setup
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    ref = root / "ref.pt"
    subprocess.run(command(root, ref, root / "ref-resume.pt"), cwd=ROOT, env=env, check=True,
                   capture_output=True)
    assert not (root / "ref-resume.pt").exists()  # removed once training completed

    out, resume = root / "out.pt", root / "resume.pt"
    proc = subprocess.Popen(command(root, out, resume), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not resume.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert resume.exists() and not out.exists(), "the run must be killed mid-training"
    killed_at = torch.load(resume, weights_only=True)["step"]
    assert killed_at < 149

    again = subprocess.run(command(root, out, resume), cwd=ROOT, env=env, check=True,
                           capture_output=True, text=True)
    assert f"resumed from {resume} at step {killed_at + 1}" in again.stderr
    a, b = (torch.load(p, weights_only=True) for p in (ref, out))
    assert a["extra"]["best_val"] == pytest.approx(b["extra"]["best_val"], rel=1e-6)
    assert a["extra"]["best_step"] == b["extra"]["best_step"]
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=1e-5, atol=1e-6)
    assert not resume.exists()


def test_a_resume_state_of_another_configuration_is_ignored(setup, tmp_path):
    root = setup
    resume = tmp_path / "resume.pt"
    torch.save({"fingerprint": "something else", "step": 5}, resume)
    done = subprocess.run(command(root, tmp_path / "out.pt", resume), cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1"),
                          check=True, capture_output=True, text=True)
    assert "resume checkpoint of another configuration; starting afresh" in done.stderr
    assert (tmp_path / "out.pt").exists() and not resume.exists()


def test_killed_two_process_training_resumes_and_matches(setup, tmp_path):
    """Under torchrun each process keeps its own resume state; a killed 2-process run resumes
    (every process at the same step) and ends where an uninterrupted one does. States of
    different steps (a kill between two processes' writes) make every process start afresh."""
    params = tiny_params(tasks=["burgers1d"], autoencoder={
        "steps": 80, "eval_every": 20, "checkpoint_every": 5, "nproc": 2})
    write_params(tmp_path / "params.yaml", params)
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")

    def cmd(out, resume):
        return [sys.executable, "-m", "stages.train_autoencoder", "--params",
                str(tmp_path / "params.yaml"), "--data", str(setup / "conv"), "--out", str(out),
                "--resume", str(resume)]

    ref = tmp_path / "ref.pt"
    subprocess.run(cmd(ref, tmp_path / "ref-resume.pt"), cwd=ROOT, env=env, check=True,
                   capture_output=True)
    out, resume = tmp_path / "out.pt", tmp_path / "resume.pt"
    ranks = [tmp_path / f"resume.pt.rank{r}" for r in (0, 1)]
    proc = subprocess.Popen(cmd(out, resume), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not all(r.exists() for r in ranks) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    # Like a lost machine: the launcher and both training processes die at once (torchrun's
    # workers run in their own sessions, so the launcher's process group is not enough).
    for pid in processes_mentioning(str(out)):
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    assert all(r.exists() for r in ranks) and not out.exists(), "killed mid-training"
    saved = {r: r.read_bytes() for r in ranks}
    steps = [torch.load(r, weights_only=True)["step"] for r in ranks]

    def finish_and_compare() -> str:
        done = subprocess.run(cmd(out, resume), cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True)
        a, b = (torch.load(p, weights_only=True) for p in (ref, out))
        assert a["extra"]["best_val"] == pytest.approx(b["extra"]["best_val"], rel=1e-6)
        for key, value in a["model"].items():
            torch.testing.assert_close(b["model"][key], value, rtol=1e-5, atol=1e-6)
        assert not any(r.exists() for r in ranks)
        out.unlink()
        return done.stderr

    log = finish_and_compare()
    if steps[0] == steps[1]:
        assert f"resumed from {ranks[0]} at step {steps[0] + 1}" in log, log
    else:  # the kill landed between the two writes
        assert "starting afresh" in log
    # Rank 1's state one checkpoint behind rank 0's: no process resumes.
    for r, data in saved.items():
        r.write_bytes(data)
    behind = torch.load(ranks[1], weights_only=True)
    behind["step"] = steps[0] - 5
    torch.save(behind, ranks[1])
    log = finish_and_compare()
    assert "resume states are of different steps" in log and "resumed from" not in log
