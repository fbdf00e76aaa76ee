"""The corrector phases: the diffusion teacher over the operator's residual, and its consistency
distillation. Both run through the shared training loop on the latent caches.

The frozen operator (its checkpoint fixes the latent normalisation) turns every sampled pair
(z(t), z(t+dt)) into a residual r = z(t+dt) - operator(z(t)) and a conditioning (the operator's
prediction, task, PDE parameters); steady tasks use the steady head's prediction. The residual's
scale (sigma_data) is measured once on train batches and fixes the noise levels
(`corrector.sigma_min/max` are multiples of it).

Model selection: the teacher by its denoising loss on fixed validation residuals, noise levels
and noise (deterministic, so comparable between validations); the student by how well its
samples match the teacher's mean and spread on fixed validation conditions.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ups.config import Config, CorrectorConfig, to_dict
from ups.data.datasets import LatentTrajectories, TaskMixer
from ups.io import file_md5
from ups.models.consistency import ConsistencyModel, DistillationObjective, consistency_sample
from ups.models.corrector import Denoiser, NoiseSchedule, ResidualCond, diffusion_loss, sample
from ups.models.operator import LatentOperator
from ups.tasks import PARAM_VOCAB, TASK_NAMES
from ups.training.checkpoint import (
    LATENT_SHAPE,
    build_from_checkpoint,
    check_same,
    load_checkpoint,
    save_disabled,
)
from ups.training.distributed import rank_seed
from ups.training.loop import Phase, TrainResult, train_and_save
from ups.training.operator import latent_sampler

VAL_PAIRS = 128  # validation pairs per task (fixed: the first pairs of the val split)


@dataclasses.dataclass
class FrozenOperator:
    """The trained operator and its latent normalisation; makes residuals from latent pairs."""

    model: LatentOperator
    z_mean: np.ndarray
    z_std: np.ndarray
    md5: str

    @classmethod
    def load(cls, path: Path) -> FrozenOperator:
        model, ckpt = build_from_checkpoint(path, LatentOperator)
        return cls(model.requires_grad_(False), np.asarray(ckpt["extra"]["z_mean"], np.float32),
                   np.asarray(ckpt["extra"]["z_std"], np.float32), file_md5(Path(path)))

    @torch.no_grad()
    def residual(self, batch: dict) -> tuple[torch.Tensor, ResidualCond]:
        """A sampler batch -> residuals (B, L, D) and their conditioning."""
        self.model.to(next(iter(batch["cond"].values())).device)
        cond = batch["cond"]
        if batch["steady"]:
            pred, true = self.model.steady(batch["inp"], **cond), batch["target"]
        else:
            pred, true = self.model(batch["seq"][:, 0], **cond), batch["seq"][:, 1]
        return true - pred, ResidualCond(pred, cond["task_ids"], cond["params"],
                                         cond["param_mask"])


def denoiser_args(cfg: Config, sigma_data: float) -> dict:
    c = cfg.corrector
    return dict(n_tasks=len(TASK_NAMES), n_params=len(PARAM_VOCAB), latent_dim=cfg.latent.dim,
                width=c.width, heads=c.heads, depth=c.depth, sigma_data=sigma_data)


def schedule_for(c: CorrectorConfig, sigma_data: float) -> NoiseSchedule:
    return NoiseSchedule(levels=c.levels, sigma_min=c.sigma_min * sigma_data,
                         sigma_max=c.sigma_max * sigma_data, sigma_data=sigma_data)


def _caches(cfg: Config, latent_root: Path, op: FrozenOperator,
            split: str) -> list[LatentTrajectories]:
    return [LatentTrajectories(Path(latent_root) / t, split, op.z_mean, op.z_std)
            for t in cfg.tasks]


def _val_batches(val_sets: list[LatentTrajectories]) -> list[dict]:
    """Fixed validation batches, one per task: the first pairs (t, t+1) of the val split."""
    out = []
    for data in val_sets:
        if not len(data.z):
            continue
        n, n_t = data.z.shape[:2]
        if data.steady:
            idx = np.arange(min(n, VAL_PAIRS))
            out.append({"task": data.task, "steady": True, "cond": data.cond(idx),
                        "inp": torch.from_numpy(data.z_inputs[idx, 0]),
                        "target": torch.from_numpy(data.z[idx, 0])})
            continue
        pairs = [(i, t) for i in range(n) for t in range(n_t - 1)][:VAL_PAIRS]
        idx, t0 = (np.array(v) for v in zip(*pairs))
        seq = data.z[idx[:, None], t0[:, None] + np.arange(2)]  # (B, 2, L, D)
        out.append({"task": data.task, "steady": False, "seq": torch.from_numpy(seq),
                    "cond": data.cond(idx)})
    return out


def _sampler(cfg: Config, train_sets: list[LatentTrajectories], batch_size: int):
    mixer = TaskMixer(list(cfg.tasks), cfg.seed + 3)
    return latent_sampler(train_sets, mixer, batch_size, ((0, 1),), rank_seed(cfg.seed + 2))


def measure_sigma_data(op: FrozenOperator, sample_batch, n_batches: int = 16) -> float:
    """The residual's RMS over a few train batches: the data scale of the noise schedule."""
    sq = [op.residual(sample_batch(0))[0].pow(2).mean().item() for _ in range(n_batches)]
    return float(max(np.sqrt(np.mean(sq)), 1e-6))


def _extra(op: FrozenOperator, schedule: NoiseSchedule) -> dict:
    return {"operator_md5": op.md5, "schedule": dataclasses.asdict(schedule)}


def train_diffusion(cfg: Config, latent_root: Path, operator: Path, out: Path,
                    live_dir: str | None) -> TrainResult | None:
    """Train the residual denoiser (the teacher); with the corrector disabled, write a marker."""
    c = cfg.corrector
    if not c.enabled:
        save_disabled(out, "corrector.enabled is false", live_dir)
        return None
    torch.manual_seed(cfg.seed)
    op = FrozenOperator.load(operator)
    train_sets = _caches(cfg, latent_root, op, "train")
    sample_batch = _sampler(cfg, train_sets, c.diffusion.batch_size)
    sigma_data = measure_sigma_data(op, sample_batch)
    schedule = schedule_for(c, sigma_data)
    args = denoiser_args(cfg, sigma_data)
    model = Denoiser(**args)
    noise = torch.Generator().manual_seed(cfg.seed + 4)
    val = [op.residual(b) for b in _val_batches(_caches(cfg, latent_root, op, "val"))]

    def loss(m: Denoiser, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        residual, cond = op.residual(batch)
        value = diffusion_loss(m, schedule, residual, cond, noise)
        return value, {f"denoise/{batch['task']}": value.item()}

    @torch.no_grad()
    def validate(m: Denoiser) -> float:
        fixed = torch.Generator().manual_seed(cfg.seed + 5)  # the same levels and noise each time
        device = next(m.parameters()).device
        return float(np.mean([diffusion_loss(m, schedule, r.to(device), cond.to(device),
                                             fixed).item() for r, cond in val]))

    phase = Phase(name="diffusion", model=model, sample=sample_batch, loss=loss,
                  validate=validate, batch_size=_batch_size, generators=sample_batch.generators)
    return train_and_save(phase, c.diffusion, out, model_args=args, config=to_dict(cfg),
                          live_dir=live_dir, extra=_extra(op, schedule))


def _batch_size(batch: dict) -> int:
    return len(batch["target" if batch["steady"] else "seq"])


def load_teacher(path: Path) -> tuple[Denoiser, NoiseSchedule, dict]:
    model, ckpt = build_from_checkpoint(path, Denoiser)
    return model, NoiseSchedule(**ckpt["extra"]["schedule"]), ckpt


def distill(cfg: Config, latent_root: Path, operator: Path, teacher_path: Path, out: Path,
            live_dir: str | None) -> TrainResult | None:
    """Consistency-distil the teacher into a 1-2 step student; a marker if disabled."""
    c = cfg.corrector
    if not c.enabled or disabled_reason(teacher_path):
        save_disabled(out, disabled_reason(teacher_path) or "corrector.enabled is false",
                      live_dir)
        return None
    torch.manual_seed(cfg.seed)
    op = FrozenOperator.load(operator)
    teacher, schedule, ckpt = load_teacher(teacher_path)
    check_same(LATENT_SHAPE, (operator, load_checkpoint(operator)["model_args"]),
               (teacher_path, ckpt["model_args"]))
    if ckpt["extra"]["operator_md5"] != op.md5:
        raise ValueError(f"{teacher_path} was trained on the residuals of another operator than "
                         f"{operator}; re-run train_diffusion (dvc repro does this)")
    train_sets = _caches(cfg, latent_root, op, "train")
    sample_batch = _sampler(cfg, train_sets, c.distill.batch_size)
    noise = torch.Generator().manual_seed(cfg.seed + 6)
    objective, student = DistillationObjective.from_teacher(
        teacher, schedule, noise, ema_decay=c.distill_ema, substeps=c.distill_substeps)
    # Validation conditions and the teacher's samples on them, drawn once (4 per condition).
    val = [op.residual(b) for b in _val_batches(_caches(cfg, latent_root, op, "val"))]
    reps = 4
    draw = torch.Generator().manual_seed(cfg.seed + 7)
    targets = [_moments(sample(teacher, schedule, cond.repeat(reps), draw), reps)
               for _, cond in val]

    def loss(m: ConsistencyModel, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        residual, cond = op.residual(batch)
        return objective(m, residual, cond, batch["step"])

    @torch.no_grad()
    def validate(m: ConsistencyModel) -> float:
        """Mismatch of the student's per-condition sample mean and spread with the teacher's,
        relative to the teacher's spread."""
        fixed = torch.Generator().manual_seed(cfg.seed + 8)
        device = next(m.parameters()).device
        scores = []
        for (_, cond), (mean_t, std_t) in zip(val, targets):
            drawn = consistency_sample(m, schedule, cond.repeat(reps).to(device), fixed,
                                       steps=c.consistency_steps).cpu()
            mean_s, std_s = _moments(drawn, reps)
            scale = std_t.pow(2).mean()
            scores.append(((mean_s - mean_t).pow(2).mean() / scale
                           + (std_s - std_t).pow(2).mean() / scale).item())
        return float(np.mean(scores))

    phase = Phase(name="distill", model=student, sample=sample_batch, loss=loss,
                  validate=validate, batch_size=_batch_size, generators=sample_batch.generators)
    return train_and_save(phase, c.distill, out, model_args=student.args(), config=to_dict(cfg),
                          live_dir=live_dir, extra=_extra(op, schedule))


def _moments(samples: torch.Tensor, reps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B * reps, L, D) samples, each condition's `reps` in a row (ResidualCond.repeat) ->
    per-condition mean and std (B, L, D)."""
    s = samples.reshape(-1, reps, *samples.shape[1:])
    return s.mean(1), s.std(1)


def disabled_reason(path: Path) -> str | None:
    """Why the corrector checkpoint at `path` holds no model (None: it holds one)."""
    return load_checkpoint(path)["extra"].get("disabled")
