"""The GPU-scale profile (configs/gpu-80gb.args) is a valid set of overrides of params.yaml."""

from __future__ import annotations

import shlex

import yaml
from helpers import ROOT, merge

from ups.config import config_from_dict


def overrides(path) -> dict:
    """`-S key=value` pairs -> a nested dict, values parsed as YAML (as `dvc exp run -S` does)."""
    words = shlex.split(path.read_text())
    out: dict = {}
    for flag, assignment in zip(words[::2], words[1::2], strict=True):
        assert flag == "-S", flag
        key, value = assignment.split("=", 1)
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return out


def test_gpu_profile_is_valid_and_large():
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    cfg = config_from_dict(merge(base, overrides(ROOT / "configs/gpu-80gb.args")))
    assert (cfg.latent.patch_values, cfg.latent.dim) == (128, 64)  # 1/4 of the bytes
    assert (cfg.model.operator_depth, cfg.model.operator_width, cfg.model.heads) == (8, 256, 8)
    assert cfg.operator.precision == cfg.autoencoder.precision == "auto"
    assert cfg.operator.horizon() == ((0, 1), (10000, 2), (25000, 4))
