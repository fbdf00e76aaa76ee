"""The one training loop every phase uses: fetch, forward, loss, backward, step, log, validate.

Phases differ by their model, batch sampler, loss and validation figure (a `Phase`), never by a
copy of this loop. Throughput (samples/s) and the share of step time spent waiting for data are
logged beside the loss. The weights with the best validation figure are kept (model selection).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ups.config import TrainConfig
from ups.io import atomic_file
from ups.training.checkpoint import save_checkpoint
from ups.training.distributed import (
    World,
    barrier,
    init,
    same_everywhere,
    sync_gradients,
    world_from_env,
)
from ups.training.optim import (
    ModelEMA,
    autocast,
    build_optimizer,
    describe,
    resolve_precision,
    set_lr,
)


@dataclass
class Phase:
    """What a training phase consists of; the loop itself is shared.

    The sampler puts the step into every batch (`batch["step"]`) so that losses can follow
    schedules (warm-ups); `adamw_names` are parameter-name prefixes the Muon optimizer leaves
    to AdamW (the network's input and output projections).
    """

    name: str
    model: nn.Module
    sample: Callable[[int], Any]  # step -> batch (the sampler owns its random generator)
    loss: Callable[[nn.Module, Any], tuple[torch.Tensor, dict[str, float]]]
    # Lower is better; may also return per-task figures (name -> value), logged beside it.
    validate: Callable[[nn.Module], float | tuple[float, dict[str, float]]]
    batch_size: Callable[[Any], int] = lambda batch: 0
    adamw_names: tuple[str, ...] = ()
    # The random generators the sampler draws from: their states travel with resume checkpoints
    # so that a resumed run draws the same batches as an uninterrupted one.
    generators: tuple[np.random.Generator, ...] = ()


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


def resolve_device(name: str) -> torch.device:
    """"auto": CUDA when present, else CPU; "cuda" without a GPU is an error naming the key."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device is 'cuda' but torch sees no CUDA GPU; set device: cpu or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) batch to `device`; other values pass through."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def make_optimizer(phase: Phase, cfg: TrainConfig):
    return build_optimizer(phase.model, cfg.optimizer, cfg.lr, cfg.weight_decay,
                           muon_lr=cfg.muon_lr or None, adamw_names=phase.adamw_names)


def fingerprint(*parts: Any) -> str:
    """A short hash of JSON-able settings: a resume checkpoint only serves the same run."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_resume(path: Path | None, key: str) -> dict | None:
    """The resume state at `path` if it belongs to the run `key`; None otherwise (a state
    left by another configuration is ignored, with a note)."""
    if path is None or not Path(path).is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated file cannot happen (atomic writes) but be safe
        print(f"{path}: unreadable resume checkpoint ({err}); starting afresh", file=sys.stderr)
        return None
    if state.get("fingerprint") != key:
        print(f"{path}: resume checkpoint of another configuration; starting afresh",
              file=sys.stderr)
        return None
    return state


def resume_path(resume: Path | None, world: World) -> Path | None:
    """Where this process keeps its resume state: one file per process when distributed (each
    process has its own sampler generators)."""
    if resume is None or not world.distributed:
        return resume
    return Path(f"{resume}.rank{world.rank}")


def _snapshot(model: nn.Module, opt: Any, ema: ModelEMA | None, phase: Phase) -> dict:
    """Everything that moves during training, for a resume checkpoint."""
    return {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "ema": ema.state_dict() if ema is not None else None,
            "generators": [g.bit_generator.state for g in phase.generators],
            "torch_rng": torch.get_rng_state()}


def _restore(state: dict, model: nn.Module, opt: Any, ema: ModelEMA | None,
             phase: Phase) -> None:
    """The inverse of `_snapshot`."""
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    for gen, gen_state in zip(phase.generators, state["generators"], strict=True):
        gen.bit_generator.state = gen_state
    torch.set_rng_state(state["torch_rng"])


def train(phase: Phase, cfg: TrainConfig, logger: Any = None, log_every: int = 10,
          resume: Path | None = None, key: str = "") -> TrainResult:
    """Train `phase.model` in place; on return it holds the best-validation weights (the EMA
    weights when `cfg.ema_decay` > 0: those are the ones validated and kept).

    With `resume` and `cfg.checkpoint_every` > 0, the whole training state (weights, optimizer,
    EMA, best weights so far, random generators) is written there atomically every
    `checkpoint_every` steps; a run that finds a state of the same run (`key`) there continues
    from it, and the file is removed when training completes.
    """
    world = world_from_env()
    device = init(world, resolve_device(cfg.device))
    model = phase.model.to(device)
    opt = make_optimizer(phase, cfg)
    ema = ModelEMA(model, cfg.ema_decay, cfg.ema_warmup) if cfg.ema_decay else None
    resume = resume_path(resume, world)
    print(f"{phase.name}: {describe(opt)}; device {device}, precision "
          f"{resolve_precision(device, cfg.precision)}, world size {world.size}",
          file=sys.stderr)
    best_val, best_step, best_state = math.inf, -1, None
    result = TrainResult(best_val, best_step, cfg.steps)
    start = 0
    state = load_resume(resume, key)
    # Each process keeps its own state file, and a kill can land between two processes' writes:
    # resume only if every process found the state of the same step, else all start afresh.
    if not same_everywhere(-1 if state is None else state["step"], world, device):
        print(f"{phase.name}: the processes' resume states are of different steps (killed "
              "between their writes); starting afresh", file=sys.stderr)
        state = None
    if state is not None:
        _restore(state, model, opt, ema, phase)
        best_val, best_step, best_state = state["best_val"], state["best_step"], state["best"]
        result.history = state["history"]
        start = state["step"] + 1
        print(f"{phase.name}: resumed from {resume} at step {start}", file=sys.stderr)
    if state is None and world.main:
        # The initial weights are a candidate too: an autoencoder whose linear part is already
        # exact, or an operator that starts as persistence, must never be replaced by worse.
        with ema.applied(model) if ema is not None else contextlib.nullcontext():
            val, _ = _validated(phase.validate(model))
        if math.isfinite(val):
            best_val, best_step, best_state = val, -1, copy.deepcopy(model.state_dict())
        result.history.append({"step": -1, "val": val})
    wait = compute = 0.0
    samples = 0
    last_finite: tuple[int, float] | None = None  # (step, loss): named when training diverges
    bar = tqdm(range(start, cfg.steps), desc=phase.name, file=sys.stderr, disable=None,
               initial=start, total=cfg.steps)
    for step in bar:
        model.train()
        set_lr(opt, lr_at(step, cfg) / cfg.lr)
        opt.zero_grad(set_to_none=True)
        for _ in range(cfg.grad_accum):  # micro-batches: gradients add up before one step
            t0 = time.perf_counter()
            batch = to_device(phase.sample(step), device)  # fetch
            t1 = time.perf_counter()
            with autocast(device, cfg.precision):
                loss, parts = phase.loss(model, batch)  # forward + loss
            (loss / cfg.grad_accum).backward()
            t2 = time.perf_counter()
            wait, compute = wait + (t1 - t0), compute + (t2 - t1)
            samples += phase.batch_size(batch)
        t2 = time.perf_counter()
        sync_gradients(model, world)  # every process takes the same averaged step
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        # After the all-reduce: a NaN on one process reaches every process's norm, so all stop.
        last_finite = _check_finite(phase.name, step, loss, grad_norm, last_finite)
        opt.step()
        if ema is not None:
            ema.update(model, step)
        compute += time.perf_counter() - t2
        if step % log_every == 0 or step == cfg.steps - 1:
            record = {"loss": loss.item(), **parts, "lr": lr_at(step, cfg),
                      "grad_norm": float(grad_norm),
                      "samples_per_s": samples / max(wait + compute, 1e-9),
                      "data_wait_share": wait / max(wait + compute, 1e-9)}
            _log(logger, step, {f"train/{k}": v for k, v in record.items()})
            bar.set_postfix(loss=f"{record['loss']:.4g}")
            wait = compute = 0.0
            samples = 0
        # Rank 0 validates and selects; the other processes only train (identical weights).
        if world.main and ((step + 1) % cfg.eval_every == 0 or step == cfg.steps - 1):
            with ema.applied(model) if ema is not None else contextlib.nullcontext():
                val, per_task = _validated(phase.validate(model))
                if not math.isfinite(val) or not _weights_finite(model):
                    raise Diverged(f"{phase.name}: the validation figure is {val} at step "
                                   f"{step}{_weights_note(model)}; {_last(last_finite)}")
                if val < best_val:
                    best_val, best_step = val, step
                    best_state = copy.deepcopy(model.state_dict())
            _log(logger, step, {"val/score": val, **{f"val/{k}": v for k, v in per_task.items()}})
            result.history.append({"step": step, "val": val})
        if resume is not None and cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0:
            with atomic_file(resume) as tmp:
                torch.save({"fingerprint": key, "step": step, **_snapshot(model, opt, ema, phase),
                            "best_val": best_val, "best_step": best_step, "best": best_state,
                            "history": result.history}, tmp)
    if best_state is None:  # no validation ran: the final weights are the ones saved
        if not _weights_finite(model):
            raise Diverged(f"{phase.name}: the final weights are not finite; "
                           f"{_last(last_finite)}")
    else:
        model.load_state_dict(best_state)
    model.to("cpu")  # checkpoints and evaluation load on CPU
    result.best_val, result.best_step = best_val, best_step
    result.optimizer = opt.state_dict()
    if logger is not None:
        logger.summary(best_val=best_val, best_step=best_step)
    return result


def train_and_save(phase: Phase, cfg: TrainConfig, out: Path, *, model_args: dict[str, Any],
                   config: dict[str, Any], live_dir: str | None,
                   extra: dict[str, Any] | None = None,
                   resume: Path | None = None) -> TrainResult:
    """Train a phase (dvclive curves in `live_dir` if given) and write its checkpoint to `out`;
    `resume`: where to keep (and look for) the resume state (see `train`)."""
    world = world_from_env()
    key = fingerprint(config, model_args, extra)
    resuming = load_resume(resume_path(resume, world), key) is not None
    logger = LiveLogger(live_dir, resume=resuming) if live_dir and world.main else None
    start = time.perf_counter()
    result = train(phase, cfg, logger, resume=resume, key=key)
    seconds = time.perf_counter() - start  # after a resume: the resumed part only
    if world.main:  # one writer: the other processes hold the same weights
        save_checkpoint(out, phase.model, model_args, config=config, step=result.steps,
                        optimizer=result.optimizer,
                        extra={**(extra or {}), "best_val": result.best_val,
                               "best_step": result.best_step, "train_seconds": seconds})
    if resume is not None:  # done: the next run starts afresh
        resume_path(resume, world).unlink(missing_ok=True)
    barrier(world)
    return result


class Diverged(ValueError):
    """Training produced a non-finite loss, gradient, weight or validation figure. Nothing is
    saved: the stage exits 1 with this message and no checkpoint appears under its name."""


def _check_finite(name: str, step: int, loss: torch.Tensor, grad_norm: torch.Tensor,
                  last: tuple[int, float] | None) -> tuple[int, float]:
    """The (step, loss) just seen if loss and gradient norm are finite; else `Diverged`."""
    value, norm = float(loss.detach()), float(grad_norm)
    if not (math.isfinite(value) and math.isfinite(norm)):
        what = f"loss {value}" if not math.isfinite(value) else f"gradient norm {norm}"
        raise Diverged(f"{name}: {what} at step {step}; {_last(last)}")
    return step, value


def _last(last: tuple[int, float] | None) -> str:
    where = ("no step was finite" if last is None
             else f"last finite loss {last[1]:.6g} at step {last[0]}")
    return (f"{where}. Training diverged: lower the phase's lr (or warm it up longer, clip "
            "harder); nothing was saved")


def _weights_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.state_dict().values()
               if p.is_floating_point())


def _weights_note(model: nn.Module) -> str:
    return "" if _weights_finite(model) else " and the weights hold non-finite values"


def _validated(out: float | tuple[float, dict[str, float]]) -> tuple[float, dict[str, float]]:
    return out if isinstance(out, tuple) else (out, {})


def _log(logger: Any, step: int, values: dict[str, float]) -> None:
    if logger is not None:
        logger.log(step, values)


class LiveLogger:
    """dvclive curves of one phase, in `dir` (declared as DVC metrics and plots by the stage).

    `dvcyaml=False, save_dvc_exp=False`: dvclive must not rewrite dvc.yaml or create experiments
    while DVC runs the stage.
    """

    def __init__(self, dir: str, resume: bool = False):
        from dvclive import Live

        # resume=True continues the curves of a killed run instead of starting them over.
        self.live = Live(dir=dir, dvcyaml=False, save_dvc_exp=False, report=None, resume=resume)

    def log(self, step: int, values: dict[str, float]) -> None:
        self.live.step = step
        for key, value in values.items():
            self.live.log_metric(key, value)

    def summary(self, **values: float) -> None:
        for key, value in values.items():
            self.live.summary[key] = value
        self.live.make_summary()
        self.live.end()
