"""The one training loop every phase uses: fetch, forward, loss, backward, step, log, validate.

Phases differ by their model, batch sampler, loss and validation figure (a `Phase`), never by a
copy of this loop. Throughput (samples/s) and the share of step time spent waiting for data are
logged beside the loss. The weights with the best validation figure are kept (model selection).
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ups.config import TrainConfig
from ups.training.checkpoint import save_checkpoint


@dataclass
class Phase:
    """What a training phase consists of; the loop itself is shared."""

    name: str
    model: nn.Module
    sample: Callable[[int], Any]  # step -> batch (the sampler owns its random generator)
    loss: Callable[[nn.Module, Any], tuple[torch.Tensor, dict[str, float]]]
    validate: Callable[[nn.Module], float]  # lower is better
    batch_size: Callable[[Any], int] = lambda batch: 0


@dataclass
class TrainResult:
    best_val: float
    best_step: int
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    optimizer: dict | None = None  # the optimizer's final state (for the checkpoint)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10 % of the peak learning rate."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; biases, norms and embeddings-like vectors are not weight-decayed."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))


def train(phase: Phase, cfg: TrainConfig, logger: Any = None, log_every: int = 10) -> TrainResult:
    """Train `phase.model` in place; on return it holds the best-validation weights."""
    model, opt = phase.model, make_optimizer(phase.model, cfg)
    best_val, best_step, best_state = math.inf, -1, None
    result = TrainResult(best_val, best_step, cfg.steps)
    wait = compute = 0.0
    samples = 0
    bar = tqdm(range(cfg.steps), desc=phase.name, file=sys.stderr, disable=None)
    for step in bar:
        t0 = time.perf_counter()
        batch = phase.sample(step)  # fetch
        t1 = time.perf_counter()
        model.train()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss, parts = phase.loss(model, batch)  # forward + loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        t2 = time.perf_counter()
        wait, compute = wait + (t1 - t0), compute + (t2 - t1)
        samples += phase.batch_size(batch)
        if step % log_every == 0 or step == cfg.steps - 1:
            record = {"loss": loss.item(), **parts, "lr": lr_at(step, cfg),
                      "grad_norm": float(grad_norm),
                      "samples_per_s": samples / max(wait + compute, 1e-9),
                      "data_wait_share": wait / max(wait + compute, 1e-9)}
            _log(logger, step, {f"train/{k}": v for k, v in record.items()})
            bar.set_postfix(loss=f"{record['loss']:.4g}")
            wait = compute = 0.0
            samples = 0
        if (step + 1) % cfg.eval_every == 0 or step == cfg.steps - 1:
            val = phase.validate(model)
            _log(logger, step, {"val/score": val})
            result.history.append({"step": step, "val": val})
            if val < best_val:
                best_val, best_step = val, step
                best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    result.best_val, result.best_step = best_val, best_step
    result.optimizer = opt.state_dict()
    if logger is not None:
        logger.summary(best_val=best_val, best_step=best_step)
    return result


def train_and_save(phase: Phase, cfg: TrainConfig, out: Path, *, model_args: dict[str, Any],
                   config: dict[str, Any], live_dir: str | None,
                   extra: dict[str, Any] | None = None) -> TrainResult:
    """Train a phase (dvclive curves in `live_dir` if given) and write its checkpoint to `out`."""
    result = train(phase, cfg, LiveLogger(live_dir) if live_dir else None)
    save_checkpoint(out, phase.model, model_args, config=config, step=result.steps,
                    optimizer=result.optimizer,
                    extra={**(extra or {}), "best_val": result.best_val,
                           "best_step": result.best_step})
    return result


def _log(logger: Any, step: int, values: dict[str, float]) -> None:
    if logger is not None:
        logger.log(step, values)


class LiveLogger:
    """dvclive curves of one phase, in `dir` (declared as DVC metrics and plots by the stage).

    `dvcyaml=False, save_dvc_exp=False`: dvclive must not rewrite dvc.yaml or create experiments
    while DVC runs the stage.
    """

    def __init__(self, dir: str):
        from dvclive import Live

        self.live = Live(dir=dir, dvcyaml=False, save_dvc_exp=False, report=None)

    def log(self, step: int, values: dict[str, float]) -> None:
        self.live.step = step
        for key, value in values.items():
            self.live.log_metric(key, value)

    def summary(self, **values: float) -> None:
        for key, value in values.items():
            self.live.summary[key] = value
        self.live.make_summary()
        self.live.end()
