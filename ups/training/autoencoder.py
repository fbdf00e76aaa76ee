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
        values = data.frames(rng.integers(len(data), size=batch_size))  # (B, P, C)
        n_points = values.shape[1]
        q = min(num_queries, n_points)
        # A fresh random subset of query points per sample: the decoder learns a continuous field.
        q_idx = np.argsort(rng.random((batch_size, n_points)), axis=1)[:, :q]  # (B, Q)
        pos = np.broadcast_to(data.pos, (batch_size, *data.pos.shape))  # (B, P, 3)
        return {"data": data,
                "pos": torch.from_numpy(np.ascontiguousarray(pos)),
                "values": torch.from_numpy(values),
                "query_pos": torch.from_numpy(np.take_along_axis(pos, q_idx[..., None], 1)),
                "target": torch.from_numpy(np.take_along_axis(values, q_idx[..., None], 1))}

    return sample


def _loss(model: AutoEncoder, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
    data: TaskFrames = batch["data"]
    channels = data.spec.channels
    z = model.encode(batch["pos"], batch["values"], channels, data.task)
    pred = model.decode(z, batch["query_pos"], channels, data.task)  # (B, Q, C)
    loss = F.mse_loss(pred, batch["target"])
    return loss, {f"mse/{data.task}": loss.item()}


@torch.no_grad()
def reconstruction_error(model: AutoEncoder, data: TaskFrames, max_frames: int = 64) -> float:
    """Relative L2 error of full-grid reconstructions of evenly spread frames (normalised units)."""
    model.eval()
    idx = np.linspace(0, len(data) - 1, min(max_frames, len(data))).astype(int)
    values = torch.from_numpy(data.frames(idx))  # (B, P, C)
    pos = torch.from_numpy(data.pos).expand(len(idx), -1, -1)
    channels = data.spec.channels
    pred = model.decode(model.encode(pos, values, channels, data.task), pos, channels, data.task)
    return float(((pred - values).norm() / values.norm().clamp_min(1e-12)).item())


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
