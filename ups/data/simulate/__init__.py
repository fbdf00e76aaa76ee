"""Small, real numerical solvers that write PDEBench-layout raw files for every UPS task.

`simulate(task, opts, out_dir, seed)` validates the task's options (params.yaml
`simulate.<task>`) before doing any work or creating any file, runs the task's solver over the
whole batch of trajectories and writes the files PDEBench would (see `layouts`), or UPS's own
zarr layout for the mesh and particle tasks. The same seed gives identical data; the 1D
parameter files of one task share their initial states.

Each PDE family lives in its own module, which declares its tasks in a `SPECS` mapping
(task -> `options.SimulatorSpec`); this package only gathers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ups.data.simulate import (
    advection,
    burgers,
    compressible,
    darcy,
    diffusion_reaction,
    fisher_kpp,
    incompressible,
    mesh_darcy,
    particles,
    phase_field,
    shallow_water,
    sorption,
)
from ups.data.simulate.options import SimulatorSpec, is_int, validate

_FAMILIES = (advection, burgers, sorption, fisher_kpp, compressible, darcy, diffusion_reaction,
             shallow_water, incompressible, mesh_darcy, particles, phase_field)
SPECS: dict[str, SimulatorSpec] = {}
for _module in _FAMILIES:
    SPECS.update(_module.SPECS)


def _known(task: str) -> SimulatorSpec:
    if task not in SPECS:
        raise ValueError(f"simulate: unknown task '{task}'; known tasks: {sorted(SPECS)}")
    return SPECS[task]


def validate_options(task: str, opts: Mapping[str, Any]) -> dict[str, Any]:
    """Check a task's options and return them normalised (optional keys filled in).

    Raises ValueError naming the key, its value and what was expected.
    """
    return validate(task, _known(task), opts)


def simulate(task: str, opts: Mapping[str, Any], out_dir: Path, seed: int) -> list[Path]:
    """Simulate `task` with `opts` into `out_dir`; returns the written files' paths.

    Raises ValueError for an unknown task (listing the known ones), bad options or a bad seed,
    before any work is done or any file is created.
    """
    spec = _known(task)
    clean = validate(task, spec, opts)
    if not is_int(seed) or seed < 0:
        raise ValueError(f"simulate.{task}: seed is {seed!r}; expected an integer >= 0")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return spec.run(clean, out_dir, int(seed))

__all__ = ["SPECS", "simulate", "validate_options"]
