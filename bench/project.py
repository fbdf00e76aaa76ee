"""A fresh git + DVC copy of the project for a benchmark run (shared by the bench scripts)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench scripts run as `python bench/x.py`: make `ups` importable
    sys.path.insert(0, str(ROOT))
# The pipeline's files; a copy needs nothing else (no data, no caches, no git history).
FILES = ("dvc.yaml", "params.yaml", "stages", "ups", ".gitignore", "web/plots_template.html")
# A copy starts without a champion (the project's record belongs to the project's own runs).
NO_CHAMPION = ("champion/champion.json", '{"run": null, "tasks": {}}\n')
# DVC's own files of the project (plot templates, config), copied in after `dvc init`.
DVC_FILES = (".dvc/plots", ".dvc/config")


# Small enough that the whole pipeline runs in well under a minute on 2 cores.
TINY = {
    "simulate": {
        "burgers1d": {"n_traj": 12, "nx": 32, "nt": 9, "t_end": 0.5, "nu": [0.01, 0.1]},
        "advection1d": {"n_traj": 12, "nx": 32, "nt": 9, "t_end": 0.5, "beta": [0.4, 1.0]},
        "reaction_diffusion2d": {"n_traj": 10, "nx": 16, "nt": 6, "t_end": 1.0, "ic_modes": 2},
    },
    "convert": {"val_fraction": 0.2, "test_fraction": 0.2},
    "latent": {"dim": 8, "patch_values": 4},
    "model": {"width": 32, "heads": 4, "encoder_depth": 1, "decoder_depth": 1,
              "operator_width": 32, "operator_depth": 1},
    "autoencoder": {"steps": 40, "batch_size": 8, "eval_every": 20, "warmup_steps": 5,
                    "num_queries": 32},
    "operator": {"steps": 40, "batch_size": 8, "eval_every": 20, "warmup_steps": 5,
                 "rollout_steps": 2},
    "corrector": {"width": 16, "depth": 1, "heads": 2,
                  "diffusion": {"steps": 20, "batch_size": 8, "eval_every": 10, "warmup_steps": 2},
                  "distill": {"steps": 10, "batch_size": 8, "eval_every": 5, "warmup_steps": 2},
                  "ttc": {"candidates": 2}},
    "baselines": {"fno": {"width": 8, "modes": 4, "layers": 2,
                          "train": {"steps": 20, "batch_size": 8, "eval_every": 10,
                                    "warmup_steps": 2}}},
    # Tiny models are poor: gates that pass them (tests that need a failing gate set their own).
    "gates": {"proxy": {"max_nrmse": 100.0, "max_vs_persistence": 100.0},
              "full": {"max_nrmse_rollout": 100.0}},
    "eval": {"max_trajectories": 4},
}


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def tiny_params(**override) -> dict:
    base = load_params()
    return merge(merge(base, TINY), override)


def sh(cmd: list[str], cwd: Path) -> str:
    """Run a command in `cwd`; its stdout, or an error with its stderr."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1", TQDM_DISABLE="1")
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd}:\n{done.stderr[-3000:]}")
    return done.stdout


def copy_project(dest: Path) -> Path:
    """The project's pipeline files in `dest` (no data, no caches, no champion)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        src, out = ROOT / name, dest / name
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, out, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, out)
    path, text = NO_CHAMPION
    (dest / path).parent.mkdir(parents=True, exist_ok=True)
    (dest / path).write_text(text)
    return dest


def init_repo(root: Path, commit: str | None = None) -> Path:
    """`git init` + `dvc init` in `root`, with the project's DVC config and plot templates;
    with `commit`, everything is committed under that message."""
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        sh(cmd, root)
    for name in DVC_FILES:
        src = ROOT / name
        copy = shutil.copytree if src.is_dir() else shutil.copy2
        copy(src, root / name)
    if commit is not None:
        for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", commit]):
            sh(cmd, root)
    return root


def fresh_project(work: Path, params: dict | None = None) -> Path:
    """Copy the project into `work` (optionally with other params), `git init` + `dvc init`."""
    work.mkdir(parents=True, exist_ok=True)  # may exist (tempfile.mkdtemp) but must be empty
    if any(work.iterdir()):
        raise ValueError(f"{work}: not empty; benchmarks run in a fresh folder")
    copy_project(work)
    if params is not None:
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return init_repo(work, commit="bench")


def load_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())
