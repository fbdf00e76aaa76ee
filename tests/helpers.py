"""Helpers for tests that run stages and the DVC pipeline in a throwaway copy of the project."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.project import TINY, copy_project, init_repo, merge, tiny_params  # noqa: F401  (shared with bench/)

ROOT = Path(__file__).resolve().parents[1]

# Simulator options of every task, as small as the solvers allow: seconds for all fifteen.
TINY_SIMULATE: dict[str, dict] = {
    "advection1d": {"n_traj": 6, "nx": 16, "nt": 3, "t_end": 0.1, "beta": [0.4]},
    "burgers1d": {"n_traj": 6, "nx": 16, "nt": 3, "t_end": 0.1, "nu": [0.01]},
    "reaction_diffusion2d": {"n_traj": 5, "nx": 8, "nt": 3, "t_end": 0.1, "ic_modes": 2},
    "diffusion_sorption1d": {"n_traj": 6, "nx": 16, "nt": 3, "t_end": 10.0},
    "reaction_diffusion1d": {"n_traj": 6, "nx": 16, "nt": 3, "t_end": 0.1, "nu": [0.5],
                             "rho": [1.0, 5.0]},
    "darcy2d": {"n_traj": 6, "nx": 8, "beta": [1.0]},
    "navier_stokes2d": {"n_traj": 8, "nx": 16, "nt": 3, "t_end": 0.1},
    "darcy2d_mesh": {"n_traj": 6, "n_points": 40},
    "particles_advect": {"n_traj": 6, "n_particles": 16, "nt": 3, "t_end": 0.1},
    "compressible_ns1d": {"n_traj": 5, "nx": 16, "nt": 3, "t_end": 0.05, "eta": [0.01],
                          "zeta": [0.01]},
    "compressible_ns2d": {"n_traj": 5, "nx": 8, "nt": 3, "t_end": 0.05, "eta": [0.01],
                          "zeta": [0.01], "mach": [0.1, 1.0]},
    "compressible_ns3d": {"n_traj": 5, "nx": 6, "nt": 3, "t_end": 0.05, "eta": [1e-8],
                          "zeta": [1e-8], "mach": [1.0]},
    "shallow_water2d": {"n_traj": 5, "nx": 20, "nt": 3, "t_end": 0.1},
    "allen_cahn2d": {"n_traj": 5, "nx": 16, "nt": 3, "t_end": 0.1, "eps": 0.05},
    "cahn_hilliard2d": {"n_traj": 5, "nx": 16, "nt": 3, "t_end": 0.001, "eps": 0.05,
                        "ic_modes": 4},
}


def assert_refused_before_work(task: str, opts: dict, key: str, expected: str,
                               out: Path) -> None:
    """`simulate(task, opts)` raises a ValueError naming the task, the key, its value and what
    was `expected`, before creating `out`."""
    from ups.data.simulate import simulate

    with pytest.raises(ValueError) as err:
        simulate(task, opts, out, 0)
    message = str(err.value)
    assert f"'{key}'" in message and repr(opts[key]) in message and expected in message
    assert task in message and "expected" in message
    assert not out.exists()


def tree_bytes(path: Path) -> dict[str, bytes]:
    """Every file under `path` (or `path` itself) by relative name: byte-for-byte comparisons."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


def assert_seed_decides_bytes(task: str, opts: dict, tmp_path: Path) -> None:
    """The same seed writes byte-identical raw files, another seed different ones."""
    from ups.data.simulate import simulate

    a, b, c = (simulate(task, opts, tmp_path / name, seed)
               for name, seed in (("a", 3), ("b", 3), ("c", 4)))
    assert [tree_bytes(p) for p in a] == [tree_bytes(p) for p in b]
    assert tree_bytes(a[0]) != tree_bytes(c[0])


def readme_commands(prefix: str, section: str | None = None) -> list[str]:
    """The README's shell lines (in ```bash blocks) that start with `prefix`, their trailing
    `# ...` comment removed; with `section`, only those under the heading that contains it.
    Tests run them as pasted, so the README and the tests cannot drift apart."""
    found, heading, in_bash = [], "", False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            in_bash = not in_bash and line.strip() == "```bash"
        elif not in_bash and line.startswith("#"):
            heading = line
        elif in_bash and line.startswith(prefix) and (section is None or section in heading):
            found.append(re.sub(r"\s+#\s.*$", "", line).strip())
    assert found, f"README.md has no `{prefix}` line" + (f" under '{section}'" if section else "")
    return list(dict.fromkeys(found))  # each distinct command once


def write_params(path: Path, params: dict) -> None:
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: int = 600):
    env = dict(os.environ, PYTHONPATH=str(cwd))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
    return proc


def stage(name: str, *args: str, cwd: Path, check: bool = False):
    return run([sys.executable, "-m", f"stages.{name}", *args], cwd=cwd, check=check)


def processes_mentioning(text: str) -> list[int]:
    """Ids of the processes whose command line contains `text` (Linux /proc)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                found.append(int(pid))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # gone meanwhile
    return found


def tiny_burgers(root: Path) -> Path:
    """Tiny burgers1d raw data in `root`/raw, converted into `root`/conv (returned: the folder
    of converted stores a training stage takes)."""
    from ups.config import ConvertConfig
    from ups.data.convert import convert_task
    from ups.data.simulate import simulate
    from ups.tasks import get_task

    simulate("burgers1d", TINY_SIMULATE["burgers1d"], root / "raw", seed=0)
    convert_task(get_task("burgers1d"), root / "raw", root / "conv" / "burgers1d",
                 ConvertConfig(0.2, 0.2), seed=0)
    return root / "conv"


def save_operator(path: Path, model, args: dict, autoencoder: Path | None, z_mean=None,
                  z_std=None) -> Path:
    """An operator checkpoint as `train_operator` writes it: its latent normalisation (default
    identity) and the md5 of the autoencoder that made the caches (None: a foreign one)."""
    from ups.io import file_md5
    from ups.training.checkpoint import save_checkpoint

    dim = args["latent_dim"]
    extra = {"z_mean": list(map(float, [0.0] * dim if z_mean is None else z_mean)),
             "z_std": list(map(float, [1.0] * dim if z_std is None else z_std)),
             "autoencoder_md5": "0" * 32 if autoencoder is None else file_md5(autoencoder)}
    save_checkpoint(path, model, args, config={}, step=0, extra=extra)
    return path
