"""The model variants scored beside the operator alone: corrector variants and the FNO and POD
baselines.

Each variant's figures go under its prefix in the task's metrics (`diffusion_nrmse_rollout`,
`fno_nrmse_one_step`, ...): nRMSE of the full rollout and of one step from the true state, the
fRMSE bands of the rollout, and the wall seconds per rollout step (with the network calls per
step for the corrector variants). A variant that is switched off, or does not apply to the task,
gives null figures and a note saying why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ups.config import CorrectorConfig
from ups.data.datasets import LatentTrajectories
from ups.eval.corrected import (
    Scorer,
    corrected_one_step,
    corrected_rollout,
    corrected_steady,
    load_correctors,
)
from ups.eval.fno import fno_one_step, fno_rollout, fno_steady
from ups.eval.metrics import nrmse_per_time, pdebench_metrics
from ups.eval.pod import pod_one_step, pod_rollout, pod_steady
from ups.eval.rollout import Surrogate, decode_trajectories
from ups.training.checkpoint import load_checkpoint
from ups.training.pod_model import read_record

CORRECTOR_VARIANTS = ("diffusion", "consistency", "ttc")
FIGURES = ("nrmse_rollout", "nrmse_one_step", "frmse_low", "frmse_mid", "frmse_high",
           "seconds_per_step")


@dataclass
class Variants:
    """What to score beside the operator (any may be absent)."""

    corrector: CorrectorConfig | None = None
    diffusion: Path | None = None
    consistency: Path | None = None
    fno: Path | None = None
    seed: int = 0
    pod: Path | None = None


@dataclass
class Scored:
    metrics: dict = field(default_factory=dict)
    rollouts: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (B, T, *S, C)
    notes: list[str] = field(default_factory=list)


def layout(u: np.ndarray) -> torch.Tensor:
    """(B, T, *spatial, C) -> PDEBench's (B, *spatial, T, C)."""
    return torch.from_numpy(np.moveaxis(np.asarray(u), 1, -2))


def nrmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(nrmse_per_time(layout(pred), layout(truth)).mean())


def figures(name: str, rollout: np.ndarray, one_step: np.ndarray | None, truth: np.ndarray,
            lengths: tuple[float, ...] | None, seconds: float, steady: bool) -> dict:
    """A variant's figures under its prefix; rollout and truth (B, T, *S, C), one_step
    (B, T-1, ...) predictions of steps 1.. (None for a steady task: one prediction)."""
    full = pdebench_metrics(layout(rollout), layout(truth), initial_step=0 if steady else 1,
                            domain_lengths=lengths)
    one = full["nrmse"] if one_step is None else nrmse(one_step, truth[:, 1:])
    values = {"nrmse_rollout": full["nrmse"], "nrmse_one_step": one,
              **{k: full[k] for k in ("frmse_low", "frmse_mid", "frmse_high")},
              "seconds_per_step": seconds}
    return {f"{name}_{k}": v for k, v in values.items()}


def null_figures(name: str) -> dict:
    return {f"{name}_{k}": None for k in FIGURES}


def timed_figures(name: str, truth: np.ndarray, lengths: tuple[float, ...] | None,
                  steady: bool, steady_map: Callable[[int], np.ndarray],
                  rollout: Callable[[int], np.ndarray],
                  one_step: Callable[[int], np.ndarray]) -> tuple[np.ndarray, dict]:
    """A baseline's prediction of the first n = len(truth) test trajectories and its figures,
    timed per rollout step (a steady task: per prediction)."""
    n = len(truth)
    start = time.perf_counter()
    if steady:
        pred = steady_map(n)
        return pred, figures(name, pred, None, truth, lengths, time.perf_counter() - start,
                             steady=True)
    pred = rollout(n)
    seconds = (time.perf_counter() - start) / max(truth.shape[1] - 1, 1)
    return pred, figures(name, pred, one_step(n)[:, 1:], truth, lengths, seconds, steady=False)


def score_fno(path: Path | None, converted: Path, truth: np.ndarray, steady: bool,
              lengths: tuple[float, ...] | None) -> Scored:
    """The FNO baseline on the same test trajectories (null where none was trained)."""
    out = Scored(metrics=null_figures("fno"))
    reason = "no FNO checkpoint given" if path is None else \
        load_checkpoint(path)["extra"].get("disabled")
    if reason:
        out.notes.append(f"fno: {reason}")
        return out
    pred, out.metrics = timed_figures(
        "fno", truth, lengths, steady, lambda n: fno_steady(path, converted, n),
        lambda n: fno_rollout(path, converted, n), lambda n: fno_one_step(path, converted, n))
    out.metrics["fno_train_seconds"] = load_checkpoint(path)["extra"].get("train_seconds")
    out.rollouts["fno"] = pred
    return out


def score_pod(path: Path | None, converted: Path, truth: np.ndarray, steady: bool,
              lengths: tuple[float, ...] | None) -> Scored:
    """The POD baseline on the same test trajectories (null where none was fitted: switched
    off, or a task whose points move); also its chosen modes and ridge, and its fit time."""
    out = Scored(metrics={**null_figures("pod"), "pod_modes": None, "pod_ridge": None,
                          "pod_train_seconds": None})
    record = None if path is None else read_record(path)
    reason = "no POD model given" if record is None else record.get("disabled")
    if reason:
        out.notes.append(f"pod: {reason}")
        return out
    pred, scored = timed_figures(
        "pod", truth, lengths, steady, lambda n: pod_steady(path, converted, n),
        lambda n: pod_rollout(path, converted, n), lambda n: pod_one_step(path, converted, n))
    out.metrics.update(scored)
    out.metrics.update(pod_modes=record["modes"], pod_ridge=record["ridge"],
                       pod_train_seconds=record["fit_seconds"])
    out.rollouts["pod"] = pred
    return out


def score_correctors(model: Surrogate, op_ckpt: Path, cache: LatentTrajectories,
                     truth: np.ndarray, spatial: tuple[int, ...], grid: bool,
                     lengths: tuple[float, ...] | None, steady: bool, v: Variants) -> Scored:
    """Operator + diffusion corrector, + consistency model, and + test-time conditioning."""
    out = Scored(metrics={k: v_ for name in CORRECTOR_VARIANTS
                          for k, v_ in null_figures(name).items()})
    if v.corrector is None or v.diffusion is None or v.consistency is None:
        out.notes.append("corrector variants: no corrector checkpoints given")
        return out
    correctors, reason = load_correctors(v.diffusion, v.consistency, op_ckpt, v.corrector)
    if reason:
        out.notes.append(f"corrector variants: {reason}")
        return out
    n = len(truth)
    cond = cache.cond(np.arange(n))
    z_true = (torch.from_numpy(np.asarray(cache.raw[:n], np.float32)) - model.z_mean) \
        / model.z_std  # (B, T, L, D) operator units
    scorer = Scorer(model, v.corrector, spatial if grid else None)
    plans = [("diffusion", correctors["diffusion"], None),
             ("consistency", correctors["consistency"], None)]
    if v.corrector.ttc.enabled:
        plans.append(("ttc", correctors["consistency"], scorer))
    else:
        out.notes.append("ttc: corrector.ttc.enabled is false")
    for name, corrector, pick in plans:
        gen = torch.Generator().manual_seed(v.seed)
        if steady:
            start = time.perf_counter()
            z = corrected_steady(model, _inputs(model, cache, n), cond,
                                 corrector, gen, pick)
            seconds = time.perf_counter() - start
            pred = decode_trajectories(model, z, spatial)
            out.metrics.update(figures(name, pred, None, truth, lengths, seconds, steady=True))
        else:
            z, seconds = corrected_rollout(model, z_true[:, 0], truth.shape[1] - 1, cond,
                                           corrector, gen, pick)
            pred = decode_trajectories(model, z, spatial)
            one = decode_trajectories(
                model, corrected_one_step(model, z_true, cond, corrector, gen, pick), spatial,
                first_step=1)
            out.metrics.update(figures(name, pred, one, truth, lengths, seconds, steady=False))
        calls = corrector.calls * (v.corrector.ttc.candidates if pick is not None else 1)
        out.metrics[f"{name}_calls_per_step"] = calls
        out.rollouts[name] = pred
    return out


def _inputs(model: Surrogate, cache: LatentTrajectories, n: int) -> torch.Tensor:
    """A steady task's input-field latents (B, L, D) in operator units."""
    raw = torch.from_numpy(np.asarray(cache.raw_inputs[:n, 0], np.float32))
    return (raw - model.z_mean) / model.z_std
