"""Every loss term of both training phases reaches the parameters it should when its weight is
non-zero, and changes nothing when its weight is zero (the real phase losses on real data)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import TINY_SIMULATE as TINY
from helpers import save_operator

from ups.config import ConvertConfig, LossConfig
from ups.data.convert import convert_task
from ups.data.datasets import LatentTrajectories, TaskFrames, TaskMixer, latent_stats
from ups.data.latent import encode_task
from ups.data.simulate import simulate
from ups.models.autoencoder import AutoEncoder
from ups.models.operator import LatentOperator
from ups.tasks import FIELD_VOCAB, PARAM_VOCAB, TASK_NAMES, get_task
from ups.training import autoencoder as ae_phase
from ups.training import operator as op_phase
from ups.training.checkpoint import save_checkpoint

AE_ARGS = dict(fields=list(FIELD_VOCAB), tasks=list(TASK_NAMES), width=16, heads=2,
               encoder_depth=1, decoder_depth=1, latent_dim=8, patch_values=4)
# Where each term applies: the task whose physics has it.
AE_TERMS = {"inverse_encoding": "burgers1d", "inverse_decoding": "burgers1d",
            "latent_norm": "burgers1d", "diversity": "burgers1d", "spectral": "burgers1d",
            "conservation": "burgers1d", "boundary": "darcy2d", "positivity": "darcy2d",
            "divergence": "navier_stokes2d"}
OP_TERMS = {"spectral": "burgers1d", "conservation": "burgers1d", "boundary": "darcy2d",
            "positivity": "darcy2d", "divergence": "navier_stokes2d"}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("phase-losses")
    for task in ("burgers1d", "darcy2d", "navier_stokes2d"):
        simulate(task, TINY[task], root / "raw" / task, seed=0)
        convert_task(get_task(task), root / "raw" / task, root / "conv" / task,
                     ConvertConfig(0.2, 0.2), seed=0)
    return root


def grads(model: torch.nn.Module, loss: torch.Tensor) -> torch.Tensor:
    model.zero_grad()
    loss.backward()
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in model.parameters()])


def ae_batch(converted, task: str, step: int = 50) -> dict:
    data = TaskFrames(converted / "conv" / task, "train")
    sample = ae_phase._sampler([data], TaskMixer([task], 0), 4, 16, seed=0)
    batch = sample(step)
    while batch["view"].role != "fields":  # Darcy also samples its coefficient field
        batch = sample(step)
    return batch


@pytest.mark.parametrize("term", sorted(AE_TERMS))
def test_autoencoder_terms_reach_the_weights(converted, term):
    torch.manual_seed(0)
    model = AutoEncoder(**AE_ARGS)
    if term == "positivity":  # decode far below zero, where the prior bites
        with torch.no_grad():
            model.decoder.readout_b.fill_(-10.0)
    batch = ae_batch(converted, AE_TERMS[term])
    base, base_parts = ae_phase.make_loss(LossConfig())(model, batch)
    off, off_parts = ae_phase.make_loss(dataclasses.replace(LossConfig(), **{term: 0.0}))(
        model, batch)
    on, parts = ae_phase.make_loss(dataclasses.replace(LossConfig(), **{term: 1.0}))(
        model, batch)
    assert term in parts and term not in base_parts and term not in off_parts
    assert parts[term] > 0
    g_base, g_on = grads(model, base), grads(model, on)
    assert torch.equal(grads(model, off), g_base)  # zero weight: no effect at all
    assert (g_on - g_base).abs().max() > 0  # non-zero weight: it reaches the parameters


def test_inverse_terms_warm_up(converted):
    model = AutoEncoder(**AE_ARGS)
    w = LossConfig(inverse_encoding=1.0, inverse_warmup=100)
    _, early = ae_phase.make_loss(w)(model, ae_batch(converted, "burgers1d", step=0))
    _, later = ae_phase.make_loss(w)(model, ae_batch(converted, "burgers1d", step=50))
    assert "inverse_encoding" not in early and "inverse_encoding" in later


@pytest.fixture(scope="module")
def caches(converted):
    torch.manual_seed(0)
    ae = AutoEncoder(**AE_ARGS)
    ckpt = converted / "ae.pt"
    save_checkpoint(ckpt, ae, AE_ARGS, config={}, step=0)
    for task in OP_TERMS.values():
        if not (converted / "latent" / task).exists():
            encode_task(task, ckpt, converted / "conv" / task, converted / "latent" / task)
    roots = {t: converted / "latent" / t for t in set(OP_TERMS.values())}
    z_mean, z_std = latent_stats([LatentTrajectories(r, "train") for r in roots.values()])
    sets = {t: LatentTrajectories(r, "train", z_mean, z_std) for t, r in roots.items()}
    decoder = op_phase.FieldDecoder(ae, z_mean, z_std, list(sets.values()))
    return sets, decoder


@pytest.mark.parametrize("term", sorted(OP_TERMS))
def test_operator_decoded_terms_reach_the_operator(caches, term):
    sets, decoder = caches
    task = OP_TERMS[term]
    sample = op_phase.latent_sampler([sets[task]], TaskMixer([task], 0), 4, ((0, 2),), seed=0)
    batch = sample(0)
    torch.manual_seed(1)
    model = LatentOperator(len(TASK_NAMES), len(PARAM_VOCAB), latent_dim=8, width=16, depth=1,
                           dims=(1, 2))
    torch.nn.init.normal_(model.out.weight, std=0.1)  # zero-init output: make terms non-trivial
    if term == "positivity":  # push the predicted latents far off, where the prior bites
        torch.nn.init.constant_(model.steady_out.bias, -5.0)
    base, _ = op_phase.make_loss(LossConfig(), decoder)(model, batch)
    on, parts = op_phase.make_loss(dataclasses.replace(LossConfig(), **{term: 1.0}), decoder)(
        model, batch)
    assert term in parts and np.isfinite(parts[term])
    g_base, g_on = grads(model, base), grads(model, on)
    assert (g_on - g_base).abs().max() > 0
    assert all(p.grad is None for p in decoder.model.parameters())  # the decoder stays frozen


def test_horizon_schedule_lengthens_rollouts(caches):
    sets, _ = caches
    sample = op_phase.latent_sampler([sets["burgers1d"]], TaskMixer(["burgers1d"], 0), 2,
                               ((0, 1), (10, 2)), seed=0)
    assert sample(0)["seq"].shape[1] == 2 and sample(10)["seq"].shape[1] == 3


def test_operator_refuses_weights_it_cannot_use():
    from ups.config import config_from_dict, load_config, to_dict

    base = to_dict(load_config("params.yaml"))
    for losses, message in (({"latent_norm": 1.0}, "belongs to the autoencoder phase"),
                            ({"spectral": 1.0}, "pass --autoencoder")):
        base["operator"]["losses"] = losses
        with pytest.raises(ValueError, match=message):
            op_phase._check_loss_weights(config_from_dict(base).operator.losses, None)


def test_forcing_reaches_the_operator_in_training(caches):
    """NS's forcing field is encoded and conditions every step: the sampler's batches carry
    the forcing latents of the trajectories they drew, and the rollout loss's gradient reaches
    the forcing projection; tasks without input fields (and steady tasks, whose input is the
    map's argument) carry none."""
    sets, _ = caches
    ns = sets["navier_stokes2d"]
    sample = op_phase.latent_sampler([ns], TaskMixer(["navier_stokes2d"], 0), 4, ((0, 2),),
                                     seed=0)
    batch = sample(0)
    forcing = batch["cond"]["forcing"]
    assert forcing.shape == batch["seq"].shape[:1] + batch["seq"].shape[2:]  # (B, L, D)
    # Each row is the forcing latent of some trajectory, and they are not all the same.
    rows = [int(np.argmin(np.abs(ns.z_inputs[:, 0] - f.numpy()).sum((1, 2)))) for f in forcing]
    assert all(np.allclose(ns.z_inputs[r, 0], f.numpy()) for r, f in zip(rows, forcing))
    assert torch.unique(forcing, dim=0).shape[0] > 1
    for task in ("burgers1d", "darcy2d"):
        assert "forcing" not in sets[task].cond(np.arange(2))
    torch.manual_seed(1)
    model = LatentOperator(len(TASK_NAMES), len(PARAM_VOCAB), latent_dim=8, width=16, depth=1,
                           dims=(1, 2))
    torch.nn.init.normal_(model.out.weight, std=0.1)
    loss, _ = op_phase.make_loss(LossConfig(), None)(model, batch)
    grads(model, loss)
    assert model.force.weight.grad.abs().max() > 0
    burgers = op_phase.latent_sampler([sets["burgers1d"]], TaskMixer(["burgers1d"], 0), 4,
                                      ((0, 2),), seed=0)(0)
    grads(model, op_phase.make_loss(LossConfig(), None)(model, burgers)[0])
    assert model.force.weight.grad is None or not model.force.weight.grad.any()


def test_forcing_reaches_the_evaluation_rollout(converted, caches, tmp_path):
    """Evaluation rolls out with each test trajectory's own forcing latents."""
    from ups.eval.evaluate import latent_rollout, load_surrogate, scoring_cache

    sets, _ = caches
    latent = converted / "latent" / "navier_stokes2d"
    args = dict(n_tasks=len(TASK_NAMES), n_params=len(PARAM_VOCAB), latent_dim=8,
                width=16, depth=1, dims=(2,))
    torch.manual_seed(2)
    op = LatentOperator(**args)
    torch.nn.init.normal_(op.out.weight, std=0.1)
    torch.nn.init.normal_(op.force.weight, std=0.5)
    z_mean, z_std = latent_stats([LatentTrajectories(latent, "train")])
    save_operator(tmp_path / "op.pt", op, args, converted / "ae.pt", z_mean, z_std)
    model = load_surrogate(converted / "ae.pt", tmp_path / "op.pt", latent)
    cache = scoring_cache(model, latent)
    n = min(2, len(cache.raw))
    expected = (np.asarray(cache.raw_inputs[:n, 0], np.float32) - z_mean) / z_std
    assert np.allclose(cache.cond(np.arange(n))["forcing"].numpy(), expected, atol=1e-6)
    _, with_forcing = latent_rollout(model, cache, n)
    with torch.no_grad():
        model.operator.force.weight.zero_()
    _, without = latent_rollout(model, cache, n)
    assert (with_forcing - without)[:, 1:].abs().max() > 1e-3
