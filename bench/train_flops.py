"""Achieved training FLOP/s against the machine's own matmul peak, for the default configuration
and the GPU-scale profile (configs/gpu-80gb.args applied with DVC's `-S` parser), on whatever
device this machine has (the table says which).

A training step here is forward + backward + AdamW update on a synthetic batch of the right
shapes: the operator on latents (B, tokens, dim) for one step (the default trains a 3-step
unrolled loss: about 3x this), the autoencoder encoding a 1D burgers sample and decoding at
`num_queries` points. FLOPs are counted by torch.utils.flop_counter (matmuls and attention;
element-wise work is not counted, so the figures are lower bounds). The peak is a square float32
(and bfloat16) matmul timed in the same run.

    python bench/train_flops.py                 # both configurations
    python bench/train_flops.py --gpu-profile-batch 8   # the GPU profile on a small CPU
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch
from project import ROOT
from torch.utils.flop_counter import FlopCounterMode

from ups.config import load_config
from ups.models.autoencoder import AutoEncoder, autoencoder_args
from ups.models.lattice import points_per_axis
from ups.models.operator import LatentOperator
from ups.remote import apply_settings
from ups.tasks import PARAM_VOCAB, get_task, task_index
from ups.training.operator import operator_args


def matmul_peak(device: str, dtype: torch.dtype, n: int = 2048, seconds: float = 3.0) -> float:
    """FLOP/s of an n x n matmul, best of repeated runs over about `seconds`."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t0))
    return best


def measure(model: torch.nn.Module, loss_fn, device: str, steps: int) -> tuple[float, float]:
    """(FLOPs per training step, seconds per step, median of `steps` after one warm-up)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn().backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()

    with FlopCounterMode(display=False) as counter:
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return counter.get_total_flops(), sorted(times)[len(times) // 2]


def operator_step(cfg, device: str, batch: int):
    model = LatentOperator(**operator_args(cfg)).to(device)
    # burgers1d at the default 128 points: its lattice (ups/models/lattice.py)
    dim = cfg.latent.dim
    tokens = -(-128 // points_per_axis(1, 1, cfg.latent.patch_values))
    z = torch.randn(batch, tokens, dim, device=device)
    target = torch.randn(batch, tokens, dim, device=device)
    cond = dict(task_ids=torch.full((batch,), task_index("burgers1d"), device=device),
                dt=torch.full((batch,), 0.05, device=device),
                params=torch.zeros(batch, len(PARAM_VOCAB), device=device),
                param_mask=torch.zeros(batch, len(PARAM_VOCAB), device=device))
    return model, lambda: torch.nn.functional.mse_loss(model(z, **cond), target)


def autoencoder_step(cfg, device: str, batch: int, points: int):
    model = AutoEncoder(**autoencoder_args(cfg)).to(device)
    spec = get_task("burgers1d")
    queries = cfg.autoencoder.num_queries
    pos = torch.zeros(batch, points, 3, device=device)
    pos[..., 0] = torch.linspace(0, 1, points, device=device)
    values = torch.randn(batch, points, len(spec.channels), device=device)
    qpos = torch.rand(batch, queries, 3, device=device) * torch.tensor([1.0, 0, 0],
                                                                       device=device)
    target = torch.randn(batch, queries, len(spec.channels), device=device)

    def loss():
        z = model.encode(pos, values, spec.channels, spec.name)
        return torch.nn.functional.mse_loss(model.decode(z, qpos, spec.channels, spec.name),
                                            target)
    return model, loss


def gpu_profile_config():
    """params.yaml with configs/gpu-80gb.args applied as `dvc exp run -S` would."""
    work = Path(tempfile.mkdtemp(prefix="ups-flops-"))
    shutil.copy(ROOT / "params.yaml", work / "params.yaml")
    args = (ROOT / "configs/gpu-80gb.args").read_text().split()
    apply_settings(work, tuple(a for a in args if a != "-S"))
    cfg = load_config(work / "params.yaml")
    shutil.rmtree(work)
    return cfg


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpu-profile-batch", type=int, default=16,
                   help="batch for the GPU profile on a CPU (its 128 takes minutes per step on "
                        "2 cores); on a GPU the profile's own batch is used")
    p.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    args = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    peak32 = matmul_peak(device, torch.float32)
    peak16 = matmul_peak(device, torch.bfloat16)
    name = torch.cuda.get_device_name() if device == "cuda" else \
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; matmul peak: float32 {peak32 / 1e9:.0f} GFLOP/s, "
          f"bfloat16 {peak16 / 1e9:.0f} GFLOP/s (2048x2048)")
    print("\n| configuration | phase | batch | GFLOP per step | s per step | samples/s | "
          "GFLOP/s | of float32 peak |\n|---|---|---|---|---|---|---|---|")
    for label, cfg in (("default", load_config(ROOT / "params.yaml")),
                       ("GPU profile", gpu_profile_config())):
        for phase in ("operator", "autoencoder"):
            section = getattr(cfg, phase)
            batch = section.batch_size
            if label == "GPU profile" and device == "cpu":
                batch = min(batch, args.gpu_profile_batch)
            model, loss = (operator_step(cfg, device, batch) if phase == "operator" else
                           autoencoder_step(cfg, device, batch, points=128))
            flops, seconds = measure(model, loss, device, args.steps)
            print(f"| {label} | {phase} | {batch} | {flops / 1e9:.2f} | {seconds:.3f} | "
                  f"{batch / seconds:.0f} | {flops / seconds / 1e9:.1f} | "
                  f"{flops / seconds / peak32:.1%} |", flush=True)


if __name__ == "__main__":
    main()
