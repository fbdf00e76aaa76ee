"""Encoder, decoder and operator: shapes, shared latent space, and that information flows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ups.data.datasets import grid_positions
from ups.models.autoencoder import AutoEncoder
from ups.models.operator import LatentOperator
from ups.tasks import FIELD_VOCAB, PARAM_VOCAB, TASK_NAMES, get_task


def small_autoencoder(dim=16, patch_values=8):
    torch.manual_seed(0)
    return AutoEncoder(fields=list(FIELD_VOCAB), tasks=list(TASK_NAMES), width=32, heads=4,
                       encoder_depth=1, decoder_depth=1, latent_dim=dim,
                       patch_values=patch_values)


def grid_1d(n):
    return torch.from_numpy(grid_positions({"x": (np.arange(n) + 0.5) / n}))[None]


def test_tokens_are_cells_of_each_task_lattice_in_one_latent_space():
    """patch_values 8: a 1D cell holds 8 points (64 -> 8 tokens); a 2-channel 2D cell 2 x 2
    points (16^2 -> 8^2 tokens); every token has the same width."""
    model = small_autoencoder()
    pos2 = torch.from_numpy(grid_positions({"x": np.arange(16) + 0.5, "y": np.arange(16) + 0.5}))
    z1 = model.encode(grid_1d(64), torch.randn(1, 64, 1), ("u",), "burgers1d")
    z2 = model.encode(pos2[None].expand(3, -1, -1) / 16, torch.randn(3, 256, 2), ("u", "v"),
                      "reaction_diffusion2d")
    assert z1.shape == (1, 8, 16) and z2.shape == (3, 64, 16)


@pytest.mark.parametrize("task, channels, n", [("burgers1d", ("u",), 64),
                                               ("reaction_diffusion2d", ("u", "v"), 16)])
def test_an_untrained_autoencoder_reconstructs_a_grid_exactly(task, channels, n):
    """Cells of at most latent_dim / C values: the local DCT is invertible, so reconstruction
    is exact before any training (the learned parts start at zero)."""
    model = small_autoencoder()
    axes = {a: (np.arange(n) + 0.5) / n for a in ("x", "y")[:get_task(task).dims]}
    pos = torch.from_numpy(grid_positions(axes))[None].expand(2, -1, -1)
    u = torch.randn(2, pos.shape[1], len(channels))
    back = model.decode(model.encode(pos, u, channels, task), pos, channels, task)
    assert (back - u).abs().max() < 1e-4


def test_a_cell_larger_than_the_token_keeps_its_smoothest_part():
    """patch_values 32 with dim 16: 32 points per cell, 16 cosines kept. A field made of the
    kept cosines comes back exactly; adding the highest one loses only that one."""
    model = small_autoencoder(dim=16, patch_values=32)
    pos = grid_1d(64)
    x = (pos[0, :, 0] * 64 % 32) / 32  # position inside each 32-point cell
    smooth = torch.cos(torch.pi * 3 * x)[None, :, None]
    rough = smooth + torch.cos(torch.pi * 31 * x)[None, :, None]
    z = model.encode(pos, smooth, ("u",), "burgers1d")
    assert z.shape == (1, 2, 16)
    assert (model.decode(z, pos, ("u",), "burgers1d") - smooth).abs().max() < 1e-3
    lost = model.decode(model.encode(pos, rough, ("u",), "burgers1d"), pos, ("u",), "burgers1d")
    assert (lost - smooth).abs().max() < 1e-3


def test_decoder_answers_at_arbitrary_points_smoothly():
    """Between the training grid's points the local cosine series interpolates: a smooth field
    asked for on a 4x finer grid comes back close (zero-shot super-resolution)."""
    model = small_autoencoder()
    coarse, fine = grid_1d(64), grid_1d(256)
    field = lambda p: torch.sin(2 * torch.pi * p[..., :1])  # noqa: E731
    z = model.encode(coarse, field(coarse), ("u",), "advection1d")
    out = model.decode(z, fine, ("u",), "advection1d")
    assert out.shape == (1, 256, 1)
    assert (out - field(fine)).abs().max() < 0.05
    out2 = model.decode(torch.randn(2, 64, 16), torch.rand(2, 5, 3), ("u", "v"),
                        "reaction_diffusion2d")
    assert out2.shape == (2, 5, 2)


def test_a_mesh_is_encoded_by_least_squares_in_its_cells():
    """Scattered points: each cell's values are fitted in fewer cosines than it has points; a
    field linear within cells survives, and gradients reach the learned parts."""
    model = small_autoencoder()
    gen = torch.Generator().manual_seed(0)
    pos = torch.zeros(1, 400, 3)
    pos[..., :2] = torch.rand(1, 400, 2, generator=gen)
    u = (0.3 + pos[..., :1] * 0.5)
    z = model.encode(pos, u, ("u",), "darcy2d_mesh")
    back = model.decode(z, pos, ("u",), "darcy2d_mesh")
    assert (back - u).abs().mean() < 0.02
    back.pow(2).mean().backward()
    assert model.decoder.readout_w.grad.abs().max() > 0


def test_encoder_output_depends_on_field_values_and_gradients_reach_encoder():
    model = small_autoencoder()
    pos = grid_1d(32)
    u = torch.randn(1, 32, 1)
    z_a = model.encode(pos, u, ("u",), "advection1d")
    z_b = model.encode(pos, u + 1.0, ("u",), "advection1d")
    assert (z_a - z_b).abs().max() > 1e-3
    loss = model.decode(z_a, pos, ("u",), "advection1d").pow(2).mean()
    loss.backward()
    grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0


def test_operator_starts_as_persistence_and_uses_its_conditioning():
    torch.manual_seed(0)
    op = LatentOperator(n_tasks=len(TASK_NAMES), n_params=len(PARAM_VOCAB), latent_dim=16,
                        width=32, depth=2, dims=(1,))
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
    op = LatentOperator(n_tasks=len(TASK_NAMES), n_params=len(PARAM_VOCAB), latent_dim=16,
                        width=32, depth=2, dims=(1,))
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


def test_operator_is_translation_equivariant_on_a_periodic_lattice():
    """Shared weights across cells and circular padding: shifting the state by a cell shifts
    the prediction by a cell (advection1d is periodic); a walled task sees where cells are."""
    torch.manual_seed(0)
    op = LatentOperator(n_tasks=len(TASK_NAMES), n_params=len(PARAM_VOCAB), latent_dim=8,
                        width=16, depth=2, dims=(1,))
    for p in op.parameters():
        torch.nn.init.normal_(p, std=0.2)
    z = torch.randn(2, 8, 8)
    ones = torch.ones(2, len(PARAM_VOCAB))
    for task, equivariant in (("advection1d", True), ("diffusion_sorption1d", False)):
        cond = {"task_ids": torch.full((2,), TASK_NAMES.index(task)),
                "dt": torch.full((2,), 0.05), "params": ones, "param_mask": ones}
        shifted = op(z.roll(1, dims=1), **cond)
        assert torch.allclose(shifted, op(z, **cond).roll(1, dims=1), atol=1e-5) == equivariant
