"""Every loss term of both training phases reaches the parameters it should when its weight is
non-zero, and changes nothing when its weight is zero (the real phase losses on real data)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import TINY_SIMULATE as TINY

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
               encoder_depth=1, decoder_depth=1, supernodes=16, neighbours=2, tokens=8,
               latent_dim=8)
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
    model = LatentOperator(len(TASK_NAMES), len(PARAM_VOCAB), 8, 8, 16, 2, 1)
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
