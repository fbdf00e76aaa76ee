"""The autoencoder phase: reconstruction of fields at sampled query points, all tasks at once.

Beside the reconstruction at `num_queries` random points per sample, `autoencoder.losses` adds
(each off at weight 0): inverse encoding (decode(encode(u)) ~ u at every point of the sample),
inverse decoding (encode(decode(z)) ~ z, so decoded fields encode back to the same latent), both
ramped up over `inverse_warmup` steps; latent norm and diversity regularisers; and the
decoded-field priors of `ups.training.priors` (spectral, boundary, conservation, positivity,
divergence) where the task has them.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ups.config import Config, LossConfig, to_dict
from ups.data.datasets import FieldView, TaskFrames, TaskMixer
from ups.eval.metrics import nrmse_per_time
from ups.models.autoencoder import AutoEncoder, autoencoder_args
from ups.training.distributed import rank_seed
from ups.training.loop import Phase, TrainResult, train_and_save
from ups.training.losses import diversity_loss, latent_norm_loss, weighted_sum
from ups.training.priors import FieldFrame, field_terms, warmup_factor

FIELD_PRIORS = ("spectral", "boundary", "conservation", "positivity", "divergence")
# Kept on AdamW by the Muon optimizer: the input and output projections (coordinate features,
# latent in/out). Embeddings and readout tables are not nn.Linear, so they stay there anyway.
ADAMW_NAMES = ("encoder.pos", "encoder.offset", "encoder.inp", "encoder.out", "decoder.pos",
               "decoder.kernel", "decoder.latent_in")


def _sampler(sets: list[TaskFrames], mixer: TaskMixer, batch_size: int, num_queries: int,
             seed: int):
    rng = np.random.default_rng(seed)

    def sample(step: int) -> dict:
        data = sets[mixer.next(step)]
        view, pos, values = data.sample(rng, batch_size)  # (B, P, 3), (B, P, C)
        n_points = values.shape[1]
        q = min(num_queries, n_points)
        # A fresh random subset of query points per sample: the decoder learns a continuous field.
        q_idx = np.argsort(rng.random((batch_size, n_points)), axis=1)[:, :q]  # (B, Q)
        return {"data": data, "view": view, "step": step,
                "pos": torch.from_numpy(pos),
                "values": torch.from_numpy(values),
                "query_pos": torch.from_numpy(np.take_along_axis(pos, q_idx[..., None], 1)),
                "target": torch.from_numpy(np.take_along_axis(values, q_idx[..., None], 1))}

    sample.generators = (rng, mixer.rng)  # their states travel with resume checkpoints
    return sample


def field_frame(data: TaskFrames, view: FieldView) -> FieldFrame:
    """The priors' view of a task's field set: a grid shape only for grid tasks."""
    grid = data.store.spatial_shape if data.store.points is None else None
    return FieldFrame(data.spec, view.channels, torch.from_numpy(view.norm.mean),
                      torch.from_numpy(view.norm.std), grid)


def make_loss(w: LossConfig):
    """The phase's loss with the extra terms of `w` (see the module docstring)."""
    def loss(model: AutoEncoder, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        data: TaskFrames = batch["data"]
        view: FieldView = batch["view"]
        task, channels = data.task, view.channels
        pos, values = batch["pos"], batch["values"]
        z = model.encode(pos, values, channels, task)  # (B, L, D)
        pred = model.decode(z, batch["query_pos"], channels, task)  # (B, Q, C)
        # Every point of the sample, decoded once and only if a term asks for it.
        full = functools.cache(lambda: model.decode(z, pos, channels, task))  # (B, P, C)
        ramp = warmup_factor(batch["step"], w.inverse_warmup)
        terms = {
            f"mse/{task}": (1.0, lambda: F.mse_loss(pred, batch["target"])),
            "inverse_encoding": (w.inverse_encoding * ramp,
                                 lambda: F.mse_loss(full(), values)),
            "inverse_decoding": (w.inverse_decoding * ramp,
                                 lambda: F.mse_loss(model.encode(pos, full(), channels, task),
                                                    z.detach())),
            "latent_norm": (w.latent_norm, lambda: latent_norm_loss(z)),
            "diversity": (w.diversity, lambda: diversity_loss(z)),
        }
        if view.role == "fields" and any(getattr(w, k) for k in FIELD_PRIORS):
            terms.update(field_terms(w, full(), values, field_frame(data, view)))
        return weighted_sum(terms)

    return loss


def frames_nrmse(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PDEBench's nRMSE over frames (M, P, C): per frame and channel ||e|| / ||u|| over the
    points, averaged (the evaluation's metric, here for model selection)."""
    return float(nrmse_per_time(pred[:, :, None].double().cpu(),
                                target[:, :, None].double().cpu())[0])


@torch.no_grad()
def reconstruction_error(model: AutoEncoder, data: TaskFrames,
                         max_frames: int = 64) -> float:
    """nRMSE in physical units of full reconstructions of evenly spread frames, averaged over
    the task's field sets (its fields, and its inputs if it has any)."""
    model.eval()
    errors = []
    for view in data.views:
        idx = np.linspace(0, data.n_frames(view) - 1, min(max_frames, data.n_frames(view)))
        pos, values = (torch.from_numpy(a).to(model.device)
                       for a in data.frames(view, idx.astype(int)))
        z = model.encode(pos, values, view.channels, data.task)
        pred = model.decode(z, pos, view.channels, data.task)  # (M, P, C) normalised
        errors.append(frames_nrmse(view.norm.decode(pred.cpu()), view.norm.decode(values.cpu())))
    return float(np.mean(errors))


def train_autoencoder(cfg: Config, data_root: Path, out: Path, live_dir: str | None,
                      resume: Path | None = None) -> TrainResult:
    """Train the shared encoder/decoder on every task in `cfg.tasks`; write the checkpoint.

    `resume`: where the resume state is kept every `autoencoder.checkpoint_every` steps."""
    torch.manual_seed(cfg.seed)
    train_sets = [TaskFrames(Path(data_root) / t, "train") for t in cfg.tasks]
    val_sets = [TaskFrames(Path(data_root) / t, "val") for t in cfg.tasks]
    tc = cfg.autoencoder
    args = autoencoder_args(cfg)
    model = AutoEncoder(**args)
    mixer = TaskMixer(list(cfg.tasks), cfg.seed + 1, tc.task_weights,
                      sizes=[sum(d.n_frames(v) for v in d.views) for d in train_sets],
                      schedule=tc.curriculum())

    def validate(m: AutoEncoder) -> tuple[float, dict[str, float]]:
        errors = [reconstruction_error(m, v) for v in val_sets]
        mixer.update(errors)
        return float(np.mean(errors)), {f"nrmse/{t}": e for t, e in zip(cfg.tasks, errors)}

    sample = _sampler(train_sets, mixer, tc.batch_size, tc.num_queries, rank_seed(cfg.seed))
    phase = Phase(
        name="autoencoder",
        model=model,
        sample=sample,
        loss=make_loss(tc.losses),
        validate=validate,
        batch_size=lambda batch: len(batch["values"]),
        adamw_names=ADAMW_NAMES,
        generators=sample.generators,
    )
    return train_and_save(phase, tc, out, model_args=args, config=to_dict(cfg), live_dir=live_dir,
                          resume=resume)
