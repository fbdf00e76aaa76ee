"""Score one task on its test split in physical units: rollouts, one-step, baselines, figures.

Protocol: the first stored state of each test trajectory is given (encoded); the operator rolls
out autoregressively to the last stored time; predictions are decoded at the grid points (a
mesh's nodes, each particle's position at each step) and de-normalised; metrics follow PDEBench's
definitions with the given state excluded (initial_step=1), every test sample weighted equally
(not PDEBench's per-batch averaging). Steady tasks (Darcy) are given their input field (the
coefficient) and scored on the one predicted solution.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
import torch

from ups.config import EvalConfig
from ups.data.datasets import (
    Geometry,
    LatentTrajectories,
    Normaliser,
    domain_bounds,
    field_scale,
)
from ups.data.latent import SCORING_SPLIT, STATS
from ups.data.store import open_store, split_path
from ups.eval.metrics import empty_bands, nrmse_per_time, pdebench_metrics
from ups.eval.physics import physics_checks
from ups.eval.plots import save_trajectory_figure
from ups.eval.rollout import (
    Surrogate,
    decode_trajectories,
    persistence_one_step,
    persistence_rollout,
)
from ups.eval.variants import Variants, layout, score_correctors, score_fno, score_pod
from ups.io import atomic_dir, file_md5, read_json, write_json
from ups.models.autoencoder import AutoEncoder
from ups.models.operator import LatentOperator
from ups.tasks import get_task
from ups.training.checkpoint import LATENT_SHAPE, build_from_checkpoint, check_same


def _nrmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(nrmse_per_time(layout(pred), layout(truth)).mean())


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN: an undefined figure (e.g. an empty frequency band) becomes null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in values.items()}


def load_surrogate(ae_ckpt: Path, op_ckpt: Path, latent: Path) -> Surrogate:
    """The trained models for one task, checked to belong to the same encoder version; the
    geometry and statistics come from the cache folder's scoring set."""
    autoencoder, ae = build_from_checkpoint(ae_ckpt, AutoEncoder)
    operator, op = build_from_checkpoint(op_ckpt, LatentOperator)
    check_same(LATENT_SHAPE, (ae_ckpt, ae["model_args"]), (op_ckpt, op["model_args"]))
    meta = LatentTrajectories(latent, "test").meta
    ae_md5 = file_md5(Path(ae_ckpt))
    for what, md5 in (("latent cache " + str(latent), meta["autoencoder_md5"]),
                      ("operator " + str(op_ckpt), op["extra"]["autoencoder_md5"])):
        if md5 != ae_md5:
            raise ValueError(f"{what} was made with another autoencoder than {ae_ckpt}; "
                             "re-run encode and train_operator (dvc repro does this)")
    store = open_store(split_path(latent, SCORING_SPLIT))
    stats = Path(latent) / STATS
    return Surrogate(autoencoder, operator, torch.tensor(op["extra"]["z_mean"]),
                     torch.tensor(op["extra"]["z_std"]),
                     Normaliser.for_autoencoder(stats, store.task), store.task, store.channels,
                     Geometry(store), Normaliser.from_stats(stats), field_scale(store))


def scoring_cache(model: Surrogate, latent: Path) -> LatentTrajectories:
    """The task's test latents in the operator's units, so that their conditioning carries
    the forcing latents of tasks that have input fields."""
    return LatentTrajectories(latent, "test", model.z_mean.numpy(), model.z_std.numpy())


def evaluate_task(ae_ckpt: Path, op_ckpt: Path, latent: Path, cfg: EvalConfig,
                  metrics_out: Path, plots_out: Path, variants: Variants = Variants()) -> dict:
    """Evaluate one task: the operator, persistence and the `variants` (corrector variants, FNO,
    POD) on the same test trajectories (the latent cache folder's scoring set, so no converted
    data is needed); writes the metrics JSON and the plots folder."""
    model = load_surrogate(ae_ckpt, op_ckpt, latent)
    store = open_store(split_path(latent, SCORING_SPLIT))
    spec = get_task(store.task)
    n = min(cfg.max_trajectories, store.n)
    truth = np.asarray(store.fields[:n])  # (B, T, *S, C) physical
    cache = scoring_cache(model, latent)
    if spec.steady:
        metrics, pred = _steady(model, cache, truth)
    else:
        metrics, pred = _transient(model, cache, truth, store)
    lengths = _lengths(store)
    checks = physics_checks(pred, truth, spec, store.channels, spec.kind == "grid")
    metrics.update({f"physics_{k}": v for k, v in checks.items()})
    rollouts = {"ups": pred}
    if not spec.steady:
        rollouts["persistence"] = persistence_rollout(truth)
    notes = _notes(spec, store.spatial_shape)
    for scored in (score_fno(variants.fno, latent, truth, spec.steady, lengths)
                   if spec.kind == "grid" else None,
                   score_correctors(model, op_ckpt, cache, truth, store.spatial_shape,
                                    spec.kind == "grid", lengths, spec.steady, variants),
                   score_pod(variants.pod, latent, truth, spec.steady, lengths)):
        if scored is None:
            metrics.update({f"fno_{k}": None for k in ("nrmse_rollout", "nrmse_one_step")})
            notes.append(f"fno: the FNO baseline needs a grid; {spec.name} is a {spec.kind}")
            continue
        metrics.update(scored.metrics)
        rollouts.update(scored.rollouts)
        notes += scored.notes
    metrics = _finite({**metrics, "test_trajectories": n, **cache_size(latent)})
    if spec.kind != "grid":  # boundary and spectral figures need a grid
        metrics.update({k: None for k in metrics if k.endswith(GRID_ONLY)})
    if notes:
        metrics["notes"] = "; ".join(notes)
    write_json(metrics_out, metrics)
    _write_plots(plots_out, store, truth, rollouts, cfg.plot_trajectory, spec.steady)
    return metrics


GRID_ONLY = ("brmse", "frmse_low", "frmse_mid", "frmse_high")


def cache_size(latent: Path) -> dict:
    """Bytes of the latent arrays (float16, every split; the .npy headers aside) against the
    float32 fields they replace (the cache's meta); a cache from before the fields' bytes were
    recorded gives nulls."""
    sizes = read_json(Path(latent) / "meta.json").get("bytes")
    if not sizes:
        return {"cache_bytes": None, "data_bytes": None, "cache_to_data_ratio": None}
    arrays = sum(np.load(f, mmap_mode="r").nbytes for f in sorted(Path(latent).glob("*.npy")))
    return {"cache_bytes": int(arrays), "data_bytes": sizes["fields"],
            "cache_to_data_ratio": arrays / sizes["fields"]}


def _notes(spec, spatial: tuple[int, ...]) -> list[str]:
    if spec.kind != "grid":
        return [f"{', '.join(GRID_ONLY)} are defined on grids only; crmse is the error of the "
                f"unweighted mean over the {spec.kind} points"]
    return [f"{band} undefined on a {spatial} grid" for band in empty_bands(spatial)]


def _normalised(model: Surrogate, z: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(np.asarray(z, np.float32)) - model.z_mean) / model.z_std


def _lengths(store) -> tuple[float, ...] | None:
    """Physical length of each grid axis (spectral figures); None for point sets."""
    if store.points is not None:
        return None
    return tuple(hi - lo for lo, hi in map(domain_bounds, store.coords.values()))


def latent_rollout(model: Surrogate, cache: LatentTrajectories,
                   n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoded test trajectories 0..n-1 (B, T, L, D) and the operator's rollout from their
    first states (B, T, L, D), the given state first; in operator units."""
    z_true = _normalised(model, cache.raw[:n])
    rollout = model.rollout(z_true[:, 0], z_true.shape[1] - 1, cache.cond(np.arange(n)))
    return z_true, rollout


def _transient(model: Surrogate, cache: LatentTrajectories, truth: np.ndarray,
               store) -> tuple[dict, np.ndarray]:
    """Full rollouts from the first state, one-step predictions, reconstructions, persistence."""
    n, n_t = truth.shape[:2]
    spatial = store.spatial_shape
    start = time.perf_counter()
    z_true, z_rollout = latent_rollout(model, cache, n)
    seconds = (time.perf_counter() - start) / max(n_t - 1, 1)
    rollout = decode_trajectories(model, z_rollout, spatial)
    one_step = decode_trajectories(model, model.one_step(z_true, cache.cond(np.arange(n))),
                                   spatial, first_step=1)
    recon = decode_trajectories(model, z_true, spatial)
    full = pdebench_metrics(layout(rollout), layout(truth), initial_step=1,
                            domain_lengths=_lengths(store))
    return {
        **full,
        "nrmse_rollout": full["nrmse"],
        "nrmse_one_step": _nrmse(one_step, truth[:, 1:]),
        "nrmse_reconstruction": _nrmse(recon, truth),
        "persistence_nrmse_rollout": _nrmse(persistence_rollout(truth)[:, 1:], truth[:, 1:]),
        "persistence_nrmse_one_step": _nrmse(persistence_one_step(truth), truth[:, 1:]),
        "seconds_per_step": seconds,  # the latent rollout alone (decoding is not a step)
        "rollout_steps": n_t - 1,
    }, rollout


def _steady(model: Surrogate, cache: LatentTrajectories,
            truth: np.ndarray) -> tuple[dict, np.ndarray]:
    """The steady map from the encoded input field, beside the train-mean field baseline.

    A steady task has one prediction, so its rollout and one-step figures are that prediction's;
    persistence does not exist (null) and the baseline is the train split's mean field."""
    n, spatial = truth.shape[0], truth.shape[2:-1]
    z_in = _normalised(model, cache.raw_inputs[:n])  # (B, 1, L, D)
    pred = decode_trajectories(model, model.steady(z_in[:, 0], cache.cond(np.arange(n))),
                               spatial)  # (B, 1, *S, C)
    recon = decode_trajectories(model, _normalised(model, cache.raw[:n]), spatial)
    mean_field = np.broadcast_to(model.physical.mean, truth.shape)
    full = pdebench_metrics(layout(pred), layout(truth), initial_step=0)
    return {
        **full,
        "nrmse_rollout": full["nrmse"],
        "nrmse_one_step": full["nrmse"],
        "nrmse_reconstruction": _nrmse(recon, truth),
        "mean_field_nrmse": _nrmse(mean_field, truth),
        "persistence_nrmse_rollout": None,
        "persistence_nrmse_one_step": None,
        "rollout_steps": 0,
    }, pred


def _write_plots(out: Path, store, truth: np.ndarray, rollouts: dict[str, np.ndarray], k: int,
                 steady: bool) -> None:
    """nRMSE against rollout step of every model (CSV for `dvc plots`; transient tasks) and a
    PNG of one test trajectory (UPS's prediction)."""
    k = min(k, len(truth) - 1)
    with atomic_dir(out) as tmp:
        if not steady:
            _write_nrmse_csv(tmp / "nrmse_vs_step.csv", store.t, truth, rollouts)
        what = "steady solution from the input field" if steady else "rollout from the first state"
        points = None if store.points is None else np.asarray(store.points[k])
        save_trajectory_figure(tmp / "rollout.png", truth[k], rollouts["ups"][k], store.t,
                               store.coords, store.channels,
                               f"{store.task}: test trajectory {k}, {what}",
                               points=points, cells=store.cells)


# The table behind each task's `dvc plots` chart (dvc.yaml: x step, y nrmse, template models).
# Long format, one row per model and step: the chart draws a line per model present, so a model
# that a task lacks (the FNO on a mesh) or that lands later needs no change to dvc.yaml.
NRMSE_COLUMNS = ("step", "time", "model", "nrmse")


def _write_nrmse_csv(path: Path, t: np.ndarray, truth: np.ndarray,
                     rollouts: dict[str, np.ndarray]) -> None:
    curves = {name: nrmse_per_time(layout(pred), layout(truth)).numpy()
              for name, pred in rollouts.items()}
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(NRMSE_COLUMNS)
        for name, curve in curves.items():
            for s in range(1, len(t)):
                writer.writerow([s, f"{t[s]:.6g}", name, f"{curve[s]:.6g}"])
