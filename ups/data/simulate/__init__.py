"""Small, real numerical solvers that write PDEBench-layout raw files for UPS's default tasks.

`simulate(task, opts, out_dir, seed)` validates the task's options (params.yaml
`simulate.<task>`) before doing any work or creating any file, runs the task's solver over the
whole batch of trajectories and writes the files PDEBench would (see `layouts`). The same seed
gives identical data; the 1D parameter files of one task share their initial states.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ups.data.simulate.advection import simulate_advection1d
from ups.data.simulate.burgers import simulate_burgers1d
from ups.data.simulate.diffusion_reaction import DEFAULTS as _FHN_DEFAULTS
from ups.data.simulate.diffusion_reaction import simulate_reaction_diffusion2d

Simulator = Callable[[Mapping[str, Any], Path, int], "list[Path]"]
Check = Callable[[str, str, Any], Any]  # (task, key, value) -> normalised value, or ValueError


# ---- option checks ---------------------------------------------------------------------------


def _fail(task: str, key: str, value: Any, expected: str) -> None:
    raise ValueError(f"simulate.{task}: option '{key}' is {value!r}; expected {expected}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def _int_at_least(low: int) -> Check:
    def check(task: str, key: str, value: Any) -> int:
        if not _is_int(value) or value < low:
            _fail(task, key, value, f"an integer >= {low}")
        return int(value)
    return check


def _positive_real(task: str, key: str, value: Any) -> float:
    if not _is_real(value) or value <= 0:
        _fail(task, key, value, "a finite number > 0")
    return float(value)


def _nonnegative_real(task: str, key: str, value: Any) -> float:
    if not _is_real(value) or value < 0:
        _fail(task, key, value, "a finite number >= 0")
    return float(value)


def _real(task: str, key: str, value: Any) -> float:
    if not _is_real(value):
        _fail(task, key, value, "a finite number")
    return float(value)


def _real_list(minimum: float | None, what: str) -> Check:
    """A non-empty list of distinct finite numbers (>= minimum); one output file per entry."""
    expected = (f"a non-empty list of distinct finite numbers"
                f"{'' if minimum is None else f' >= {minimum:g}'} ({what})")

    def check(task: str, key: str, value: Any) -> list[float]:
        if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
            _fail(task, key, value, expected)
        items = list(value)
        if not items or not all(_is_real(v) and (minimum is None or v >= minimum) for v in items):
            _fail(task, key, value, expected)
        floats = [float(v) for v in items]  # 1 -> 1.0: file names like PDEBench's `Nu1.0`
        if len(set(floats)) != len(floats):
            _fail(task, key, value, expected)
        return floats
    return check


_COMMON: dict[str, Check] = {
    "n_traj": _int_at_least(1),
    "nx": _int_at_least(4),
    "nt": _int_at_least(2),
    "t_end": _positive_real,
}

# Per task: (required options, optional options with their defaults and checks).
_OPTIONS: dict[str, tuple[dict[str, Check], dict[str, tuple[Any, Check]]]] = {
    "burgers1d": ({**_COMMON, "nu": _real_list(0.0, "PDEBench's nu; viscosity nu/pi")}, {}),
    "advection1d": ({**_COMMON, "beta": _real_list(None, "advection speeds")}, {}),
    "reaction_diffusion2d": (
        {**_COMMON, "ic_modes": _int_at_least(1)},
        {
            "du": (_FHN_DEFAULTS["du"], _nonnegative_real),
            "dv": (_FHN_DEFAULTS["dv"], _nonnegative_real),
            "k": (_FHN_DEFAULTS["k"], _real),
        },
    ),
}


def validate_options(task: str, opts: Mapping[str, Any]) -> dict[str, Any]:
    """Check a task's options and return them normalised (optional keys filled in).

    Raises ValueError naming the key, its value and what was expected.
    """
    if task not in _OPTIONS:
        raise ValueError(f"simulate: unknown task '{task}'; known tasks: {sorted(_OPTIONS)}")
    required, optional = _OPTIONS[task]
    if not isinstance(opts, Mapping):
        raise ValueError(f"simulate.{task}: options are {opts!r}; expected a mapping of "
                         f"{sorted(required)}")
    known = sorted([*required, *optional])
    for key in opts:
        if key not in required and key not in optional:
            raise ValueError(f"simulate.{task}: unknown option '{key}' = {opts[key]!r}; "
                             f"expected only {known}")
    missing = [key for key in required if key not in opts]
    if missing:
        raise ValueError(f"simulate.{task}: missing option(s) {missing}; expected all of "
                         f"{sorted(required)}")
    out = {key: check(task, key, opts[key]) for key, check in required.items()}
    for key, (default, check) in optional.items():
        out[key] = check(task, key, opts.get(key, default))
    if task == "reaction_diffusion2d" and 2 * out["ic_modes"] >= out["nx"]:
        # Modes |k| <= ic_modes on the periodic extension must sit below the grid's Nyquist.
        _fail(task, "ic_modes", out["ic_modes"],
              f"an integer < nx/2 = {out['nx'] / 2:g} so the grid resolves every mode")
    return out


# ---- the registry --------------------------------------------------------------------------


def _checked(task: str, run: Simulator) -> Simulator:
    """`run` behind option and seed validation, so no work starts on bad options."""
    def simulator(opts: Mapping[str, Any], out_dir: Path, seed: int) -> list[Path]:
        clean = validate_options(task, opts)
        if not _is_int(seed) or seed < 0:
            raise ValueError(f"simulate.{task}: seed is {seed!r}; expected an integer >= 0")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        return run(clean, out_dir, int(seed))
    simulator.__name__ = run.__name__
    simulator.__doc__ = run.__doc__
    return simulator


SIMULATORS: dict[str, Simulator] = {
    "burgers1d": _checked("burgers1d", simulate_burgers1d),
    "advection1d": _checked("advection1d", simulate_advection1d),
    "reaction_diffusion2d": _checked("reaction_diffusion2d", simulate_reaction_diffusion2d),
}


def simulate(task: str, opts: Mapping[str, Any], out_dir: Path, seed: int) -> list[Path]:
    """Simulate `task` with `opts` into `out_dir`; returns the written files' paths.

    Raises ValueError for an unknown task (listing the known ones) or bad options, before any
    work is done or any file is created.
    """
    if task not in SIMULATORS:
        raise ValueError(f"simulate: unknown task '{task}'; known tasks: {sorted(SIMULATORS)}")
    return SIMULATORS[task](opts, out_dir, seed)


__all__ = ["SIMULATORS", "simulate", "validate_options"]
