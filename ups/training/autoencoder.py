"""The autoencoder phase: reconstruction of fields at sampled query points, all tasks at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ups.config import Config, to_dict
from ups.data.datasets import TaskFrames, TaskMixer
from ups.models.autoencoder import AutoEncoder, autoencoder_args
from ups.training.loop import Phase, TrainResult, train_and_save


def _sampler(sets: list[TaskFrames], mixer: TaskMixer, batch_size: int, num_queries: int,
             seed: int):
    rng = np.random.default_rng(seed)

    def sample(step: int) -> dict:
        data = sets[mixer.next()]
        view, pos, values = data.sample(rng, batch_size)  # (B, P, 3), (B, P, C)
        n_points = values.shape[1]
        q = min(num_queries, n_points)
        # A fresh random subset of query points per sample: the decoder learns a continuous field.
        q_idx = np.argsort(rng.random((batch_size, n_points)), axis=1)[:, :q]  # (B, Q)
        return {"data": data, "channels": view.channels,
                "pos": torch.from_numpy(pos),
                "values": torch.from_numpy(values),
                "query_pos": torch.from_numpy(np.take_along_axis(pos, q_idx[..., None], 1)),
                "target": torch.from_numpy(np.take_along_axis(values, q_idx[..., None], 1))}

    return sample


def _loss(model: AutoEncoder, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
    data: TaskFrames = batch["data"]
    channels = batch["channels"]
    z = model.encode(batch["pos"], batch["values"], channels, data.task)
    pred = model.decode(z, batch["query_pos"], channels, data.task)  # (B, Q, C)
    loss = F.mse_loss(pred, batch["target"])
    return loss, {f"mse/{data.task}": loss.item()}


@torch.no_grad()
def reconstruction_error(model: AutoEncoder, data: TaskFrames, max_frames: int = 64) -> float:
    """Relative L2 error of full reconstructions of evenly spread frames (normalised units),
    averaged over the task's field sets (its fields, and its inputs if it has any)."""
    model.eval()
    errors = []
    for view in data.views:
        idx = np.linspace(0, data.n_frames(view) - 1, min(max_frames, data.n_frames(view)))
        pos, values = (torch.from_numpy(a).to(model.device)
                       for a in data.frames(view, idx.astype(int)))
        z = model.encode(pos, values, view.channels, data.task)
        pred = model.decode(z, pos, view.channels, data.task)
        errors.append(float(((pred - values).norm() / values.norm().clamp_min(1e-12)).item()))
    return float(np.mean(errors))


def train_autoencoder(cfg: Config, data_root: Path, out: Path, live_dir: str | None) -> TrainResult:
    """Train the shared encoder/decoder on every task in `cfg.tasks`; write the checkpoint."""
    torch.manual_seed(cfg.seed)
    train_sets = [TaskFrames(Path(data_root) / t, "train") for t in cfg.tasks]
    val_sets = [TaskFrames(Path(data_root) / t, "val") for t in cfg.tasks]
    tc = cfg.autoencoder
    args = autoencoder_args(cfg)
    model = AutoEncoder(**args)
    mixer = TaskMixer(list(cfg.tasks), cfg.seed + 1, tc.task_weights)

    def validate(m: AutoEncoder) -> float:
        errors = [reconstruction_error(m, v) for v in val_sets]
        mixer.update(errors)
        return float(np.mean(errors))

    phase = Phase(
        name="autoencoder",
        model=model,
        sample=_sampler(train_sets, mixer, tc.batch_size, tc.num_queries, cfg.seed),
        loss=_loss,
        validate=validate,
        batch_size=lambda batch: len(batch["values"]),
    )
    return train_and_save(phase, tc, out, model_args=args, config=to_dict(cfg), live_dir=live_dir)
