"""The operator phase: one-step and unrolled (rollout) losses in the normalised latent space.

The rollout horizon follows `operator.horizon_schedule` (or `rollout_steps` throughout). Steady
tasks train the operator's steady head (input-field latent -> solution latent); transient tasks
with input fields (NS's forcing) get their input-field latents in the conditioning of every step
(`LatentTrajectories.cond`). With a decoded-field weight in `operator.losses` (spectral,
boundary, conservation, positivity, divergence), the frozen autoencoder's decoder maps predicted
latents to fields at the task's grid points and the priors of `ups.training.priors` act on them;
gradients reach the operator through the frozen decoder. The references are the decoded true
latents, so a training box needs only the latent caches and the autoencoder checkpoint, never the
converted data. Point-set tasks have no grid in their cache and get the latent losses only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ups.config import Config, LossConfig, to_dict
from ups.data.datasets import LatentTrajectories, TaskMixer, grid_positions, latent_stats
from ups.io import file_md5
from ups.models.autoencoder import AutoEncoder
from ups.models.operator import LatentOperator
from ups.tasks import PARAM_VOCAB, TASK_NAMES, get_task
from ups.training.autoencoder import frames_nrmse
from ups.training.checkpoint import build_from_checkpoint
from ups.training.distributed import rank_seed
from ups.training.loop import Phase, TrainResult, resolve_device, to_device, train_and_save
from ups.training.losses import horizon_at, weighted_sum
from ups.training.priors import FieldFrame, field_terms

FIELD_PRIORS = ("spectral", "boundary", "conservation", "positivity", "divergence")
# Input and output projections stay on AdamW under Muon.
ADAMW_NAMES = ("inp", "force", "out", "steady_out", "cond.dt")


def operator_args(cfg: Config) -> dict:
    m = cfg.model
    return dict(n_tasks=len(TASK_NAMES), n_params=len(PARAM_VOCAB), latent_dim=cfg.latent.dim,
                width=m.operator_width, depth=m.operator_depth, kernel=m.operator_kernel,
                dims=sorted({get_task(t).dims for t in cfg.tasks}))


class FieldDecoder:
    """Frozen decoder: normalised latents of a grid task -> its normalised fields at every grid
    point, differentiable with respect to the latents."""

    def __init__(self, autoencoder: AutoEncoder, z_mean: np.ndarray, z_std: np.ndarray,
                 caches: list[LatentTrajectories]):
        self.model = autoencoder.eval().requires_grad_(False)
        self.z_mean, self.z_std = torch.from_numpy(z_mean), torch.from_numpy(z_std)
        self.pos: dict[str, torch.Tensor] = {}
        self.frames: dict[str, FieldFrame] = {}
        for c in caches:
            coords = {a: np.asarray(v) for a, v in c.meta.get("coords", {}).items()}
            if not coords or "field_stats" not in c.meta:
                continue  # a point-set task, or a cache from before coords were recorded
            stats = c.meta["field_stats"]
            self.pos[c.task] = torch.from_numpy(grid_positions(coords))  # (P, 3)
            self.frames[c.task] = FieldFrame(
                get_task(c.task), tuple(c.meta["channels"]),
                torch.tensor(stats["mean"], dtype=torch.float32),
                torch.tensor(stats["std"], dtype=torch.float32),
                tuple(len(v) for v in coords.values()))

    def to(self, device: torch.device) -> FieldDecoder:
        self.model.to(device)
        self.z_mean, self.z_std = self.z_mean.to(device), self.z_std.to(device)
        self.pos = {t: p.to(device) for t, p in self.pos.items()}
        return self

    def __call__(self, task: str, z: torch.Tensor) -> torch.Tensor:
        """z (M, L, D) in operator units -> (M, P, C) normalised fields."""
        pos = self.pos[task].expand(len(z), -1, -1)
        return self.model.decode(z * self.z_std + self.z_mean, pos, self.frames[task].channels,
                                 task)


def latent_sampler(caches: list[LatentTrajectories], mixer: TaskMixer, batch_size: int,
             horizon: tuple[tuple[int, int], ...], seed: int):
    rng = np.random.default_rng(seed)

    def sample(step: int) -> dict:
        data = caches[mixer.next(step)]
        n, n_t = data.z.shape[:2]
        idx = rng.integers(n, size=batch_size)
        if data.steady:  # input latent -> solution latent, (B, L, D) each
            return {"task": data.task, "steady": True, "cond": data.cond(idx), "step": step,
                    "inp": torch.from_numpy(data.z_inputs[idx, 0]),
                    "target": torch.from_numpy(data.z[idx, 0])}
        r = min(horizon_at(step, horizon), n_t - 1)
        t0 = rng.integers(n_t - r, size=batch_size)
        seq = data.z[idx[:, None], t0[:, None] + np.arange(r + 1)]  # (B, r+1, L, D)
        return {"task": data.task, "steady": False, "seq": torch.from_numpy(seq),
                "cond": data.cond(idx), "step": step}

    sample.generators = (rng, mixer.rng)  # their states travel with resume checkpoints
    return sample


def make_loss(w: LossConfig, decoder: FieldDecoder | None):
    """Latent losses, plus the decoded-field priors of `w` where the task is on a grid."""
    use_fields = decoder is not None and any(getattr(w, k) for k in FIELD_PRIORS)

    def decoded_terms(task: str, pred: torch.Tensor, true: torch.Tensor,
                      before: torch.Tensor | None) -> dict:
        if not use_fields or task not in decoder.frames:
            return {}
        with torch.no_grad():  # references: the decoded true latents
            ref = decoder(task, true)
            start = None if before is None else decoder(task, before)
        return field_terms(w, decoder(task, pred), ref, decoder.frames[task], start)

    def loss(model: LatentOperator, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        task = batch["task"]
        if batch["steady"]:
            pred = model.steady(batch["inp"], **batch["cond"])
            terms = {f"steady_mse/{task}": (1.0, lambda: F.mse_loss(pred, batch["target"])),
                     **decoded_terms(task, pred, batch["target"], None)}
            return weighted_sum(terms)
        seq = batch["seq"]
        preds = model.rollout(seq[:, 0], seq.shape[1] - 1, **batch["cond"])  # (B, r, L, D)
        terms = {f"rollout_mse/{task}": (1.0, lambda: F.mse_loss(preds, seq[:, 1:])),
                 **decoded_terms(task, preds.flatten(0, 1), seq[:, 1:].flatten(0, 1),
                                 seq[:, :-1].flatten(0, 1))}
        total, parts = weighted_sum(terms)
        parts["one_step_mse"] = F.mse_loss(preds[:, 0], seq[:, 1]).item()
        return total, parts

    return loss


@torch.no_grad()
def rollout_error(model: LatentOperator, data: LatentTrajectories,
                  decoder: FieldDecoder | None = None, max_traj: int = 32) -> float:
    """Validation error of full rollouts from the first state (a steady task: of the steady
    map): nRMSE of the decoded fields in physical units against the decoded true latents where
    `decoder` serves the task (grid tasks), else the relative error of the latents."""
    model.eval()
    device = model.out.weight.device
    idx = np.arange(min(max_traj, data.z.shape[0]))
    z = torch.from_numpy(data.z[idx]).to(device)  # (B, T, L, D)
    cond = to_device(data.cond(idx), device)
    if data.steady:
        pred = model.steady(torch.from_numpy(data.z_inputs[idx, 0]).to(device), **cond)
        pred, true = pred, z[:, 0]  # (B, L, D)
    else:
        pred = model.rollout(z[:, 0], z.shape[1] - 1, **cond).flatten(0, 1)  # (B (T-1), L, D)
        true = z[:, 1:].flatten(0, 1)
    return decoded_error(pred, true, data.task, decoder)


def decoded_error(pred: torch.Tensor, true: torch.Tensor, task: str,
                  decoder: FieldDecoder | None) -> float:
    """nRMSE of latents (M, L, D) decoded to physical fields where `decoder` serves `task` (grid
    tasks), else the relative error of the latents themselves."""
    if decoder is not None and task in decoder.frames:
        frame = decoder.frames[task]
        pred, true = (frame.physical(decoder(task, x)) for x in (pred, true))  # (M, P, C)
        return frames_nrmse(pred, true)
    return frames_nrmse(pred.flatten(1)[..., None], true.flatten(1)[..., None])


def train_operator(cfg: Config, latent_root: Path, out: Path, live_dir: str | None,
                   autoencoder: Path | None = None, resume: Path | None = None) -> TrainResult:
    """Train the latent operator on the caches of every task; write the checkpoint.

    `autoencoder`: the checkpoint that made the caches, for the decoded-field priors;
    `resume`: where the resume state is kept every `operator.checkpoint_every` steps."""
    torch.manual_seed(cfg.seed)
    roots = [Path(latent_root) / t for t in cfg.tasks]
    z_mean, z_std = latent_stats([LatentTrajectories(r, "train") for r in roots])
    train_sets = [LatentTrajectories(r, "train", z_mean, z_std) for r in roots]
    val_sets = [LatentTrajectories(r, "val", z_mean, z_std) for r in roots]
    _check_caches(train_sets + val_sets)
    tc = cfg.operator
    args = operator_args(cfg)
    model = LatentOperator(**args)
    mixer = TaskMixer(list(cfg.tasks), cfg.seed + 1, tc.task_weights,
                      sizes=[int(np.prod(s.z.shape[:2])) for s in train_sets],
                      schedule=tc.curriculum())
    _check_loss_weights(tc.losses, autoencoder)
    # The frozen decoder serves the decoded-field loss terms and model selection on decoded
    # nRMSE; without it, selection uses the relative latent error.
    decoder = None
    if autoencoder is not None:
        if file_md5(Path(autoencoder)) != train_sets[0].meta["autoencoder_md5"]:
            raise ValueError(f"{autoencoder} did not make the latent caches in {latent_root}; "
                             "pass the checkpoint that encoded them (dvc repro does)")
        ae, _ = build_from_checkpoint(autoencoder, AutoEncoder)
        decoder = FieldDecoder(ae, z_mean, z_std, train_sets).to(resolve_device(tc.device))

    def validate(m: LatentOperator) -> tuple[float, dict[str, float]]:
        errors = [rollout_error(m, v, decoder) if len(v.z) else 0.0 for v in val_sets]
        mixer.update(errors)
        score = float(np.mean([e for e, v in zip(errors, val_sets) if len(v.z)]))
        return score, {f"nrmse/{t}": e for t, e in zip(cfg.tasks, errors)}

    sample = latent_sampler(train_sets, mixer, tc.batch_size, tc.horizon(), rank_seed(cfg.seed))
    phase = Phase(
        name="operator",
        model=model,
        sample=sample,
        loss=make_loss(tc.losses, decoder),
        validate=validate,
        batch_size=lambda batch: len(batch["target" if batch["steady"] else "seq"]),
        adamw_names=ADAMW_NAMES,
        generators=sample.generators,
    )
    # The operator works in normalised latent units: evaluation needs the normalisation, and the
    # autoencoder version guards against decoding with a different decoder.
    extra = {"z_mean": z_mean.tolist(), "z_std": z_std.tolist(),
             "autoencoder_md5": train_sets[0].meta["autoencoder_md5"]}
    return train_and_save(phase, tc, out, model_args=args, config=to_dict(cfg), live_dir=live_dir,
                          extra=extra, resume=resume)


AUTOENCODER_ONLY = ("inverse_encoding", "inverse_decoding", "latent_norm", "diversity")


def _check_loss_weights(w: LossConfig, autoencoder: Path | None) -> None:
    """A weight this phase cannot use is an error, never a silent no-op."""
    for name in AUTOENCODER_ONLY:
        if getattr(w, name):
            raise ValueError(f"params: operator.losses.{name} is {getattr(w, name)}, but that "
                             "term belongs to the autoencoder phase; set it under "
                             "autoencoder.losses")
    active = [k for k in FIELD_PRIORS if getattr(w, k)]
    if active and autoencoder is None:
        raise ValueError(f"operator.losses {active} decode predictions: pass --autoencoder "
                         "(the checkpoint that made the caches)")


def _check_caches(caches: list[LatentTrajectories]) -> None:
    """All caches must come from one autoencoder, or the latent spaces do not match."""
    versions = {c.meta["autoencoder_md5"] for c in caches}
    if len(versions) > 1:
        tasks = sorted({c.task for c in caches})
        raise ValueError(f"latent caches of {tasks} come from different autoencoders "
                         f"({sorted(versions)}); re-run encode for every task")
