"""The data sections of params.yaml (seed, tasks, simulate, sources, convert): all that the
simulate and convert stages read. They import nothing of the model or training code, so DVC
re-runs them (and re-converts a terabyte PDEBench source) only when data code or these sections
change."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ups.params import ConfigError, check, load_sections
from ups.tasks import TASKS, get_task


@dataclass(frozen=True)
class ConvertConfig:
    val_fraction: float = 0.1  # share of initial states in the validation split
    test_fraction: float = 0.1  # share of initial states in the test split
    # "initial_state": a seeded shuffle of initial-state indices (the default, no leakage);
    # "pdebench": PDEBench's own convention (test = the first share of each single file, the last
    # share of the sorted keys of a group file), to set numbers beside published tables.
    split: str = "initial_state"
    # A trajectory with NaN or Inf values stops the conversion with an error naming it; with
    # true it is skipped instead and counted in the manifest (never silently).
    skip_nonfinite: bool = False

    def validate(self, path: str) -> None:
        check(self.split in ("initial_state", "pdebench"), f"{path}.split", self.split,
              "'initial_state' or 'pdebench'")
        check(0 <= self.val_fraction < 1, f"{path}.val_fraction", self.val_fraction, "in [0, 1)")
        check(0 < self.test_fraction < 1, f"{path}.test_fraction", self.test_fraction, "in (0, 1)")
        total = self.val_fraction + self.test_fraction
        check(total < 1, f"{path}.val_fraction + test_fraction", total, "< 1 (train needs data)")


@dataclass(frozen=True)
class SourceConfig:
    """Where a task's raw data comes from, and how much of it to convert."""

    kind: str = "simulate"  # "simulate" (our solvers) or "pdebench" (a download root)
    root: str = ""  # pdebench: the download root, laid out as the official downloader leaves it
    files: tuple[str, ...] = ()  # pdebench: only these file names (default: every file found)
    max_trajectories: int = 0  # per raw file; 0 = all
    reduced_resolution: int = 1  # keep every n-th grid point along each axis (PDEBench's knob)
    reduced_resolution_t: int = 1  # keep every n-th stored time step

    def validate(self, path: str) -> None:
        check(self.kind in ("simulate", "pdebench"), f"{path}.kind", self.kind,
              "'simulate' or 'pdebench'")
        check(self.kind != "pdebench" or bool(self.root), f"{path}.root", self.root,
              "a PDEBench download root when kind is 'pdebench'")
        check(self.max_trajectories >= 0, f"{path}.max_trajectories", self.max_trajectories,
              ">= 0 (0 means all)")
        for name in ("reduced_resolution", "reduced_resolution_t"):
            check(getattr(self, name) >= 1, f"{path}.{name}", getattr(self, name), ">= 1")


@dataclass(frozen=True)
class DataConfig:
    seed: int
    tasks: tuple[str, ...]
    simulate: dict[str, dict[str, Any]]  # per task; validated by the task's simulator
    sources: dict[str, SourceConfig] = field(default_factory=dict)  # per task; default simulate
    convert: ConvertConfig = field(default_factory=ConvertConfig)

    def source(self, task: str) -> SourceConfig:
        """The raw-data source of `task` (our simulator unless params say otherwise)."""
        return self.sources.get(task, SourceConfig())

    def validate(self, path: str = "") -> None:
        validate_data(self)


def validate_data(cfg: Any) -> None:
    """Check the data sections of `cfg` (a `DataConfig`, or the full `ups.config.Config`)."""
    check(len(cfg.tasks) > 0, "tasks", list(cfg.tasks), "a non-empty list of task names")
    for task in cfg.tasks:
        try:
            get_task(task)
        except ValueError as err:
            raise ConfigError(f"tasks: {err}") from None
    check(len(set(cfg.tasks)) == len(cfg.tasks), "tasks", list(cfg.tasks),
          "a list without repeated names")
    for section in ("simulate", "sources"):
        for task in getattr(cfg, section):
            if task not in TASKS:
                raise ConfigError(f"params: {section}.{task}: unknown task; known tasks: "
                                  f"{sorted(TASKS)}")
    for task, source in cfg.sources.items():
        source.validate(f"sources.{task}")
    cfg.convert.validate("convert")


def load_data_config(path: str | Path = "params.yaml") -> DataConfig:
    """The data sections of the params file at `path`, validated (the other sections are the
    training stages' to check)."""
    return load_sections(DataConfig, path, only_known=True)
