"""The FNO baseline phase: one FNO per grid task, trained on the same converted data as UPS.

What the network sees (all normalised, channels-last (B, *S, C)): the current state (per-channel
train-split statistics of stats.json), then the task's input fields (NS forcing; stats.json
`inputs`), then its PDE parameters as constant channels (log10, standardised over the train
split). PDEBench trains one FNO per parameter file; one FNO per task across parameter values must
be told them, as UPS is. The cell-centre coordinates are appended by the model itself.

Transient tasks: the FNO predicts the increment, u(t+1) = u(t) + FNO(u(t), cond), so an untrained
model is near persistence. Training draws random (trajectory, start) windows of the train split
and unrolls `horizon_at(step, cfg.horizon())` steps with gradients through every step (horizon 1:
teacher-forced one-step; the operator's `rollout_steps` gives the same unrolled loss UPS trains
with), loss = MSE over the unrolled states. Steady tasks (Darcy) map the input fields (+ params)
to the solution directly. Validation: full autoregressive rollouts of the val split from the first
state, nRMSE in physical units (steady: the nRMSE of the predicted solution).

`cfg.losses`, `task_weights` and `task_schedule` do not apply here (one task, plain MSE); a
non-zero loss weight is reported on stderr.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ups.config import TrainConfig, to_dict
from ups.data.datasets import Normaliser
from ups.data.store import GridStore, open_store, split_path
from ups.eval.metrics import nrmse_per_time
from ups.models.fno import FNO
from ups.tasks import get_task
from ups.training.distributed import rank_seed
from ups.training.loop import Phase, TrainResult, train_and_save
from ups.training.losses import horizon_at

VAL_TRAJECTORIES = 64  # val trajectories rolled out per validation (bounds its cost)
CHUNK = 64  # trajectories per forward pass at prediction time (bounds memory)


def check_grid(store: GridStore) -> None:
    """The FNO needs a regular grid: a mesh or particle task is refused, named."""
    if store.kind != "grid" or store.points is not None:
        raise ValueError(f"{store.path}: task '{store.task}' is a {store.kind} task; the FNO "
                         "baseline needs a regular grid (kind 'grid')")


def fno_padding(periodic: bool, spatial: tuple[int, ...]) -> int:
    """Zero padding per axis: none on a periodic domain, else ~1/16 of the smallest axis, at
    least 2 cells (PDEBench pads its non-periodic 2D FNO by 2)."""
    return 0 if periodic else max(2, -(-min(spatial) // 16))


def fno_args(converted: Path, width: int, modes: int, layers: int) -> dict:
    """The JSON-able FNO constructor arguments for the task converted in `converted`."""
    store = open_store(split_path(converted, "train"))
    try:
        check_grid(store)
        spec = get_task(store.task)
        n_cond = len(store.input_channels) + len(store.param_names)
        n_state = 0 if spec.steady else len(store.channels)
        return dict(dims=len(store.spatial_shape), in_channels=max(1, n_state + n_cond),
                    out_channels=len(store.channels), width=width, modes=modes, layers=layers,
                    padding=fno_padding(spec.periodic, store.spatial_shape))
    finally:
        store.fields.file.close()


def normalisation(converted: Path, train: GridStore) -> dict:
    """Everything needed to build the network's inputs, JSON-able (kept in the checkpoint, so
    evaluation uses exactly the statistics the model was trained with)."""
    stats = Path(converted) / "stats.json"
    norm = Normaliser.from_stats(stats)
    out = {"task": train.task, "steady": get_task(train.task).steady,
           "channels": list(train.channels), "predicts": "state" if get_task(train.task).steady
           else "increment", "field_mean": norm.mean.tolist(), "field_std": norm.std.tolist(),
           "input_mean": [], "input_std": [], "param_names": list(train.param_names)}
    if train.inputs is not None:
        in_norm = Normaliser.from_stats(stats, "inputs")
        out["input_mean"], out["input_std"] = in_norm.mean.tolist(), in_norm.std.tolist()
    log_p = _log_params(train.params)  # (N, P)
    std = log_p.std(0) if len(log_p) else np.ones(log_p.shape[1])
    out["param_mean"] = (log_p.mean(0) if len(log_p) else np.zeros(log_p.shape[1])).tolist()
    out["param_std"] = np.where(std > 0, std, 1.0).tolist()  # one value only: a constant 0
    return out


def _log_params(params: np.ndarray) -> np.ndarray:
    # Viscosities and speeds span decades (as in UPS's conditioning).
    return np.log10(np.clip(np.asarray(params, np.float64), 1e-12, None))


@dataclass
class FNOData:
    """One split of a grid task as the FNO sees it, in memory."""

    task: str
    steady: bool
    truth: np.ndarray  # (N, T, *S, C) physical
    u: np.ndarray  # (N, T, *S, C) normalised
    cond: np.ndarray  # (N, *S, E) normalised input fields, then constant param channels
    norm: Normaliser

    @classmethod
    def load(cls, converted: Path, split: str, norm: dict, n: int | None = None) -> FNOData:
        """The first `n` (all if None) trajectories of `split`, normalised with `norm` (see
        `normalisation`)."""
        store = open_store(split_path(converted, split))
        try:
            check_grid(store)
            if store.task != norm["task"]:
                raise ValueError(f"{store.path}: holds task '{store.task}', but the FNO was "
                                 f"trained on '{norm['task']}'")
            if list(store.param_names) != norm["param_names"]:
                raise ValueError(f"{store.path}: params {list(store.param_names)}; the FNO was "
                                 f"trained with {norm['param_names']}")
            rows = slice(0, store.n if n is None else n)
            truth = np.asarray(store.fields[rows], np.float32)
            field_norm = Normaliser(np.asarray(norm["field_mean"], np.float32),
                                    np.asarray(norm["field_std"], np.float32))
            spatial = truth.shape[2:-1]
            parts = []
            if store.inputs is not None:
                mean, std = (np.asarray(norm[k], np.float32) for k in ("input_mean", "input_std"))
                parts.append((np.asarray(store.inputs[rows], np.float32) - mean) / std)
            p = (_log_params(store.params[rows]) - norm["param_mean"]) / norm["param_std"]
            p = p.astype(np.float32)[(slice(None), *[None] * len(spatial))]  # (N, 1.., P)
            parts.append(np.broadcast_to(p, (len(truth), *spatial, p.shape[-1])))
            cond = np.concatenate(parts, axis=-1)  # (N, *S, E)
            if norm["steady"] and cond.shape[-1] == 0:
                cond = np.zeros((*cond.shape[:-1], 1), np.float32)  # nothing given: a constant
            return cls(store.task, bool(norm["steady"]), truth,
                       field_norm.encode(truth).astype(np.float32),
                       np.ascontiguousarray(cond), field_norm)
        finally:
            store.fields.file.close()


def advance(model: FNO, u: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """One time step in normalised units: u (B, *S, C), cond (B, *S, E) -> (B, *S, C)."""
    return u + model(torch.cat([u, cond], dim=-1))  # the FNO predicts the increment


@torch.no_grad()
def predict(model: FNO, data: FNOData, mode: str, n: int | None = None) -> np.ndarray:
    """Physical predictions (n, T, *S, C) for the first `n` trajectories of `data`.

    mode "rollout": autoregressive from the true first state (index 0 = that state);
    "one_step": from the true state at every step (index 0 = the truth); "steady": the solution
    from the input fields, (n, 1, *S, C).
    """
    model.eval()
    device = next(model.parameters()).device
    n = len(data.u) if n is None else n
    out = []
    for s in range(0, n, CHUNK):
        rows = slice(s, min(n, s + CHUNK))
        u = torch.from_numpy(data.u[rows]).to(device)  # (b, T, *S, C)
        cond = torch.from_numpy(data.cond[rows]).to(device)  # (b, *S, E)
        if mode == "steady":
            pred = model(cond)[:, None]  # (b, 1, *S, C)
        elif mode == "rollout":
            states = [u[:, 0]]
            for _ in range(u.shape[1] - 1):
                states.append(advance(model, states[-1], cond))
            pred = torch.stack(states, dim=1)  # (b, T, *S, C)
        elif mode == "one_step":
            b, n_t = u.shape[:2]
            flat = u[:, :-1].flatten(0, 1)  # (b (T-1), *S, C)
            step = advance(model, flat, cond.repeat_interleave(n_t - 1, dim=0))
            pred = torch.cat([u[:, :1], step.reshape(b, n_t - 1, *u.shape[2:])], dim=1)
        else:
            raise ValueError(f"predict: mode {mode!r}; expected 'rollout', 'one_step' or "
                             "'steady'")
        out.append(data.norm.decode(pred.float().cpu()).numpy())
    return np.concatenate(out)


def nrmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean over time of nRMSE per time step, physical units; (B, T, *S, C) inputs."""
    as_metric = [torch.from_numpy(np.moveaxis(a, 1, -2)) for a in (pred, truth)]  # [B,*S,T,C]
    return float(nrmse_per_time(*as_metric).mean())


def validation_error(model: FNO, data: FNOData, max_traj: int = VAL_TRAJECTORIES) -> float:
    """nRMSE of full rollouts from the first state (steps 1..T-1), or of the steady map."""
    n = min(max_traj, len(data.u))
    if data.steady:
        return nrmse(predict(model, data, "steady", n), data.truth[:n])
    return nrmse(predict(model, data, "rollout", n)[:, 1:], data.truth[:n, 1:])


def _sampler(data: FNOData, batch_size: int, horizon: tuple[tuple[int, int], ...], seed: int):
    rng = np.random.default_rng(seed)

    def sample(step: int) -> dict:
        n, n_t = data.u.shape[:2]
        idx = rng.integers(n, size=batch_size)
        cond = torch.from_numpy(data.cond[idx])  # (B, *S, E)
        if data.steady:
            return {"steady": True, "cond": cond, "target": torch.from_numpy(data.u[idx, 0])}
        r = min(horizon_at(step, horizon), n_t - 1)
        t0 = rng.integers(n_t - r, size=batch_size)
        seq = data.u[idx[:, None], t0[:, None] + np.arange(r + 1)]  # (B, r+1, *S, C)
        return {"steady": False, "cond": cond, "seq": torch.from_numpy(seq)}

    sample.generators = (rng,)  # its state travels with resume checkpoints
    return sample


def loss(model: FNO, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
    """MSE of the steady solution, or over the unrolled states of a window."""
    if batch["steady"]:
        value = F.mse_loss(model(batch["cond"]), batch["target"])
        return value, {"steady_mse": value.item()}
    seq, cond = batch["seq"], batch["cond"]
    states = [seq[:, 0]]
    for _ in range(seq.shape[1] - 1):  # gradients flow through every unrolled step
        states.append(advance(model, states[-1], cond))
    preds = torch.stack(states[1:], dim=1)  # (B, r, *S, C)
    value = F.mse_loss(preds, seq[:, 1:])
    return value, {"rollout_mse": value.item(),
                   "one_step_mse": F.mse_loss(preds[:, 0], seq[:, 1]).item()}


def train_fno(cfg: TrainConfig, seed: int, converted: Path, out: Path, live_dir: str | None,
              width: int, modes: int, layers: int, resume: Path | None = None) -> TrainResult:
    """Train the FNO baseline of the grid task in `converted`; write its checkpoint to `out`.

    The checkpoint's `extra` holds the normalisation (see `normalisation`), `train_seconds`
    (wall time of the training loop, validation included; after a resume, of the resumed part
    only) and `best_val` / `best_step`. Raises ValueError for a mesh or particle task.
    """
    converted = Path(converted)
    args = fno_args(converted, width, modes, layers)  # refuses non-grid tasks before any work
    _note_unused_losses(cfg)
    torch.manual_seed(seed)
    train_store = open_store(split_path(converted, "train"))
    try:
        norm = normalisation(converted, train_store)
    finally:
        train_store.fields.file.close()
    train_data = FNOData.load(converted, "train", norm)
    val_data = FNOData.load(converted, "val", norm)
    for split, data in (("train", train_data), ("val", val_data)):
        if len(data.u) == 0:
            raise ValueError(f"{split_path(converted, split)}: no trajectories; the FNO needs "
                             "train and val trajectories (convert.val_fraction > 0)")
    task = norm["task"]
    model = FNO(**args)

    def validate(m: FNO) -> tuple[float, dict[str, float]]:
        error = validation_error(m, val_data)
        return error, {f"nrmse/{task}": error}

    sample = _sampler(train_data, cfg.batch_size, cfg.horizon(), rank_seed(seed))
    phase = Phase(
        name=f"fno/{task}",
        model=model,
        sample=sample,
        loss=loss,
        validate=validate,
        batch_size=lambda batch: len(batch["cond"]),
        adamw_names=("lift", "project"),  # Muon leaves input/output projections to AdamW
        generators=sample.generators,
    )
    config = {"train": to_dict(cfg), "seed": seed, "task": task,
              "fno": {"width": width, "modes": modes, "layers": layers}}
    # train_and_save records `train_seconds` (the budget figure) in the checkpoint.
    return train_and_save(phase, cfg, Path(out), model_args=args, config=config,
                          live_dir=live_dir, extra=norm, resume=resume)


def _note_unused_losses(cfg: TrainConfig) -> None:
    used = {f.name: getattr(cfg.losses, f.name) for f in dataclasses.fields(cfg.losses)
            if f.name != "spectral_high_weight" and getattr(cfg.losses, f.name)}
    if used:
        print(f"fno: loss weights {used} do not apply to the FNO baseline (plain MSE); ignored",
              file=sys.stderr)


def read_normalisation(ckpt_extra: dict, path: Path) -> dict:
    """The normalisation block of an FNO checkpoint's `extra`, checked to be there."""
    missing = {"task", "field_mean", "param_mean", "steady"} - set(ckpt_extra)
    if missing:
        raise ValueError(f"{path}: not an FNO baseline checkpoint (extra lacks {sorted(missing)})")
    return ckpt_extra
