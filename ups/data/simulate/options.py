"""Option checks for the simulators: every bad value is refused, naming the key, before any work.

A family module declares, per task, a `SimulatorSpec`: the function that runs it, its required
options and optional ones (with defaults), each with a `Check`, plus an optional cross-option
check (CFL limits, Nyquist conditions). `validate` applies them all.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Check = Callable[[str, str, Any], Any]  # (task, key, value) -> normalised value, or ValueError
Run = Callable[[dict[str, Any], Path, int], "list[Path]"]  # (clean options, out_dir, seed)


def fail(task: str, key: str, value: Any, expected: str) -> None:
    """Raise the one error message format every option check uses."""
    raise ValueError(f"simulate.{task}: option '{key}' is {value!r}; expected {expected}")


def is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def int_at_least(low: int) -> Check:
    def check(task: str, key: str, value: Any) -> int:
        if not is_int(value) or value < low:
            fail(task, key, value, f"an integer >= {low}")
        return int(value)
    return check


def positive_real(task: str, key: str, value: Any) -> float:
    if not is_real(value) or value <= 0:
        fail(task, key, value, "a finite number > 0")
    return float(value)


def nonnegative_real(task: str, key: str, value: Any) -> float:
    if not is_real(value) or value < 0:
        fail(task, key, value, "a finite number >= 0")
    return float(value)


def real(task: str, key: str, value: Any) -> float:
    if not is_real(value):
        fail(task, key, value, "a finite number")
    return float(value)


def real_in(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Check:
    """A finite number in [low, high] (either end open if asked)."""
    lo_b, hi_b = "(" if low_open else "[", ")" if high_open else "]"
    expected = f"a finite number in {lo_b}{low:g}, {high:g}{hi_b}"

    def check(task: str, key: str, value: Any) -> float:
        ok = is_real(value)
        if ok:
            v = float(value)
            ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
        if not ok:
            fail(task, key, value, expected)
        return float(value)
    return check


def real_list(minimum: float | None, what: str, *, strict: bool = False) -> Check:
    """A non-empty list of distinct finite numbers (>= minimum, or > it if `strict`); one output
    file per entry."""
    bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum:g}"
    expected = f"a non-empty list of distinct finite numbers{bound} ({what})"

    def in_range(v: Any) -> bool:
        if not is_real(v):
            return False
        return minimum is None or (v > minimum if strict else v >= minimum)

    def check(task: str, key: str, value: Any) -> list[float]:
        if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
            fail(task, key, value, expected)
        items = list(value)
        if not items or not all(in_range(v) for v in items):
            fail(task, key, value, expected)
        floats = [float(v) for v in items]  # 1 -> 1.0: file names like PDEBench's `Nu1.0`
        if len(set(floats)) != len(floats):
            fail(task, key, value, expected)
        return floats
    return check


# Options every time-dependent grid task has.
COMMON: dict[str, Check] = {
    "n_traj": int_at_least(1),
    "nx": int_at_least(4),
    "nt": int_at_least(2),
    "t_end": positive_real,
}


@dataclass(frozen=True)
class SimulatorSpec:
    """How to run and validate one task's simulator."""

    run: Run
    required: dict[str, Check]
    optional: dict[str, tuple[Any, Check]] = field(default_factory=dict)
    # Cross-option check on the normalised options (task, opts); raises via `fail`.
    check: Callable[[str, dict[str, Any]], None] | None = None


def validate(task: str, spec: SimulatorSpec, opts: Mapping[str, Any]) -> dict[str, Any]:
    """Check `opts` against `spec`; return them normalised, optional keys filled in."""
    if not isinstance(opts, Mapping):
        raise ValueError(f"simulate.{task}: options are {opts!r}; expected a mapping of "
                         f"{sorted(spec.required)}")
    known = sorted([*spec.required, *spec.optional])
    for key in opts:
        if key not in spec.required and key not in spec.optional:
            raise ValueError(f"simulate.{task}: unknown option '{key}' = {opts[key]!r}; "
                             f"expected only {known}")
    missing = [key for key in spec.required if key not in opts]
    if missing:
        raise ValueError(f"simulate.{task}: missing option(s) {missing}; expected all of "
                         f"{sorted(spec.required)}")
    out = {key: check(task, key, opts[key]) for key, check in spec.required.items()}
    for key, (default, check) in spec.optional.items():
        out[key] = check(task, key, opts.get(key, default))
    if spec.check is not None:
        spec.check(task, out)
    return out
