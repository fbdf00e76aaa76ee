"""Data-parallel training with 2 CPU processes (gloo): gradients are averaged, and a training
stage whose params ask for nproc: 2 re-launches itself under torchrun and completes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers import ROOT, processes_mentioning, tiny_burgers, tiny_params, write_params

from ups.training.distributed import World, sync_gradients


def _average_worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    x = torch.full((5, 3), float(rank + 1))  # different data on each process
    model(x).sum().backward()
    model[1].bias.grad = None if rank == 1 else model[1].bias.grad  # unused on rank 1
    before = [p.grad.clone() if p.grad is not None else torch.zeros_like(p)
              for p in model.parameters()]
    sync_gradients(model, World(rank, 2, rank))
    torch.save({"before": before, "after": [p.grad for p in model.parameters()]},
               f"{out}.{rank}")
    dist.destroy_process_group()


def test_gradients_are_averaged_across_processes(tmp_path):
    port = 29500 + os.getpid() % 1000
    mp.spawn(_average_worker, args=(port, str(tmp_path / "g")), nprocs=2)
    r0, r1 = (torch.load(tmp_path / f"g.{r}", weights_only=True) for r in (0, 1))
    for b0, b1, a0, a1 in zip(r0["before"], r1["before"], r0["after"], r1["after"]):
        torch.testing.assert_close(a0, (b0 + b1) / 2)
        torch.testing.assert_close(a1, a0)
    assert not torch.equal(r0["before"][0], r1["before"][0])  # the data did differ


@pytest.fixture(scope="module")
def conv(tmp_path_factory):
    return tiny_burgers(tmp_path_factory.mktemp("distributed"))


def test_stage_relaunches_under_torchrun(conv, tmp_path):
    write_params(tmp_path / "params.yaml",
                 tiny_params(tasks=["burgers1d"], autoencoder={"nproc": 2, "steps": 20}))
    done = subprocess.run(
        [sys.executable, "-m", "stages.train_autoencoder", "--params",
         str(tmp_path / "params.yaml"), "--data", str(conv), "--out",
         str(tmp_path / "ae.pt")],
        cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1"),
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "world size 2" in done.stderr
    assert (tmp_path / "ae.pt").is_file()


def test_sigterm_to_a_multi_process_stage_stops_its_workers(conv, tmp_path):
    """torchrun's workers run in their own sessions: the re-launching stage passes SIGTERM on,
    so stopping the stage stops the training instead of orphaning it."""
    write_params(tmp_path / "params.yaml", tiny_params(tasks=["burgers1d"], autoencoder={
        "nproc": 2, "steps": 100000, "checkpoint_every": 5}))
    out, resume = tmp_path / "ae.pt", tmp_path / "resume.pt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stages.train_autoencoder", "--params",
         str(tmp_path / "params.yaml"), "--data", str(conv), "--out", str(out),
         "--resume", str(resume)],
        cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not Path(f"{resume}.rank1").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert Path(f"{resume}.rank1").exists(), "both workers are training"
    proc.terminate()
    assert proc.wait(timeout=60) != 0
    deadline = time.time() + 30
    while processes_mentioning(str(out)) and time.time() < deadline:
        time.sleep(0.2)
    assert not processes_mentioning(str(out)), "a worker outlived the stopped stage"
    assert not out.exists()

