"""Checkpoints of one latent space must agree on its shape: a pair from different configurations
is refused with the setting, both values and both files named."""

from __future__ import annotations

import pytest
import torch

from ups.eval.evaluate import load_surrogate
from ups.models.autoencoder import AutoEncoder
from ups.models.operator import LatentOperator
from ups.tasks import FIELD_VOCAB, PARAM_VOCAB, TASK_NAMES
from ups.training.checkpoint import LATENT_SHAPE, check_same, load_checkpoint, save_checkpoint


def save(path, cls, **args):
    save_checkpoint(path, cls(**args), args, config={}, step=0)
    return path


def autoencoder(path, dim):
    return save(path, AutoEncoder, fields=list(FIELD_VOCAB), tasks=list(TASK_NAMES), width=16,
                heads=2, encoder_depth=1, decoder_depth=1, latent_dim=dim, patch_values=4)


def operator(path, dim):
    return save(path, LatentOperator, n_tasks=len(TASK_NAMES), n_params=len(PARAM_VOCAB),
                latent_dim=dim, width=16, depth=1)


def test_evaluation_refuses_an_operator_of_another_latent_size(tmp_path):
    torch.manual_seed(0)
    ae = autoencoder(tmp_path / "ae.pt", dim=8)
    op = operator(tmp_path / "op.pt", dim=12)
    with pytest.raises(ValueError, match=r"op.pt: latent_dim is 12, but .*ae.pt has latent_dim 8"):
        load_surrogate(ae, op, tmp_path / "latent")


def test_matching_settings_pass_and_missing_ones_are_not_compared(tmp_path):
    ae = autoencoder(tmp_path / "ae.pt", dim=8)
    op = operator(tmp_path / "op.pt", dim=8)
    check_same(LATENT_SHAPE, (ae, load_checkpoint(ae)["model_args"]),
               (op, load_checkpoint(op)["model_args"]), (tmp_path / "x", {"width": 3}))
