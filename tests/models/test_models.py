"""Encoder, decoder and operator: shapes, shared latent space, and that information flows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ups.data.datasets import grid_positions
from ups.models.autoencoder import AutoEncoder
from ups.models.blocks import DistanceBias, halton
from ups.models.operator import LatentOperator
from ups.tasks import FIELD_VOCAB, PARAM_VOCAB, TASK_NAMES


def small_autoencoder(tokens=8, dim=16):
    torch.manual_seed(0)
    return AutoEncoder(fields=list(FIELD_VOCAB), tasks=list(TASK_NAMES), width=32, heads=4,
                       encoder_depth=1, decoder_depth=1, supernodes=16, neighbours=2,
                       tokens=tokens, latent_dim=dim)


def test_1d_and_2d_tasks_share_one_latent_space():
    model = small_autoencoder()
    pos1 = torch.from_numpy(grid_positions({"x": np.linspace(0.05, 0.95, 10)}))[None]
    pos2 = torch.from_numpy(grid_positions({"x": np.arange(6) + 0.5, "y": np.arange(5) + 0.5}))
    z1 = model.encode(pos1, torch.randn(1, 10, 1), ("u",), "burgers1d")
    z2 = model.encode(pos2[None].expand(3, -1, -1), torch.randn(3, 30, 2), ("u", "v"),
                      "reaction_diffusion2d")
    assert z1.shape == (1, 8, 16) and z2.shape == (3, 8, 16)


def test_decoder_answers_at_arbitrary_points():
    model = small_autoencoder()
    z = torch.randn(2, 8, 16)
    queries = torch.rand(2, 77, 3)
    queries[..., 1:] = 0  # a 1D task: only x is used
    out = model.decode(z, queries, ("u",), "advection1d")
    assert out.shape == (2, 77, 1)
    out2 = model.decode(z, torch.rand(2, 5, 3), ("u", "v"), "reaction_diffusion2d")
    assert out2.shape == (2, 5, 2)


def test_encoder_output_depends_on_field_values_and_gradients_reach_encoder():
    model = small_autoencoder()
    pos = torch.from_numpy(grid_positions({"x": (np.arange(32) + 0.5) / 32}))[None]
    u = torch.randn(1, 32, 1)
    z_a = model.encode(pos, u, ("u",), "advection1d")
    z_b = model.encode(pos, u + 1.0, ("u",), "advection1d")
    assert (z_a - z_b).abs().max() > 1e-3
    loss = model.decode(z_a, pos, ("u",), "advection1d").pow(2).mean()
    loss.backward()
    grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0


def test_distance_bias_prefers_near_anchors_and_ignores_unused_axes():
    bias = DistanceBias(heads=2)
    anchors = halton(8)[None]  # (1, 8, 3)
    x = anchors[:, :3].clone()
    b1 = bias(x, anchors, dims=1)  # (1, 2, 3, 8)
    assert b1.shape == (1, 2, 3, 8)
    # Each point's own anchor (distance 0) gets the largest bias.
    assert (b1[0, 0].argmax(-1) == torch.arange(3)).all()
    # With dims=1, moving the point along y changes nothing.
    x2 = x.clone()
    x2[..., 1] += 0.3
    assert torch.allclose(bias(x2, anchors, dims=1), b1)


def test_halton_points_are_spread_in_every_projection():
    pts = halton(32)
    assert len(torch.unique(pts[:, 0])) == 32
    assert pts.min() > 0 and pts.max() < 1


def test_operator_starts_as_persistence_and_uses_its_conditioning():
    torch.manual_seed(0)
    op = LatentOperator(n_tasks=len(TASK_NAMES), n_params=len(PARAM_VOCAB), tokens=8,
                        latent_dim=16, width=32, heads=4, depth=2)
    z = torch.randn(4, 8, 16)
    ones = torch.ones(4, len(PARAM_VOCAB))
    cond = {"task_ids": torch.zeros(4, dtype=torch.long), "dt": torch.full((4,), 0.05),
            "params": ones, "param_mask": ones}
    assert torch.allclose(op(z, **cond), z)  # zero-initialised output layer: u(t+dt) = u(t)
    torch.nn.init.normal_(op.out.weight, std=0.1)
    for block in op.blocks:
        torch.nn.init.normal_(block.ada[1].weight, std=0.1)
    a = op(z, **cond)
    cond_b = dict(cond, params=torch.full((4, len(PARAM_VOCAB)), 0.01))
    assert (a - op(z, **cond_b)).abs().max() > 1e-4  # PDE parameters reach the output
    cond_c = dict(cond, dt=torch.full((4,), 0.5))
    assert (a - op(z, **cond_c)).abs().max() > 1e-4  # so does dt
    assert op.rollout(z, 3, **cond).shape == (4, 3, 8, 16)


def test_forcing_latents_reach_the_operator_output_and_its_projection():
    torch.manual_seed(0)
    op = LatentOperator(n_tasks=len(TASK_NAMES), n_params=len(PARAM_VOCAB), tokens=8,
                        latent_dim=16, width=32, heads=4, depth=2)
    torch.nn.init.normal_(op.out.weight, std=0.1)
    z, force = torch.randn(4, 8, 16), torch.randn(4, 8, 16)
    ones = torch.ones(4, len(PARAM_VOCAB))
    cond = {"task_ids": torch.zeros(4, dtype=torch.long), "dt": torch.full((4,), 0.05),
            "params": ones, "param_mask": ones}
    # The projection starts at zero: a fresh operator ignores the forcing...
    assert torch.equal(op(z, **cond), op(z, **cond, forcing=force))
    # ...but the loss's gradient reaches it, so training makes it count.
    op(z, **cond, forcing=force).pow(2).mean().backward()
    assert op.force.weight.grad.abs().max() > 0
    torch.nn.init.normal_(op.force.weight, std=0.1)
    a = op(z, **cond, forcing=force)
    assert (a - op(z, **cond, forcing=-force)).abs().max() > 1e-4
    assert (a - op(z, **cond)).abs().max() > 1e-4
    with pytest.raises(ValueError, match="forcing latents"):
        op(z, **cond, forcing=force[:, :4])
