"""Autoregressive rollouts in latent space, decoded to physical fields; and the baselines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ups.data.datasets import Normaliser
from ups.models.autoencoder import AutoEncoder
from ups.models.operator import LatentOperator


@dataclass
class Surrogate:
    """The trained pieces needed to predict one task in physical units."""

    autoencoder: AutoEncoder
    operator: LatentOperator
    z_mean: torch.Tensor  # (D,) latent normalisation the operator was trained in
    z_std: torch.Tensor
    norm: Normaliser  # field normalisation of the task
    task: str
    channels: tuple[str, ...]
    pos: torch.Tensor  # (P, 3) query positions of the task's grid

    @torch.no_grad()
    def decode(self, z: torch.Tensor, spatial: tuple[int, ...], chunk: int = 64) -> np.ndarray:
        """Latent states (M, L, D) in operator units -> physical fields (M, *spatial, C)."""
        z = z * self.z_std + self.z_mean
        out = []
        for s in range(0, len(z), chunk):
            zc = z[s:s + chunk]
            u = self.autoencoder.decode(zc, self.pos.expand(len(zc), -1, -1), self.channels,
                                        self.task)  # (m, P, C)
            out.append(self.norm.decode(u).numpy())
        return np.concatenate(out).reshape(len(z), *spatial, len(self.channels))

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


def decode_trajectories(model: Surrogate, z: torch.Tensor, spatial: tuple[int, ...]) -> np.ndarray:
    """(B, T, L, D) latent trajectories -> (B, T, *spatial, C) physical fields."""
    b, n_t = z.shape[:2]
    u = model.decode(z.reshape(b * n_t, *z.shape[2:]), spatial)
    return u.reshape(b, n_t, *u.shape[1:])


def persistence_one_step(truth: np.ndarray) -> np.ndarray:
    """u(t + 1) = u(t): (B, T, ...) -> predictions of steps 1..T-1, (B, T-1, ...)."""
    return truth[:, :-1]


def persistence_rollout(truth: np.ndarray) -> np.ndarray:
    """u(t) = u(0) for every t: (B, T, ...) -> (B, T, ...)."""
    return np.repeat(truth[:, :1], truth.shape[1], axis=1)
