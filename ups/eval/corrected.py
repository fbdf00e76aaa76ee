"""Rollouts with the residual corrector: each operator step plus a sampled correction.

Variants (each scored beside the operator alone in `metrics/eval/<task>.json`):
- `diffusion`: the teacher's sample (K network calls per step, K = noise levels);
- `consistency`: the distilled student's sample (1-2 calls per step);
- `ttc`: test-time conditioning, K candidates from the student per step, decoded, and the one
  with the lowest physics penalty (`ups.eval.ttc`) kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ups.config import CorrectorConfig
from ups.eval.rollout import Surrogate
from ups.eval.ttc import penalties
from ups.io import file_md5
from ups.models.consistency import ConsistencyModel, consistency_sample
from ups.models.corrector import Denoiser, NoiseSchedule, ResidualCond, sample
from ups.tasks import get_task
from ups.training.checkpoint import (
    LATENT_SHAPE,
    build_from_checkpoint,
    check_same,
    load_checkpoint,
)


@dataclass
class Corrector:
    """A trained corrector and how to draw from it."""

    name: str
    model: nn.Module
    schedule: NoiseSchedule
    steps: int | None  # network calls per sample (None: every noise level, the teacher)

    @property
    def calls(self) -> int:
        return self.schedule.levels if self.steps is None else self.steps

    @torch.no_grad()
    def draw(self, pred: torch.Tensor, cond: dict, generator: torch.Generator,
             n: int = 1) -> torch.Tensor:
        """Residuals for predictions (B, L, D): (B * n, L, D), each prediction's n in a row."""
        rc = ResidualCond(pred, cond["task_ids"], cond["params"], cond["param_mask"]).repeat(n)
        if isinstance(self.model, ConsistencyModel):
            return consistency_sample(self.model, self.schedule, rc, generator, steps=self.steps)
        return sample(self.model, self.schedule, rc, generator)


def load_correctors(diffusion: Path, consistency: Path, operator: Path,
                    cfg: CorrectorConfig) -> tuple[dict[str, Corrector], str | None]:
    """The teacher and the student, checked to belong to the evaluated `operator` checkpoint;
    ({}, why) when the corrector is disabled."""
    operator_md5 = file_md5(Path(operator))
    out: dict[str, Corrector] = {}
    for name, path, cls in (("diffusion", diffusion, Denoiser),
                            ("consistency", consistency, ConsistencyModel)):
        reason = load_checkpoint(path)["extra"].get("disabled")
        if reason or not cfg.enabled:
            return {}, reason or "corrector.enabled is false"
        model, ckpt = build_from_checkpoint(path, cls)
        check_same(LATENT_SHAPE, (operator, load_checkpoint(operator)["model_args"]),
                   (path, ckpt["model_args"]))
        if ckpt["extra"]["operator_md5"] != operator_md5:
            raise ValueError(f"{path} was trained for another operator; re-run the corrector "
                             "stages (dvc repro does this)")
        out[name] = Corrector(name, model, NoiseSchedule(**ckpt["extra"]["schedule"]),
                              None if name == "diffusion" else cfg.consistency_steps)
    return out, None


class Scorer:
    """Decodes candidate latents of a task and scores them with the TTC physics penalties."""

    def __init__(self, model: Surrogate, cfg: CorrectorConfig, grid: tuple[int, ...] | None):
        self.model, self.cfg, self.grid = model, cfg.ttc, grid
        self.spec = get_task(model.task)
        self.std = torch.as_tensor(model.physical.std, dtype=torch.float32)

    def fields(self, z: torch.Tensor, traj: np.ndarray, step: int) -> torch.Tensor:
        """(N, L, D) latents of trajectories `traj` (N,) at `step` -> (N, P, C) physical."""
        return torch.from_numpy(self.model.decode(z, traj, np.full(len(traj), step)))

    def pick(self, candidates: torch.Tensor, prev: torch.Tensor | None, op_pred: torch.Tensor,
             traj: np.ndarray, step: int) -> torch.Tensor:
        """candidates (B * K, L, D), K per trajectory in a row -> the best of each, (B, L, D)."""
        k = self.cfg.candidates
        reps = np.repeat(traj, k)
        u = self.fields(candidates, reps, step)
        ref = self.fields(op_pred, traj, step).repeat_interleave(k, 0)
        before = None if prev is None else prev.repeat_interleave(k, 0)
        score = penalties(u, before, ref, self.spec, self.model.channels, self.std, self.grid,
                          self.cfg).reshape(-1, k)
        best = score.argmin(1)
        return candidates.reshape(-1, k, *candidates.shape[1:])[torch.arange(len(best)), best]


@torch.no_grad()
def corrected_rollout(model: Surrogate, z0: torch.Tensor, steps: int, cond: dict,
                      corrector: Corrector, generator: torch.Generator,
                      scorer: Scorer | None = None) -> tuple[torch.Tensor, float]:
    """z0 (B, L, D) -> (B, steps + 1, L, D), each step operator + correction (the best of K with
    `scorer`); and the wall seconds per rollout step."""
    traj = np.arange(len(z0))
    out, z = [z0], z0
    prev = None if scorer is None else scorer.fields(z0, traj, 0)
    start = time.perf_counter()
    for s in range(1, steps + 1):
        pred = model.operator(z, **cond)
        if scorer is None:
            z = pred + corrector.draw(pred, cond, generator)
        else:
            k = scorer.cfg.candidates
            cands = pred.repeat_interleave(k, 0) + corrector.draw(pred, cond, generator, n=k)
            z = scorer.pick(cands, prev, pred, traj, s)
            prev = scorer.fields(z, traj, s)
        out.append(z)
    seconds = (time.perf_counter() - start) / max(steps, 1)
    return torch.stack(out, dim=1), seconds


@torch.no_grad()
def corrected_one_step(model: Surrogate, z_true: torch.Tensor, cond: dict,
                       corrector: Corrector, generator: torch.Generator,
                       scorer: Scorer | None = None) -> torch.Tensor:
    """True latents (B, T, L, D) -> corrected one-step predictions (B, T-1, L, D) (the best of
    K candidates from each true state with `scorer`)."""
    b, n_t = z_true.shape[:2]
    if scorer is not None:
        traj, k = np.arange(b), scorer.cfg.candidates
        out = []
        for t in range(n_t - 1):
            pred = model.operator(z_true[:, t], **cond)
            cands = pred.repeat_interleave(k, 0) + corrector.draw(pred, cond, generator, n=k)
            out.append(scorer.pick(cands, scorer.fields(z_true[:, t], traj, t), pred, traj,
                                   t + 1))
        return torch.stack(out, dim=1)
    flat = {k: v.repeat_interleave(n_t - 1, dim=0) for k, v in cond.items()}
    pred = model.operator(z_true[:, :-1].reshape(b * (n_t - 1), *z_true.shape[2:]), **flat)
    pred = pred + corrector.draw(pred, flat, generator)
    return pred.reshape(b, n_t - 1, *z_true.shape[2:])


@torch.no_grad()
def corrected_steady(model: Surrogate, z_in: torch.Tensor, cond: dict, corrector: Corrector,
                     generator: torch.Generator, scorer: Scorer | None = None) -> torch.Tensor:
    """Input latents (B, L, D) -> corrected solution latents (B, 1, L, D)."""
    pred = model.operator.steady(z_in, **cond)
    if scorer is None:
        return (pred + corrector.draw(pred, cond, generator))[:, None]
    k = scorer.cfg.candidates
    cands = pred.repeat_interleave(k, 0) + corrector.draw(pred, cond, generator, n=k)
    return scorer.pick(cands, None, pred, np.arange(len(pred)), 0)[:, None]
