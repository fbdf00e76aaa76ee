"""Data-parallel training across processes: `torchrun` (or a stage re-launched under it).

Each process draws its own batches (its sampler is seeded with the rank) and computes gradients;
`sync_gradients` averages them across processes before every optimizer step, so every replica
takes the same step and the weights stay identical. This is what DistributedDataParallel does,
written over the parameters directly because the phases call the model's methods (encode,
decode, rollout, steady) rather than its forward. Rank 0 validates, logs and writes outputs.

Backends: NCCL on CUDA, gloo on CPU. Multi-node: start the same stage on every node with
`torchrun --nnodes N --node_rank R --rdzv_backend c10d --rdzv_endpoint HOST:PORT
--nproc_per_node G -m stages.train_operator ...` (README, "Training").
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

LAUNCHED = "UPS_TORCHRUN"  # set when a stage re-launched itself under torchrun


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env() -> World:
    """The world torchrun describes in the environment (a single process without it)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    return World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))


def rank_seed(seed: int) -> int:
    """This process's sampler seed: each rank draws different batches, reproducibly."""
    return seed + 7919 * world_from_env().rank


def init(world: World, device: torch.device) -> torch.device:
    """Join the process group (once) and return this process's device."""
    if not world.distributed:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def sync_gradients(model: nn.Module, world: World) -> None:
    """Average every parameter's gradient across processes, in one flat all-reduce.

    A parameter a process did not use this step (another task's head) counts as a zero gradient
    there, so all processes reduce the same buffer."""
    if not world.distributed:
        return
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def same_everywhere(value: int, world: World, device: torch.device) -> bool:
    """Whether every process holds the same `value` (one all-reduce of (v, -v) under MAX)."""
    if not world.distributed:
        return True
    both = torch.tensor([value, -value], dtype=torch.int64, device=device)
    dist.all_reduce(both, op=dist.ReduceOp.MAX)
    return int(both[0]) == -int(both[1])


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def relaunch(nproc: int, module: str) -> bool:
    """Re-run this stage under torchrun with `nproc` processes on this machine; True if it did.

    A stage whose params ask for `nproc` > 1 calls this first: the torchrun children see
    UPS_TORCHRUN and train; the parent waits and exits with their status. SIGTERM and SIGINT
    sent to the parent are passed on to torchrun, which stops its workers (they run in their
    own sessions and would otherwise train on, orphaned)."""
    if nproc <= 1 or os.environ.get(LAUNCHED) or "WORLD_SIZE" in os.environ:
        return False
    import signal
    import subprocess

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", module, *sys.argv[1:]]
    proc = subprocess.Popen(cmd, env=dict(os.environ, **{LAUNCHED: "1"}))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: proc.send_signal(number))
    code = proc.wait()
    if code:
        sys.exit(code)
    return True
