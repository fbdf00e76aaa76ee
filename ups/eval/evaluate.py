"""Score one task on its test split in physical units: rollouts, one-step, baselines, figures.

Protocol: the first stored state of each test trajectory is given (encoded); the operator rolls
out autoregressively to the last stored time; predictions are decoded at the grid points and
de-normalised; metrics follow PDEBench's definitions with the given state excluded
(initial_step=1), every test sample weighted equally (not PDEBench's per-batch averaging).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch

from ups.config import EvalConfig
from ups.data.datasets import LatentTrajectories, Normaliser, domain_bounds, grid_positions
from ups.data.store import open_store, split_path
from ups.eval.metrics import empty_bands, nrmse_per_time, pdebench_metrics
from ups.eval.plots import save_trajectory_figure
from ups.eval.rollout import (
    Surrogate,
    decode_trajectories,
    persistence_one_step,
    persistence_rollout,
)
from ups.io import atomic_dir, file_md5, write_json
from ups.models.autoencoder import AutoEncoder
from ups.models.operator import LatentOperator
from ups.training.checkpoint import build_from_checkpoint


def _as_metric_layout(u: np.ndarray) -> torch.Tensor:
    """(B, T, *spatial, C) -> PDEBench's (B, *spatial, T, C)."""
    return torch.from_numpy(np.moveaxis(u, 1, -2))


def _nrmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(nrmse_per_time(_as_metric_layout(pred), _as_metric_layout(truth)).mean())


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN: an undefined figure (e.g. an empty frequency band) becomes null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in values.items()}


def load_surrogate(ae_ckpt: Path, op_ckpt: Path, converted: Path, latent: Path) -> Surrogate:
    """The trained models for one task, checked to belong to the same encoder version."""
    autoencoder, _ = build_from_checkpoint(ae_ckpt, AutoEncoder)
    operator, op = build_from_checkpoint(op_ckpt, LatentOperator)
    meta = LatentTrajectories(latent, "test").meta
    ae_md5 = file_md5(Path(ae_ckpt))
    for what, md5 in (("latent cache " + str(latent), meta["autoencoder_md5"]),
                      ("operator " + str(op_ckpt), op["extra"]["autoencoder_md5"])):
        if md5 != ae_md5:
            raise ValueError(f"{what} was made with another autoencoder than {ae_ckpt}; "
                             "re-run encode and train_operator (dvc repro does this)")
    store = open_store(split_path(converted, "test"))
    return Surrogate(autoencoder, operator, torch.tensor(op["extra"]["z_mean"]),
                     torch.tensor(op["extra"]["z_std"]),
                     Normaliser.from_stats(Path(converted) / "stats.json"), store.task,
                     store.channels, torch.from_numpy(grid_positions(store.coords)))


def evaluate_task(ae_ckpt: Path, op_ckpt: Path, converted: Path, latent: Path, cfg: EvalConfig,
                  metrics_out: Path, plots_out: Path) -> dict:
    """Evaluate one task; writes the metrics JSON and the plots folder; returns the metrics."""
    model = load_surrogate(ae_ckpt, op_ckpt, converted, latent)
    store = open_store(split_path(converted, "test"))
    n = min(cfg.max_trajectories, store.n)
    truth = np.asarray(store.fields[:n])  # (B, T, *S, C) physical
    spatial, n_t = store.spatial_shape, truth.shape[1]
    cache = LatentTrajectories(latent, "test")
    z_true = (torch.from_numpy(np.asarray(cache.raw[:n], np.float32)) - model.z_mean) / model.z_std
    cond = cache.cond(np.arange(n))

    rollout = decode_trajectories(model, model.rollout(z_true[:, 0], n_t - 1, cond), spatial)
    one_step = decode_trajectories(model, model.one_step(z_true, cond), spatial)
    recon = decode_trajectories(model, z_true, spatial)

    full = pdebench_metrics(_as_metric_layout(rollout), _as_metric_layout(truth), initial_step=1,
                            domain_lengths=_domain_lengths(store.coords))
    metrics = {
        **full,
        "nrmse_rollout": full["nrmse"],
        "nrmse_one_step": _nrmse(one_step, truth[:, 1:]),
        "nrmse_reconstruction": _nrmse(recon, truth),
        "persistence_nrmse_rollout": _nrmse(persistence_rollout(truth)[:, 1:], truth[:, 1:]),
        "persistence_nrmse_one_step": _nrmse(persistence_one_step(truth), truth[:, 1:]),
        "test_trajectories": n,
        "rollout_steps": n_t - 1,
    }
    metrics = _finite(metrics)
    notes = [f"{band} undefined on a {spatial} grid" for band in empty_bands(spatial)]
    if notes:
        metrics["notes"] = "; ".join(notes)
    write_json(metrics_out, metrics)
    _write_plots(plots_out, store, truth, rollout, cfg.plot_trajectory)
    return metrics


def _domain_lengths(coords: dict[str, np.ndarray]) -> tuple[float, ...]:
    return tuple(hi - lo for lo, hi in map(domain_bounds, coords.values()))


def _write_plots(out: Path, store, truth: np.ndarray, rollout: np.ndarray, k: int) -> None:
    """nRMSE against rollout step (CSV for `dvc plots`) and a PNG of one trajectory."""
    ups = nrmse_per_time(_as_metric_layout(rollout), _as_metric_layout(truth)).numpy()
    persist = nrmse_per_time(_as_metric_layout(persistence_rollout(truth)),
                             _as_metric_layout(truth)).numpy()
    k = min(k, len(truth) - 1)
    with atomic_dir(out) as tmp:
        with open(tmp / "nrmse_vs_step.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["step", "time", "ups", "persistence"])
            for s in range(1, len(ups)):
                writer.writerow([s, f"{store.t[s]:.6g}", f"{ups[s]:.6g}", f"{persist[s]:.6g}"])
        save_trajectory_figure(tmp / "rollout.png", truth[k], rollout[k], store.t, store.coords,
                               store.channels, f"{store.task}: test trajectory {k}, rollout "
                               "from the first state")
