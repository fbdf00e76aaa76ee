"""The task registry: one `TaskSpec` per task, the single source of truth for what a task is.

A task names a PDE family at a resolution UPS trains on: which PDEBench files hold it, how many
spatial dimensions it has, what its channels mean and which PDE parameters condition it. Readers,
the converter, the model's field vocabulary and evaluation all look tasks up here.

Stable contracts (models and checkpoints index into them): `TASK_NAMES` is a fixed tuple in the
order of the design document; `FIELD_VOCAB` and `PARAM_VOCAB` are explicit, append-only tuples.
Never sort, reorder or derive them: add new names at the end.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    """What UPS knows about one task, independent of where its data comes from."""

    name: str
    pdebench_group: str  # the official downloader's `--pde_name`; "" for UPS-only tasks
    # Layout of the raw files (recognised from their contents by ups.data.pdebench):
    #   "tensor"   (N, T, X) `tensor` files (Advection, Burgers, 1D ReacDiff)
    #   "darcy"    `tensor` (N, 1, X, Y) solution + `nu` (N, X, Y) coefficient
    #   "cfd"      one dataset per field (`density`, `pressure`, `Vx`, ...) each (N, T, *spatial)
    #   "group"    groups `0000`, `0001`, ... of per-sample `data` (axis order in `group_axes`)
    #   "ns_incom" `velocity`, `particles`, `force`, `t` with 4 trajectories per file
    #   "ups_zarr" UPS's own mesh / particle zarr stores (ups.data.zarr_layout)
    layout: str
    dims: int  # spatial dimensions
    kind: str  # "grid", "mesh" or "particles"
    channels: tuple[str, ...]  # named fields, in the order the converted store keeps them
    param_names: tuple[str, ...]  # PDE parameters that condition the model (UPS names)
    # Where each parameter is read, per `param_source`: root attr names ("attrs",
    # "attrs_or_filename") or dotted keys into the YAML `config` string ("config").
    param_attrs: tuple[str, ...]
    file_patterns: tuple[str, ...]  # glob patterns of raw files, relative to the task's raw dir
    group_axes: str = ""  # group files: axis order of each sample's `data`, e.g. "tyxc"
    steady: bool = False  # steady tasks store one state (T = 1), mapped from `input_channels`
    # Sub-folder(s) of a PDEBench download root holding the files (as the official downloader
    # lays them out); () for UPS-only tasks.
    pdebench_dir: tuple[str, ...] = ()
    # Fields given as inputs rather than predicted (Darcy's coefficient, NS's forcing): one
    # spatial field per trajectory, read by `RawReader.read_inputs`.
    input_channels: tuple[str, ...] = ()
    # "attrs": root attributes (missing raises); "attrs_or_filename": root attributes, else
    # parsed from the file name via `param_file_keys`; "config": the YAML string in the attr
    # `config` of the first sample group (or the root).
    param_source: str = "attrs"
    param_file_keys: tuple[str, ...] = ()  # file-name token of each parameter, e.g. "Eta"
    # Trajectory i of every raw file starts from the same initial state (PDEBench's parameter
    # files): splits are then drawn over the index i, so no state lands in two splits.
    shared_initial_states: bool = True
    # Physics the training priors may use (ups.training.priors), per the PDE's definition:
    periodic: bool = False  # periodic in every spatial axis (no boundary values to keep)
    conserved: tuple[str, ...] = ()  # channels whose spatial integral a step keeps
    positive: tuple[str, ...] = ()  # channels that stay >= 0
    divergence_free: tuple[str, ...] = ()  # (Vx, Vy): an incompressible velocity
    # A parameter the solution is proportional to (Darcy: -div(a grad u) = beta gives
    # u = beta * u_1): the autoencoder sees u / beta, so files whose solutions differ 10^4-fold
    # in scale share one latent space, and decoding multiplies each sample's beta back.
    linear_in: str = ""

    @property
    def axes(self) -> tuple[str, ...]:
        """Spatial axis names in the order the converted store keeps them."""
        return ("x", "y", "z")[: self.dims]


def _both(*names: str) -> tuple[str, ...]:
    """Glob patterns for `.hdf5` names plus their `.h5` twin (users rename files)."""
    return tuple(n for name in names for n in (name, name[: -len(".hdf5")] + ".h5"))


_CFD_PARAMS = dict(param_source="attrs_or_filename", param_names=("mach", "eta", "zeta"),
                   param_attrs=("M", "eta", "zeta"), param_file_keys=("M", "Eta", "Zeta"))

_SPECS = (
    TaskSpec(
        name="advection1d",
        pdebench_group="advection",
        pdebench_dir=("1D/Advection/Train",),
        layout="tensor",
        dims=1,
        kind="grid",
        channels=("u",),
        param_names=("beta",),
        param_attrs=("beta",),
        file_patterns=("1D_Advection_Sols_beta*.hdf5", "1D_Advection_Sols_beta*.h5"),
        periodic=True, conserved=("u",),
    ),
    TaskSpec(
        name="burgers1d",
        pdebench_group="burgers",
        pdebench_dir=("1D/Burgers/Train",),
        layout="tensor",
        dims=1,
        kind="grid",
        channels=("u",),
        param_names=("nu",),
        param_attrs=("Nu",),
        file_patterns=("1D_Burgers_Sols_Nu*.hdf5", "1D_Burgers_Sols_Nu*.h5"),
        periodic=True, conserved=("u",),
    ),
    TaskSpec(
        name="diffusion_sorption1d",
        pdebench_group="diff_sorp",
        pdebench_dir=("1D/diffusion-sorption",),
        layout="group",
        dims=1,
        kind="grid",
        channels=("u",),
        # D, porosity, rho_s, k_f, n_f are the same for every sample (they sit in each group's
        # `config` YAML), so nothing conditions the model.
        param_names=(),
        param_attrs=(),
        param_source="config",
        file_patterns=("1D_diff-sorp_NA_NA.h5", "1D_diff-sorp_NA_NA.hdf5"),
        group_axes="txc",
    ),
    TaskSpec(
        name="reaction_diffusion1d",
        pdebench_group="1d_reacdiff",
        pdebench_dir=("1D/ReactionDiffusion/Train",),
        layout="tensor",
        dims=1,
        kind="grid",
        channels=("u",),
        param_names=("nu", "rho"),
        param_attrs=("Nu", "rho"),
        file_patterns=_both("ReacDiff_Nu*_Rho*.hdf5"),
        periodic=True, positive=("u",),
    ),
    TaskSpec(
        name="compressible_ns1d",
        pdebench_group="1d_cfd",
        pdebench_dir=("1D/CFD/Train",),
        layout="cfd",
        dims=1,
        kind="grid",
        channels=("density", "pressure", "Vx"),
        param_source="attrs_or_filename",
        param_names=("eta", "zeta"),
        param_attrs=("eta", "zeta"),
        param_file_keys=("Eta", "Zeta"),
        file_patterns=_both("1D_CFD_*_Train.hdf5"),
        periodic=True, conserved=("density",), positive=("density", "pressure"),
    ),
    TaskSpec(
        name="darcy2d",
        pdebench_group="darcy",
        pdebench_dir=("2D/DarcyFlow",),
        layout="darcy",
        dims=2,
        kind="grid",
        channels=("u",),
        input_channels=("nu",),  # the coefficient a(x) (dataset `nu`)
        param_names=("forcing",),  # the constant right-hand side, PDEBench's `beta`
        param_attrs=("beta",),
        file_patterns=_both("2D_DarcyFlow_beta*_Train.hdf5"),
        steady=True,
        positive=("u",),
        linear_in="forcing",
    ),
    TaskSpec(
        name="reaction_diffusion2d",
        pdebench_group="2d_reacdiff",
        pdebench_dir=("2D/diffusion-reaction",),
        layout="group",
        dims=2,
        kind="grid",
        channels=("u", "v"),
        param_names=(),
        param_attrs=(),
        file_patterns=("2D_diff-react_NA_NA.h5", "2D_diff-react_NA_NA.hdf5"),
        group_axes="tyxc",  # PDEBench stores (T, Y, X, C): axis 1 is y
    ),
    TaskSpec(
        name="shallow_water2d",
        pdebench_group="swe",
        pdebench_dir=("2D/shallow-water",),
        layout="group",
        dims=2,
        kind="grid",
        channels=("h",),  # water height only (no momenta are stored)
        param_names=(),
        param_attrs=(),
        file_patterns=("2D_rdb_NA_NA.h5", "2D_rdb_NA_NA.hdf5"),
        group_axes="txyc",
        positive=("h",),
    ),
    TaskSpec(
        name="compressible_ns2d",
        pdebench_group="2d_cfd",
        pdebench_dir=("2D/CFD/2D_Train_Rand",),
        layout="cfd",
        dims=2,
        kind="grid",
        channels=("density", "pressure", "Vx", "Vy"),
        file_patterns=_both("2D_CFD_Rand_*_periodic_128_Train.hdf5"),  # the 128^2 files
        **_CFD_PARAMS,
        periodic=True, conserved=("density",), positive=("density", "pressure"),
    ),
    TaskSpec(
        name="navier_stokes2d",
        pdebench_group="ns_incom",
        pdebench_dir=("2D/NS_incom",),
        layout="ns_incom",
        dims=2,
        kind="grid",
        channels=("Vx", "Vy", "particles"),  # `velocity` (2 components) + passive `particles`
        input_channels=("force_x", "force_y"),  # `force`, one per trajectory
        param_names=(),  # viscosity 0.01 for every file
        param_attrs=(),
        file_patterns=("ns_incom_inhom_2d_512-*.h5", "ns_incom_inhom_2d_512-*.hdf5"),
        periodic=True, conserved=("particles",), divergence_free=("Vx", "Vy"),
        shared_initial_states=False,  # 4 trajectories per file, each its own seed
    ),
    TaskSpec(
        name="compressible_ns3d",
        pdebench_group="3d_cfd",
        pdebench_dir=("3D/Train",),
        layout="cfd",
        dims=3,
        kind="grid",
        channels=("density", "pressure", "Vx", "Vy", "Vz"),
        file_patterns=_both("3D_CFD_Turb_*_periodic_Train.hdf5"),  # 64^3 (Rand is 128^3)
        **_CFD_PARAMS,
        periodic=True, conserved=("density",), positive=("density", "pressure"),
    ),
    TaskSpec(
        name="darcy2d_mesh",
        pdebench_group="",
        layout="ups_zarr",
        dims=2,
        kind="mesh",
        channels=("u",),
        input_channels=("nu",),
        param_names=(),
        param_attrs=(),
        file_patterns=("Darcy_2D_mesh.zarr",),
        steady=True,
        positive=("u",),
    ),
    TaskSpec(
        name="particles_advect",
        pdebench_group="",
        layout="ups_zarr",
        dims=2,
        kind="particles",
        channels=("Vx", "Vy"),
        param_names=(),
        param_attrs=(),
        file_patterns=("Particles_advect.zarr",),
        periodic=True,
    ),
    TaskSpec(
        name="allen_cahn2d",
        pdebench_group="",
        layout="group",
        dims=2,
        kind="grid",
        channels=("u",),
        param_names=(),
        param_attrs=(),
        file_patterns=("AllenCahn_2D.h5",),
        group_axes="tyxc",
        periodic=True,
    ),
    TaskSpec(
        name="cahn_hilliard2d",
        pdebench_group="",
        layout="group",
        dims=2,
        kind="grid",
        channels=("c",),
        param_names=(),
        param_attrs=(),
        file_patterns=("CahnHilliard_2D.h5",),
        group_axes="tyxc",
        periodic=True, conserved=("c",),
    ),
)

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _SPECS}

# Fixed order (task embeddings index into it): the design document's list, never sorted.
TASK_NAMES: tuple[str, ...] = (
    "advection1d", "burgers1d", "diffusion_sorption1d", "reaction_diffusion1d",
    "compressible_ns1d", "darcy2d", "reaction_diffusion2d", "shallow_water2d",
    "compressible_ns2d", "navier_stokes2d", "compressible_ns3d", "darcy2d_mesh",
    "particles_advect", "allen_cahn2d", "cahn_hilliard2d",
)
# Every named channel and input field of every task: the model's field vocabulary. A name means
# the same physical quantity wherever it appears, so tasks share its embedding. Append-only.
FIELD_VOCAB: tuple[str, ...] = (
    "u", "v", "density", "pressure", "Vx", "Vy", "Vz", "h", "particles", "nu", "force_x",
    "force_y", "c",
)
# Every PDE parameter name of every task: the model's parameter vocabulary. Append-only.
PARAM_VOCAB: tuple[str, ...] = ("beta", "nu", "rho", "eta", "zeta", "mach", "forcing")


def get_task(name: str) -> TaskSpec:
    """The spec of task `name`; an unknown name raises with the list of known tasks."""
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(TASK_NAMES)
        raise ValueError(f"unknown task {name!r}; known tasks: {known}") from None


def task_index(name: str) -> int:
    """Stable integer id of a task (its position in `TASK_NAMES`), for task embeddings."""
    get_task(name)
    return TASK_NAMES.index(name)
