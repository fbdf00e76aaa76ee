"""The proxy gate's figures: a quick look at the trained operator on the validation split.

See `ups.eval.gates` for what the gate checks; this module computes the figures from the latent
caches and the frozen decoder only (a training box has no converted data), and runs the gate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ups.config import Config, ProxyGateConfig
from ups.data.datasets import LatentTrajectories
from ups.eval.gates import GateFailed, proxy_verdict
from ups.io import write_json
from ups.models.autoencoder import AutoEncoder
from ups.models.operator import LatentOperator
from ups.training.checkpoint import build_from_checkpoint
from ups.training.operator import FieldDecoder, decoded_error


@torch.no_grad()
def proxy_figures(model: LatentOperator, data: LatentTrajectories, decoder: FieldDecoder | None,
                  cfg: ProxyGateConfig) -> dict[str, float]:
    """One-step and short-rollout error of the operator and of persistence on one task."""
    idx = np.arange(min(cfg.trajectories, data.z.shape[0]))
    z = torch.from_numpy(data.z[idx])  # (B, T, L, D)
    cond = data.cond(idx)
    if data.steady:  # one map, no rollout: the one figure serves both, persistence has none
        pred = model.steady(torch.from_numpy(data.z_inputs[idx, 0]), **cond)
        error = decoded_error(pred, z[:, 0], data.task, decoder)
        return {"nrmse_one_step": error, "nrmse_short_rollout": error}
    steps = min(cfg.rollout_steps, z.shape[1] - 1)
    rollout = model.rollout(z[:, 0], steps, **cond)  # (B, steps, L, D)
    true = z[:, 1:steps + 1]
    still = z[:, :1].expand_as(true)
    return {
        "nrmse_one_step": decoded_error(rollout[:, 0], true[:, 0], data.task, decoder),
        "nrmse_short_rollout": decoded_error(rollout.flatten(0, 1), true.flatten(0, 1),
                                             data.task, decoder),
        "persistence_nrmse_short_rollout": decoded_error(still.flatten(0, 1),
                                                         true.flatten(0, 1), data.task, decoder),
    }



def run_proxy_gate(cfg: Config, latent_root: Path, autoencoder: Path, operator: Path,
                   out: Path) -> dict:
    """Score every task, write `out`, and raise GateFailed unless every task passes (or the
    params say to continue)."""
    gate = cfg.gates.proxy
    model, ckpt = build_from_checkpoint(operator, LatentOperator)
    z_mean = np.asarray(ckpt["extra"]["z_mean"], np.float32)
    z_std = np.asarray(ckpt["extra"]["z_std"], np.float32)
    sets = [LatentTrajectories(Path(latent_root) / t, "val", z_mean, z_std) for t in cfg.tasks]
    ae, _ = build_from_checkpoint(autoencoder, AutoEncoder)
    decoder = FieldDecoder(ae, z_mean, z_std, sets)
    tasks, reasons = {}, []
    for data in sets:
        if not gate.enabled or not len(data.z):
            continue
        figures = proxy_figures(model, data, decoder, gate)
        why = proxy_verdict(data.task, figures, gate)
        tasks[data.task] = {**figures, "passed": not why}
        reasons += why
    result = {"enabled": gate.enabled, "passed": not reasons, "reasons": reasons,
              "tasks": tasks}
    write_json(out, result)
    if reasons and not gate.continue_on_fail:
        raise GateFailed("proxy gate failed: " + "; ".join(reasons) + " (set "
                         "gates.proxy.continue_on_fail: true to go on anyway)")
    return result
