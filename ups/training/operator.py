"""The operator phase: one-step and unrolled (rollout) losses in the normalised latent space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ups.config import Config, to_dict
from ups.data.datasets import LatentTrajectories, TaskMixer, latent_stats
from ups.models.operator import LatentOperator
from ups.tasks import PARAM_VOCAB, TASK_NAMES
from ups.training.loop import Phase, TrainResult, to_device, train_and_save


def operator_args(cfg: Config) -> dict:
    m = cfg.model
    return dict(n_tasks=len(TASK_NAMES), n_params=len(PARAM_VOCAB), tokens=cfg.latent.tokens,
                latent_dim=cfg.latent.dim, width=m.operator_width, heads=m.heads,
                depth=m.operator_depth)


def _sampler(caches: list[LatentTrajectories], mixer: TaskMixer, batch_size: int, horizon: int,
             seed: int):
    rng = np.random.default_rng(seed)

    def sample(step: int) -> dict:
        data = caches[mixer.next()]
        n, n_t = data.z.shape[:2]
        idx = rng.integers(n, size=batch_size)
        if data.steady:  # input latent -> solution latent, (B, L, D) each
            return {"task": data.task, "steady": True, "cond": data.cond(idx),
                    "inp": torch.from_numpy(data.z_inputs[idx, 0]),
                    "target": torch.from_numpy(data.z[idx, 0])}
        r = min(horizon, n_t - 1)
        t0 = rng.integers(n_t - r, size=batch_size)
        seq = data.z[idx[:, None], t0[:, None] + np.arange(r + 1)]  # (B, r+1, L, D)
        return {"task": data.task, "steady": False, "seq": torch.from_numpy(seq),
                "cond": data.cond(idx)}

    return sample


def _loss(model: LatentOperator, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
    if batch["steady"]:
        loss = F.mse_loss(model.steady(batch["inp"], **batch["cond"]), batch["target"])
        return loss, {f"steady_mse/{batch['task']}": loss.item()}
    seq = batch["seq"]
    preds = model.rollout(seq[:, 0], seq.shape[1] - 1, **batch["cond"])  # (B, r, L, D)
    loss = F.mse_loss(preds, seq[:, 1:])
    one_step = F.mse_loss(preds[:, 0], seq[:, 1]).item()
    return loss, {f"rollout_mse/{batch['task']}": loss.item(), "one_step_mse": one_step}


@torch.no_grad()
def rollout_error(model: LatentOperator, data: LatentTrajectories, max_traj: int = 32) -> float:
    """Mean squared latent error over full rollouts from the first state (normalised units);
    for a steady task, of the steady map."""
    model.eval()
    device = model.out.weight.device
    idx = np.arange(min(max_traj, data.z.shape[0]))
    z = torch.from_numpy(data.z[idx]).to(device)  # (B, T, L, D)
    cond = to_device(data.cond(idx), device)
    if data.steady:
        pred = model.steady(torch.from_numpy(data.z_inputs[idx, 0]).to(device), **cond)
        return float(F.mse_loss(pred, z[:, 0]).item())
    preds = model.rollout(z[:, 0], z.shape[1] - 1, **cond)
    return float(F.mse_loss(preds, z[:, 1:]).item())


def train_operator(cfg: Config, latent_root: Path, out: Path, live_dir: str | None) -> TrainResult:
    """Train the latent operator on the caches of every task; write the checkpoint."""
    torch.manual_seed(cfg.seed)
    roots = [Path(latent_root) / t for t in cfg.tasks]
    z_mean, z_std = latent_stats([LatentTrajectories(r, "train") for r in roots])
    train_sets = [LatentTrajectories(r, "train", z_mean, z_std) for r in roots]
    val_sets = [LatentTrajectories(r, "val", z_mean, z_std) for r in roots]
    _check_caches(train_sets + val_sets)
    tc = cfg.operator
    args = operator_args(cfg)
    model = LatentOperator(**args)
    mixer = TaskMixer(list(cfg.tasks), cfg.seed + 1, tc.task_weights)

    def validate(m: LatentOperator) -> float:
        errors = [rollout_error(m, v) if len(v.z) else 0.0 for v in val_sets]
        mixer.update(errors)
        return float(np.mean([e for e, v in zip(errors, val_sets) if len(v.z)]))

    phase = Phase(
        name="operator",
        model=model,
        sample=_sampler(train_sets, mixer, tc.batch_size, tc.rollout_steps, cfg.seed),
        loss=_loss,
        validate=validate,
        batch_size=lambda batch: len(batch["target" if batch["steady"] else "seq"]),
    )
    # The operator works in normalised latent units: evaluation needs the normalisation, and the
    # autoencoder version guards against decoding with a different decoder.
    extra = {"z_mean": z_mean.tolist(), "z_std": z_std.tolist(),
             "autoencoder_md5": train_sets[0].meta["autoencoder_md5"]}
    return train_and_save(phase, tc, out, model_args=args, config=to_dict(cfg), live_dir=live_dir,
                          extra=extra)


def _check_caches(caches: list[LatentTrajectories]) -> None:
    """All caches must come from one autoencoder, or the latent spaces do not match."""
    versions = {c.meta["autoencoder_md5"] for c in caches}
    if len(versions) > 1:
        tasks = sorted({c.task for c in caches})
        raise ValueError(f"latent caches of {tasks} come from different autoencoders "
                         f"({sorted(versions)}); re-run encode for every task")
