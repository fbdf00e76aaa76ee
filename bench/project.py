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
