"""Predictions of a trained FNO baseline on a task's test split, in physical units.

Every function returns (n, T, *S, C) for the first `n` test trajectories, the layout of the
converted store's `fields`, so they score exactly like UPS's predictions (ups.eval.evaluate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ups.data.store import open_store, split_path
from ups.models.fno import FNO
from ups.training.checkpoint import build_from_checkpoint
from ups.training.fno import FNOData, predict, read_normalisation


def _load(ckpt: Path, converted: Path, n: int, steady: bool) -> tuple[FNO, FNOData]:
    """The model and the first `n` test trajectories; refuses a mismatched task kind or n."""
    model, payload = build_from_checkpoint(ckpt, FNO)
    norm = read_normalisation(payload.get("extra", {}), Path(ckpt))
    if bool(norm["steady"]) != steady:
        wanted = "fno_steady" if norm["steady"] else "fno_rollout / fno_one_step"
        raise ValueError(f"{ckpt}: task '{norm['task']}' is "
                         f"{'steady' if norm['steady'] else 'transient'}; use {wanted}")
    test = split_path(converted, "test")
    store = open_store(test)
    available = store.n
    store.fields.file.close()
    if not 1 <= n <= available:
        raise ValueError(f"{test}: n is {n}; expected 1 <= n <= {available} (test trajectories)")
    return model, FNOData.load(converted, "test", norm, n)


def fno_rollout(ckpt: Path, converted: Path, n: int) -> np.ndarray:
    """Autoregressive rollouts (n, T, *S, C) from the true first state (copied to index 0)."""
    model, data = _load(ckpt, converted, n, steady=False)
    return predict(model, data, "rollout")


def fno_one_step(ckpt: Path, converted: Path, n: int) -> np.ndarray:
    """One-step predictions (n, T, *S, C) from the true state at every step; index 0 = truth."""
    model, data = _load(ckpt, converted, n, steady=False)
    return predict(model, data, "one_step")


def fno_steady(ckpt: Path, converted: Path, n: int) -> np.ndarray:
    """A steady task's solutions (n, 1, *S, C) predicted from its input fields (Darcy's
    coefficient) and parameters."""
    model, data = _load(ckpt, converted, n, steady=True)
    return predict(model, data, "steady")
