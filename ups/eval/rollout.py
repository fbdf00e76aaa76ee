"""Autoregressive rollouts in latent space, decoded to physical fields; and the baselines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ups.data.datasets import Geometry, Normaliser
from ups.models.autoencoder import AutoEncoder
from ups.models.operator import LatentOperator


@dataclass
class Surrogate:
    """The trained pieces needed to predict one task in physical units."""

    autoencoder: AutoEncoder
    operator: LatentOperator
    z_mean: torch.Tensor  # (D,) latent normalisation the operator was trained in
    z_std: torch.Tensor
    norm: Normaliser  # the task's field normalisation in the autoencoder's units
    task: str
    channels: tuple[str, ...]
    geometry: Geometry  # where the task's values live (a grid, or each sample's points)
    physical: Normaliser  # the statistics of the physical fields (baselines, TTC scales)
    scale: np.ndarray | None = None  # (N,) per test trajectory, where `norm.by` is set

    @torch.no_grad()
    def decode(self, z: torch.Tensor, traj: np.ndarray, step: np.ndarray,
               chunk: int = 64, positions: np.ndarray | None = None) -> np.ndarray:
        """Latent states (M, L, D) in operator units of trajectories `traj` (M,) at steps
        `step` (M,) -> physical fields (M, P, C) at those samples' points, or at `positions`
        (P, 3) in the task's normalised coordinates (any points: the decoder is continuous)."""
        z = z * self.z_std + self.z_mean
        out = []
        for s in range(0, len(z), chunk):
            part = slice(s, s + chunk)
            pos = (self.geometry.at(traj[part], step[part]) if positions is None
                   else np.repeat(positions[None], len(z[part]), axis=0))
            pos = torch.from_numpy(np.ascontiguousarray(pos, dtype=np.float32))
            u = self.autoencoder.decode(z[part], pos, self.channels, self.task)  # (m, P, C)
            scale = None if self.scale is None else self.scale[traj[part]]
            out.append(self.norm.decode(u, scale).numpy())
        return np.concatenate(out)

    @torch.no_grad()
    def rollout(self, z0: torch.Tensor, steps: int, cond: dict) -> torch.Tensor:
        """z0 (B, L, D) -> (B, steps + 1, L, D), the given state first."""
        return torch.cat([z0[:, None], self.operator.rollout(z0, steps, **cond)], dim=1)

    @torch.no_grad()
    def one_step(self, z: torch.Tensor, cond: dict) -> torch.Tensor:
        """True latent states (B, T, L, D) -> one-step predictions (B, T-1, L, D)."""
        b, n_t = z.shape[:2]
        flat_cond = {k: v.repeat_interleave(n_t - 1, dim=0) for k, v in cond.items()}
        pred = self.operator(z[:, :-1].reshape(b * (n_t - 1), *z.shape[2:]), **flat_cond)
        return pred.reshape(b, n_t - 1, *z.shape[2:])

    @torch.no_grad()
    def steady(self, z_in: torch.Tensor, cond: dict) -> torch.Tensor:
        """Input-field latents (B, L, D) -> solution latents (B, 1, L, D)."""
        return self.operator.steady(z_in, **cond)[:, None]


def decode_trajectories(model: Surrogate, z: torch.Tensor, spatial: tuple[int, ...],
                        first_step: int = 0, positions: np.ndarray | None = None) -> np.ndarray:
    """(B, T, L, D) latent trajectories of test trajectories 0..B-1, whose first state is
    stored step `first_step` -> (B, T, *spatial, C) physical fields (at `positions` (P, 3),
    a grid of shape `spatial`, if given)."""
    b, n_t = z.shape[:2]
    traj = np.repeat(np.arange(b), n_t)
    step = np.tile(np.arange(first_step, first_step + n_t), b)
    u = model.decode(z.reshape(b * n_t, *z.shape[2:]), traj, step,
                     positions=positions)  # (B T, P, C)
    return u.reshape(b, n_t, *spatial, u.shape[-1])


def persistence_one_step(truth: np.ndarray) -> np.ndarray:
    """u(t + 1) = u(t): (B, T, ...) -> predictions of steps 1..T-1, (B, T-1, ...)."""
    return truth[:, :-1]


def persistence_rollout(truth: np.ndarray) -> np.ndarray:
    """u(t) = u(0) for every t: (B, T, ...) -> (B, T, ...)."""
    return np.repeat(truth[:, :1], truth.shape[1], axis=1)
