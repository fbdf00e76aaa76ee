"""Encoder + any-point decoder as one module, rebuilt from its constructor arguments alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ups.models.decoder import Decoder
from ups.models.encoder import Encoder
from ups.tasks import FIELD_VOCAB, TASK_NAMES, get_task

if TYPE_CHECKING:  # a type only: encoding a cache needs no params (nor DVC deps on them)
    from ups.config import Config


class AutoEncoder(nn.Module):
    def __init__(self, fields: list[str], tasks: list[str], width: int, heads: int,
                 encoder_depth: int, decoder_depth: int, latent_dim: int, patch_values: int):
        super().__init__()
        # The vocabularies travel with the checkpoint: ids are looked up by name, so a registry
        # that grows later does not silently re-map a trained model's embeddings.
        self.field_names, self.task_names = list(fields), list(tasks)
        self.latent_dim = latent_dim
        self.encoder = Encoder(len(fields), len(tasks), width, heads, encoder_depth, latent_dim,
                               patch_values)
        self.decoder = Decoder(len(fields), len(tasks), width, heads, decoder_depth, latent_dim,
                               patch_values)

    @property
    def device(self) -> torch.device:
        return self.encoder.out.weight.device

    def field_ids(self, channels: tuple[str, ...] | list[str]) -> torch.Tensor:
        return torch.tensor([self.field_names.index(c) for c in channels], dtype=torch.long,
                            device=self.device)

    def task_ids(self, task: str, batch: int) -> torch.Tensor:
        return torch.full((batch,), self.task_names.index(task), dtype=torch.long,
                          device=self.device)

    def encode(self, pos: torch.Tensor, values: torch.Tensor, channels, task: str) -> torch.Tensor:
        """pos (B, N, 3), values (B, N, C) normalised -> z (B, L, D), L the task's lattice."""
        spec = get_task(task)
        return self.encoder(pos, values, self.field_ids(channels), self.task_ids(task, len(pos)),
                            spec.dims, spec.kind == "grid")

    def decode(self, z: torch.Tensor, query_pos: torch.Tensor, channels, task: str) -> torch.Tensor:
        """z (B, L, D), query_pos (B, Q, 3) -> normalised values (B, Q, C)."""
        spec = get_task(task)
        return self.decoder(z, query_pos, self.field_ids(channels), self.task_ids(task, len(z)),
                            spec.dims, spec.kind == "grid")


def autoencoder_args(cfg: Config) -> dict[str, Any]:
    m = cfg.model
    return dict(fields=list(FIELD_VOCAB), tasks=list(TASK_NAMES), width=m.width, heads=m.heads,
                encoder_depth=m.encoder_depth, decoder_depth=m.decoder_depth,
                latent_dim=cfg.latent.dim, patch_values=cfg.latent.patch_values)
