"""Typed params: the committed params.yaml loads; bad keys and values name themselves."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from ups.config import ConfigError, config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_change(path: str, value):
    data = copy.deepcopy(PARAMS)
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[p]
    node[last] = value
    return data


def test_committed_params_load():
    cfg = load_config(ROOT / "params.yaml")
    assert cfg.tasks == ("burgers1d", "advection1d", "reaction_diffusion2d")
    assert cfg.latent.dim > 0 and cfg.latent.patch_values > 0
    assert set(cfg.tasks) <= set(cfg.simulate)


@pytest.mark.parametrize("path, value, message", [
    ("latent.dim", 0, "latent.dim must be a positive integer, got 0"),
    ("latent.dim", -3, "latent.dim must be a positive integer, got -3"),
    ("latent.patch_values", 2.5, "latent.patch_values must be an integer, got 2.5"),
    ("latent.dim", 1, "latent.dim must be >= 2, the most channels a task in `tasks` has"),
    ("tasks", ["burgers1d", "navier_stokes9d"], "unknown task 'navier_stokes9d'"),
    ("tasks", [], "tasks must be a non-empty list"),
    ("operator.lr", -1.0, "operator.lr must be a positive number"),
    ("convert.test_fraction", 1.5, "convert.test_fraction must be in (0, 1)"),
    ("model.width", 66, "model.width must be a multiple of model.heads=4"),
    ("operator.optimizer", "sgd", "operator.optimizer must be 'adamw' or 'muon'"),
    ("autoencoder.precision", "fp16", "autoencoder.precision must be 'fp32', 'bf16' or 'auto'"),
    ("operator.ema_decay", 1.0, "operator.ema_decay must be in [0, 1)"),
    ("operator.losses", {"spectral": -1.0}, "operator.losses.spectral must be >= 0"),
    ("operator.horizon_schedule", [[5, 1]], "operator.horizon_schedule: schedule starts"),
    ("autoencoder.task_schedule", [[0, 0]], "autoencoder.task_schedule: schedule entry 0"),
    ("operator.task_weights", "loss", "operator.task_weights must be 'uniform', 'size' or"),
    ("baselines.pod.modes", [], "baselines.pod.modes must be a non-empty list of positive"),
    ("baselines.pod.modes", [8, 0], "baselines.pod.modes must be a non-empty list of positive"),
    ("baselines.pod.modes", [8.5], "baselines.pod.modes must be an integer, got 8.5"),
    ("baselines.pod.ridge", [1e-3, -1.0], "baselines.pod.ridge must be a non-empty list of"),
])
def test_bad_values_name_the_key(path, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_dict(with_change(path, value))


@pytest.mark.parametrize("path", ["autoencoder.lr", "operator.weight_decay",
                                  "corrector.sigma_max", "gates.proxy.max_nrmse",
                                  "operator.losses.spectral", "convert.val_fraction"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), "inf", "nan"])
def test_non_finite_numbers_are_refused_naming_the_key(path, value):
    """`lr: .inf` would train a model of NaNs; `-S x=nan` arrives as a string."""
    with pytest.raises(ConfigError, match=re.escape(f"{path} must be a finite number")):
        config_from_dict(with_change(path, value))


def test_data_stages_read_only_the_data_sections(tmp_path):
    """simulate and convert load the data sections alone: a typo in a training section is the
    training stages' to refuse, and their code does not import the training config."""
    from ups.data.config import load_data_config

    params = with_change("operator.lrr", 1.0)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    cfg = load_data_config(tmp_path / "p.yaml")
    assert cfg.tasks == tuple(PARAMS["tasks"]) and cfg.convert.test_fraction == 0.1
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['lrr'\] in operator"):
        load_config(tmp_path / "p.yaml")
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(with_change("convert.split", "random")))
    with pytest.raises(ConfigError, match="p.yaml: params: convert.split must be"):
        load_data_config(tmp_path / "p.yaml")


def test_unknown_key_is_rejected_with_the_section_named():
    data = with_change("latent.dimm", 8)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['dimm'\] in latent"):
        config_from_dict(data)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="parameter file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [a\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_exponent_without_a_dot_is_a_number_and_words_are_not(tmp_path):
    """YAML 1.1 reads `1e-9` (as `dvc exp run -S x=1e-9` writes it) as a string."""
    params = yaml.safe_load(open("params.yaml"))
    params["gates"]["proxy"]["max_nrmse"] = "1e-9"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    assert load_config(tmp_path / "p.yaml").gates.proxy.max_nrmse == 1e-9
    params["gates"]["proxy"]["max_nrmse"] = "small"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match="gates.proxy.max_nrmse must be a number, got 'small'"):
        load_config(tmp_path / "p.yaml")
