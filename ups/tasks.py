"""The task registry: one `TaskSpec` per task, the single source of truth for what a task is.

A task names a PDE family at a resolution UPS trains on: which PDEBench files hold it, how many
spatial dimensions it has, what its channels mean and which PDE parameters condition it. Readers,
the converter, the model's field vocabulary and evaluation all look tasks up here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    """What UPS knows about one task, independent of where its data comes from."""

    name: str
    pdebench_group: str  # the official downloader's `--pde_name`
    layout: str  # "tensor" (N, T, X) files or "group" files of per-sample `data`
    dims: int  # spatial dimensions
    kind: str  # "grid", "mesh" or "particles"
    channels: tuple[str, ...]  # named fields, in the order the converted store keeps them
    param_names: tuple[str, ...]  # PDE parameters that condition the model (UPS names)
    param_attrs: tuple[str, ...]  # the root attrs of a raw file that hold them (PDEBench names)
    file_patterns: tuple[str, ...]  # glob patterns of raw files, relative to the task's raw dir
    group_axes: str = ""  # group files: axis order of each sample's `data`, e.g. "tyxc"
    steady: bool = False

    @property
    def axes(self) -> tuple[str, ...]:
        """Spatial axis names in the order the converted store keeps them."""
        return ("x", "y", "z")[: self.dims]


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="advection1d",
            pdebench_group="advection",
            layout="tensor",
            dims=1,
            kind="grid",
            channels=("u",),
            param_names=("beta",),
            param_attrs=("beta",),
            file_patterns=("1D_Advection_Sols_beta*.hdf5", "1D_Advection_Sols_beta*.h5"),
        ),
        TaskSpec(
            name="burgers1d",
            pdebench_group="burgers",
            layout="tensor",
            dims=1,
            kind="grid",
            channels=("u",),
            param_names=("nu",),
            param_attrs=("Nu",),
            file_patterns=("1D_Burgers_Sols_Nu*.hdf5", "1D_Burgers_Sols_Nu*.h5"),
        ),
        TaskSpec(
            name="reaction_diffusion2d",
            pdebench_group="2d_reacdiff",
            layout="group",
            dims=2,
            kind="grid",
            channels=("u", "v"),
            param_names=(),
            param_attrs=(),
            file_patterns=("2D_diff-react_NA_NA.h5", "2D_diff-react_NA_NA.hdf5"),
            group_axes="tyxc",  # PDEBench stores (T, Y, X, C): axis 1 is y
        ),
    )
}

# Every named channel of every task: the model's field vocabulary. A channel name means the same
# physical quantity wherever it appears, so tasks share its embedding.
FIELD_VOCAB: tuple[str, ...] = tuple(sorted({c for s in TASKS.values() for c in s.channels}))
# Every PDE parameter name of every task: the model's parameter vocabulary.
PARAM_VOCAB: tuple[str, ...] = tuple(sorted({p for s in TASKS.values() for p in s.param_names}))
TASK_NAMES: tuple[str, ...] = tuple(sorted(TASKS))


def get_task(name: str) -> TaskSpec:
    """The spec of task `name`; an unknown name raises with the list of known tasks."""
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(TASK_NAMES)
        raise ValueError(f"unknown task {name!r}; known tasks: {known}") from None


def task_index(name: str) -> int:
    """Stable integer id of a task (its position in the sorted registry), for task embeddings."""
    get_task(name)
    return TASK_NAMES.index(name)
