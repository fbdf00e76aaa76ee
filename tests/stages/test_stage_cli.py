"""Stage CLIs: --help explains; bad input fails fast with one clear line and leaves nothing."""

from __future__ import annotations

import pytest
from helpers import copy_project, stage, tiny_burgers, tiny_params, write_params

STAGES = ["simulate", "convert", "train_autoencoder", "encode", "train_operator", "gate",
          "train_diffusion", "distill", "train_fno", "train_pod", "eval", "superres", "report",
          "leaderboard", "promote", "remote"]
NO_PARAMS = {"encode", "leaderboard", "promote", "remote"}  # commands that read no parameters


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("proj"))
    write_params(root / "params.yaml", tiny_params())
    return root


@pytest.mark.parametrize("name", STAGES)
def test_every_stage_has_a_help(project, name):
    proc = stage(name, "--help", cwd=project)
    assert proc.returncode == 0
    assert "usage:" in proc.stdout
    assert ("--params" in proc.stdout) == (name not in NO_PARAMS)


def test_unknown_task_names_the_task_and_the_known_ones(project):
    proc = stage("simulate", "navier_stokes9d", "--out", "data/raw/x", cwd=project)
    assert proc.returncode == 1
    assert "unknown task 'navier_stokes9d'" in proc.stderr and "burgers1d" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (project / "data/raw/x").exists()


def test_non_positive_latent_dim_fails_before_work(project, tmp_path):
    params = tmp_path / "bad.yaml"
    write_params(params, tiny_params(latent={"patch_values": 8, "dim": 0}))
    proc = stage("train_autoencoder", "--data", "data/converted", "--out", "models/ae.pt",
                 "--params", str(params), cwd=project)
    assert proc.returncode == 1
    assert "latent.dim must be a positive integer, got 0" in proc.stderr
    assert not (project / "models/ae.pt").exists()


def test_a_diverging_training_stage_exits_1_and_writes_no_checkpoint(project, tmp_path):
    """lr 1e30 is finite, so the params pass; the loop stops at the first non-finite loss."""
    params = tmp_path / "diverge.yaml"
    write_params(params, tiny_params(tasks=["burgers1d"], autoencoder={
        "steps": 20, "batch_size": 4, "lr": 1e30, "warmup_steps": 0, "eval_every": 10,
        "num_queries": 16}))
    proc = stage("train_autoencoder", "--data", str(tiny_burgers(tmp_path)), "--out",
                 str(tmp_path / "ae.pt"), "--params", str(params), cwd=project)
    assert proc.returncode == 1, proc.stderr
    assert "autoencoder: loss nan at step" in proc.stderr or \
        "autoencoder: loss inf at step" in proc.stderr, proc.stderr
    assert "last finite loss" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "ae.pt").exists()


def test_train_pod_fits_a_task_and_refuses_another_tasks_store(project, tmp_path):
    conv = tiny_burgers(tmp_path) / "burgers1d"
    ok = stage("train_pod", "burgers1d", "--data", str(conv), "--out", str(tmp_path / "b.npz"),
               cwd=project)
    assert ok.returncode == 0, ok.stderr
    assert "pod burgers1d:" in ok.stderr and "val nRMSE" in ok.stderr
    assert (tmp_path / "b.npz").is_file()
    bad = stage("train_pod", "advection1d", "--data", str(conv), "--out",
                str(tmp_path / "a.npz"), cwd=project)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert f"{conv / 'train.h5'}: holds task 'burgers1d', expected 'advection1d'" in bad.stderr
    assert not (tmp_path / "a.npz").exists() and not list(tmp_path.glob(".a.npz*"))


def test_missing_raw_files_name_the_folder_and_patterns(project):
    (project / "empty_raw").mkdir()
    proc = stage("convert", "burgers1d", "--raw", "empty_raw", "--out", "data/converted/b",
                 cwd=project)
    assert proc.returncode == 1
    assert "empty_raw: no raw files for task burgers1d" in proc.stderr
    assert "1D_Burgers_Sols_Nu*.hdf5" in proc.stderr
    assert not (project / "data/converted/b").exists()


def test_corrupt_raw_file_fails_and_leaves_no_store(project):
    assert stage("simulate", "advection1d", "--out", "raw_adv", cwd=project).returncode == 0
    victim = sorted((project / "raw_adv").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:4096])
    proc = stage("convert", "advection1d", "--raw", "raw_adv", "--out", "conv_adv", cwd=project)
    assert proc.returncode == 1
    assert victim.name in proc.stderr and "truncated or corrupt" in proc.stderr
    assert not (project / "conv_adv").exists()
    assert not list(project.glob(".conv_adv*"))
