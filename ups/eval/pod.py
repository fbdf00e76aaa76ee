"""Predictions of a fitted POD baseline on a task's test split, in physical units.

Every function returns (n, T, *S, C) for the first `n` test trajectories, the layout of the
converted store's `fields`, so they score exactly like UPS's predictions (ups.eval.evaluate).
`converted` is any folder holding the task's test.h5 (a latent cache folder carries one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ups.data.store import split_path
from ups.training.pod import open_split
from ups.training.pod_model import load_pod


def _predict(path: Path, converted: Path, n: int, mode: str) -> np.ndarray:
    """The model's `mode` predictions; refuses a mismatched task, kind or n, naming the file."""
    model = load_pod(path)
    steady = mode == "steady"
    if model.steady != steady:
        wanted = "pod_steady" if model.steady else "pod_rollout / pod_one_step"
        raise ValueError(f"{path}: task '{model.record['task']}' is "
                         f"{'steady' if model.steady else 'transient'}; use {wanted}")
    split, store = open_split(converted, "test", model.record["task"])
    try:
        if not 1 <= n <= split.n:
            raise ValueError(f"{split_path(converted, 'test')}: n is {n}; expected 1 <= n <= "
                             f"{split.n} (test trajectories)")
        fitted = (list(model.record["channels"]), list(model.record["spatial_shape"]))
        if (list(store.channels), list(store.spatial_shape)) != fitted:
            raise ValueError(f"{store.path}: channels {list(store.channels)} on "
                             f"{list(store.spatial_shape)} points; the POD {path} was fitted on "
                             f"{fitted[0]} on {fitted[1]}")
        return model.predict(split, mode, n)
    finally:
        store.fields.file.close()


def pod_rollout(path: Path, converted: Path, n: int) -> np.ndarray:
    """Autoregressive rollouts (n, T, *S, C) from the true first state (copied to index 0)."""
    return _predict(path, converted, n, "rollout")


def pod_one_step(path: Path, converted: Path, n: int) -> np.ndarray:
    """One-step predictions (n, T, *S, C) from the true state at every step; index 0 = truth."""
    return _predict(path, converted, n, "one_step")


def pod_steady(path: Path, converted: Path, n: int) -> np.ndarray:
    """A steady task's solutions (n, 1, *S, C) from its input fields (Darcy's coefficient)."""
    return _predict(path, converted, n, "steady")
