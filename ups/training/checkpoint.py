"""Checkpoints that carry their model arguments: a model is rebuilt from the file alone.

Format: {"model", "optimizer", "step", "config", "model_args", "extra"}; loading uses
`torch.load(..., weights_only=True)` so a checkpoint can never execute code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ups.io import atomic_file


def save_checkpoint(path: str | Path, model: nn.Module, model_args: dict[str, Any], *,
                    config: dict[str, Any], step: int, optimizer: dict | None = None,
                    extra: dict[str, Any] | None = None) -> None:
    """Write a checkpoint atomically (a killed save never leaves a truncated file)."""
    payload = {"model": model.state_dict(), "optimizer": optimizer, "step": step,
               "config": config, "model_args": model_args, "extra": extra or {}}
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found (run the stage that trains it)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a damaged file
        raise ValueError(f"{path}: not a readable UPS checkpoint ({err})") from None
    missing = {"model", "model_args"} - set(ckpt)
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {sorted(missing)}")
    return ckpt


def build_from_checkpoint(path: str | Path, cls: type[nn.Module]) -> tuple[nn.Module, dict]:
    """Rebuild `cls(**model_args)` and load its weights; returns (model in eval mode, ckpt)."""
    ckpt = load_checkpoint(path)
    for name, tensor in ckpt["model"].items():  # a diverged model must not produce outputs
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{path}: weight {name!r} holds NaN or infinite values (a diverged "
                             "training run); retrain it with a lower lr")
    model = cls(**ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def save_disabled(path: str | Path, reason: str, live_dir: str | Path | None = None) -> None:
    """A checkpoint that holds no model, for a stage whose phase is switched off in params:
    DVC gets its output, and readers learn why there is nothing (`extra["disabled"]`). With
    `live_dir`, the phase's curves folder is created empty (DVC expects the stage's declared
    plots output to exist)."""
    with atomic_file(path) as tmp:
        torch.save({"model": {}, "model_args": {}, "optimizer": None, "step": 0, "config": {},
                    "extra": {"disabled": reason}}, tmp)
    if live_dir:
        (Path(live_dir) / "plots" / "metrics").mkdir(parents=True, exist_ok=True)


LATENT_SHAPE = ("latent_dim",)  # what every model of the latent space must agree on


def check_same(settings: tuple[str, ...], first: tuple[Path, dict],
               *others: tuple[Path, dict]) -> None:
    """Checkpoints used together must agree on `settings` of their model arguments; a mismatch
    is refused naming the setting, both values and both files."""
    path_a, args_a = first
    for path_b, args_b in others:
        for key in settings:
            if key in args_a and key in args_b and args_a[key] != args_b[key]:
                raise ValueError(f"{path_b}: {key} is {args_b[key]}, but {path_a} has {key} "
                                 f"{args_a[key]}: the two come from different configurations; "
                                 "re-run the stages after the changed setting (dvc repro)")
