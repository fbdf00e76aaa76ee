"""Typed, validated configuration mirroring `params.yaml`.

Every section is a frozen dataclass. Loading rejects unknown keys, missing keys and bad values with
a `ConfigError` that names the key path (`latent.dim`) and what was expected, so a typo in
`params.yaml` or in `dvc exp run -S ...` fails before any work starts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ups.tasks import TASKS, get_task


class ConfigError(ValueError):
    """A parameter in params.yaml is missing, unknown or has a bad value."""


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
        _check(self.split in ("initial_state", "pdebench"), f"{path}.split", self.split,
               "'initial_state' or 'pdebench'")
        _check(0 <= self.val_fraction < 1, f"{path}.val_fraction", self.val_fraction, "in [0, 1)")
        _check(0 < self.test_fraction < 1, f"{path}.test_fraction", self.test_fraction, "in (0, 1)")
        total = self.val_fraction + self.test_fraction
        _check(total < 1, f"{path}.val_fraction + test_fraction", total, "< 1 (train needs data)")


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
        _check(self.kind in ("simulate", "pdebench"), f"{path}.kind", self.kind,
               "'simulate' or 'pdebench'")
        _check(self.kind != "pdebench" or bool(self.root), f"{path}.root", self.root,
               "a PDEBench download root when kind is 'pdebench'")
        _check(self.max_trajectories >= 0, f"{path}.max_trajectories", self.max_trajectories,
               ">= 0 (0 means all)")
        for name in ("reduced_resolution", "reduced_resolution_t"):
            _check(getattr(self, name) >= 1, f"{path}.{name}", getattr(self, name), ">= 1")


@dataclass(frozen=True)
class LatentConfig:
    tokens: int = 16  # latent tokens per state
    dim: int = 32  # width of one latent token

    def validate(self, path: str) -> None:
        _check(self.tokens > 0, f"{path}.tokens", self.tokens, "a positive integer")
        _check(self.dim > 0, f"{path}.dim", self.dim, "a positive integer")


@dataclass(frozen=True)
class ModelConfig:
    width: int = 64  # hidden width of encoder and decoder
    heads: int = 4
    encoder_depth: int = 2  # transformer blocks over supernodes
    decoder_depth: int = 2  # cross-attention blocks from queries to latent tokens
    supernodes: int = 64  # points that pool their neighbourhoods (capped at the point count)
    neighbours: int = 2  # nearest supernodes each point sends its message to (k-NN)
    operator_width: int = 128
    operator_depth: int = 4

    def validate(self, path: str) -> None:
        for name in ("width", "heads", "encoder_depth", "decoder_depth", "supernodes",
                     "neighbours", "operator_width", "operator_depth"):
            value = getattr(self, name)
            _check(value > 0, f"{path}.{name}", value, "a positive integer")
        _check(self.width % self.heads == 0, f"{path}.width", self.width,
               f"a multiple of {path}.heads={self.heads}")
        _check(self.operator_width % self.heads == 0, f"{path}.operator_width",
               self.operator_width, f"a multiple of {path}.heads={self.heads}")


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms beside a phase's main loss. 0 switches a term off: it is not
    even computed. Physics priors apply only to the tasks and channels the registry marks
    (ups.tasks: `periodic`, `conserved`, `positive`, `divergence_free`)."""

    spectral: float = 0.0  # relative Fourier error of decoded grid fields (PDE-Refiner)
    spectral_high_weight: float = 1.0  # extra weight on high wavenumbers in the spectral term
    inverse_encoding: float = 0.0  # decode(encode(u)) ~ u on every point of the sample
    inverse_decoding: float = 0.0  # encode(decode(z)) ~ z
    inverse_warmup: int = 0  # steps over which both inverse weights ramp up from 0
    boundary: float = 0.0  # decoded boundary values ~ the reference's (non-periodic grids)
    conservation: float = 0.0  # integrals of conserved channels kept over a step
    positivity: float = 0.0  # density, pressure, height, ... stay >= 0
    divergence: float = 0.0  # incompressible velocity stays divergence-free
    latent_norm: float = 0.0  # per-token RMS of the latent ~ 1
    diversity: float = 0.0  # latent tokens of a sample not collapsed onto one direction

    def validate(self, path: str) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            _check(value >= 0, f"{path}.{f.name}", value, ">= 0")


@dataclass(frozen=True)
class TrainConfig:
    """Knobs shared by every training phase (one loop serves them all)."""

    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    grad_clip: float = 1.0
    eval_every: int = 250  # validation (and model selection) period in steps
    num_queries: int = 256  # autoencoder: decoder query points per sample
    rollout_steps: int = 1  # operator: unrolled steps in the rollout loss (1 = one-step only)
    # operator: [[start_step, horizon], ...] lengthens the rollout horizon during training;
    # empty: `rollout_steps` throughout.
    horizon_schedule: tuple[tuple[int, ...], ...] = ()
    task_weights: str = "uniform"  # task mixing: "uniform", "size" or "val_error" (TaskMixer)
    # curriculum: [[start_step, n_tasks], ...] trains on the first n of `tasks` from each start
    # step on; empty: every task from the start.
    task_schedule: tuple[tuple[int, ...], ...] = ()
    checkpoint_every: int = 0  # steps between resume checkpoints (0: none)
    optimizer: str = "adamw"  # "adamw", or "muon": Muon for hidden matrices, AdamW for the rest
    muon_lr: float = 0.0  # peak learning rate of the Muon groups; 0: the same as `lr`
    grad_accum: int = 1  # micro-batches per optimizer step
    ema_decay: float = 0.0  # weight EMA used for validation and the saved model; 0: off
    ema_warmup: int = 100  # steps with a shorter EMA horizon, (1 + step) / (10 + step)
    precision: str = "fp32"  # "fp32", "bf16" (autocast), or "auto" (bf16 on a capable GPU)
    device: str = "auto"  # "auto" (CUDA if present), "cpu" or "cuda"
    nproc: int = 1  # data-parallel processes on this machine (the stage launches torchrun)
    losses: LossConfig = field(default_factory=LossConfig)

    def validate(self, path: str) -> None:
        for name in ("steps", "batch_size", "eval_every", "num_queries", "rollout_steps",
                     "grad_accum", "nproc"):
            value = getattr(self, name)
            _check(value > 0, f"{path}.{name}", value, "a positive integer")
        _check(self.lr > 0, f"{path}.lr", self.lr, "a positive number")
        _check(self.muon_lr >= 0, f"{path}.muon_lr", self.muon_lr, ">= 0 (0: the same as lr)")
        _check(self.weight_decay >= 0, f"{path}.weight_decay", self.weight_decay, ">= 0")
        _check(self.warmup_steps >= 0, f"{path}.warmup_steps", self.warmup_steps, ">= 0")
        _check(self.grad_clip > 0, f"{path}.grad_clip", self.grad_clip, "a positive number")
        _check(self.task_weights in ("uniform", "size", "val_error"), f"{path}.task_weights",
               self.task_weights, "'uniform', 'size' or 'val_error'")
        _check(self.checkpoint_every >= 0, f"{path}.checkpoint_every", self.checkpoint_every,
               ">= 0 (0: no resume checkpoints)")
        _check(self.optimizer in ("adamw", "muon"), f"{path}.optimizer", self.optimizer,
               "'adamw' or 'muon'")
        _check(0 <= self.ema_decay < 1, f"{path}.ema_decay", self.ema_decay, "in [0, 1)")
        _check(self.ema_warmup >= 0, f"{path}.ema_warmup", self.ema_warmup, ">= 0")
        _check(self.precision in ("fp32", "bf16", "auto"), f"{path}.precision", self.precision,
               "'fp32', 'bf16' or 'auto'")
        _check(self.device in ("auto", "cpu", "cuda"), f"{path}.device", self.device,
               "'auto', 'cpu' or 'cuda'")
        from ups.training.losses import check_horizon_schedule

        for name in ("horizon_schedule", "task_schedule"):  # both are [[start, value >= 1], ...]
            schedule = getattr(self, name)
            if schedule:
                try:
                    check_horizon_schedule([list(p) for p in schedule])
                except ValueError as err:
                    raise ConfigError(f"params: {path}.{name}: {err}") from None
        self.losses.validate(f"{path}.losses")

    def curriculum(self) -> tuple[tuple[int, int], ...]:
        return tuple((int(a), int(b)) for a, b in self.task_schedule)

    def horizon(self) -> tuple[tuple[int, int], ...]:
        """The horizon schedule in force: the configured one, or `rollout_steps` throughout."""
        if self.horizon_schedule:
            return tuple((int(a), int(b)) for a, b in self.horizon_schedule)
        return ((0, self.rollout_steps),)


@dataclass(frozen=True)
class TTCConfig:
    """Test-time conditioning: at each rollout step, draw `candidates` corrections from the
    consistency model, decode each, keep the one with the best physics reward (weights below;
    a term applies only where the task has the property, e.g. positivity of a density)."""

    enabled: bool = True
    candidates: int = 8
    conservation: float = 1.0  # drift of the conserved channels' integrals from the last state
    boundary: float = 1.0  # jump across periodic boundaries / deviation at fixed ones
    positivity: float = 1.0  # negative mass of positive channels (density, height)
    smoothness: float = 1.0  # excess high-frequency energy against the operator's prediction

    def validate(self, path: str) -> None:
        _check(self.candidates >= 1, f"{path}.candidates", self.candidates, ">= 1")
        for name in ("conservation", "boundary", "positivity", "smoothness"):
            _check(getattr(self, name) >= 0, f"{path}.{name}", getattr(self, name), ">= 0")


@dataclass(frozen=True)
class CorrectorConfig:
    """The diffusion residual corrector (teacher), its consistency distillation (student) and
    test-time conditioning. Noise levels are in units of the residual's scale (sigma_data,
    measured on the train split), so they need no retuning across latent sizes."""

    enabled: bool = True  # false: the stages write a 'disabled' marker, eval skips the variants
    levels: int = 8  # noise levels K (the teacher's network calls per sample)
    sigma_min: float = 0.002  # x sigma_data
    sigma_max: float = 10.0  # x sigma_data
    width: int = 64
    depth: int = 2
    heads: int = 4
    consistency_steps: int = 2  # student network calls per sample (1 or 2)
    distill_ema: float = 0.95  # EMA decay of the consistency target
    distill_substeps: int = 4  # teacher ODE sub-steps between adjacent levels
    diffusion: TrainConfig = field(default_factory=TrainConfig)
    distill: TrainConfig = field(default_factory=TrainConfig)
    ttc: TTCConfig = field(default_factory=TTCConfig)

    def validate(self, path: str) -> None:
        _check(self.levels >= 2, f"{path}.levels", self.levels, ">= 2")
        _check(0 < self.sigma_min < self.sigma_max, f"{path}.sigma_min",
               (self.sigma_min, self.sigma_max), "0 < sigma_min < sigma_max")
        for name in ("width", "depth", "heads"):
            _check(getattr(self, name) > 0, f"{path}.{name}", getattr(self, name), "> 0")
        _check(self.width % self.heads == 0, f"{path}.width", self.width,
               f"a multiple of heads ({self.heads})")
        _check(1 <= self.consistency_steps < self.levels, f"{path}.consistency_steps",
               self.consistency_steps, f"in [1, levels - 1 = {self.levels - 1}]")
        _check(0 <= self.distill_ema < 1, f"{path}.distill_ema", self.distill_ema, "in [0, 1)")
        _check(self.distill_substeps >= 1, f"{path}.distill_substeps", self.distill_substeps,
               ">= 1")
        for name in ("diffusion", "distill"):
            phase = getattr(self, name)
            phase.validate(f"{path}.{name}")
            # The distillation target and the noise generator are not part of the resume state.
            _check(phase.checkpoint_every == 0, f"{path}.{name}.checkpoint_every",
                   phase.checkpoint_every, "0 (the corrector phases are short and not resumable)")
            _check(phase.nproc == 1, f"{path}.{name}.nproc", phase.nproc, "1")
        self.ttc.validate(f"{path}.ttc")


@dataclass(frozen=True)
class FNOConfig:
    """The FNO baseline, trained per grid task on the converted data (not the latents)."""

    enabled: bool = True  # false: no FNO is trained; its figures are null
    width: int = 32
    modes: int = 12  # Fourier modes kept per axis
    layers: int = 4
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self, path: str) -> None:
        for name in ("width", "modes", "layers"):
            _check(getattr(self, name) > 0, f"{path}.{name}", getattr(self, name), "> 0")
        self.train.validate(f"{path}.train")
        _check(self.train.nproc == 1, f"{path}.train.nproc", self.train.nproc, "1")


@dataclass(frozen=True)
class BaselinesConfig:
    fno: FNOConfig = field(default_factory=FNOConfig)

    def validate(self, path: str) -> None:
        self.fno.validate(f"{path}.fno")


@dataclass(frozen=True)
class ProxyGateConfig:
    """The quick check after operator training (README, "Is my run better?")."""

    enabled: bool = True
    trajectories: int = 8  # validation trajectories per task
    rollout_steps: int = 5  # length of the short rollout
    max_nrmse: float = 1.0  # a task fails above this short-rollout nRMSE
    max_vs_persistence: float = 1.0  # ... or above this multiple of persistence's
    continue_on_fail: bool = False  # true: record the failure, do not stop the pipeline

    def validate(self, path: str) -> None:
        for name in ("trajectories", "rollout_steps"):
            _check(getattr(self, name) >= 1, f"{path}.{name}", getattr(self, name), ">= 1")
        for name in ("max_nrmse", "max_vs_persistence"):
            _check(getattr(self, name) > 0, f"{path}.{name}", getattr(self, name), "> 0")


@dataclass(frozen=True)
class FullGateConfig:
    """Per-task thresholds on the evaluated run (physics checks: ups/eval/physics.py)."""

    max_nrmse_rollout: float = 1.0
    task_max_nrmse_rollout: dict[str, float] = field(default_factory=dict)  # per-task overrides
    max_conservation_drift: float = 0.1
    max_boundary_violation: float = 1.0
    max_negative_fraction: float = 0.01
    max_divergence: float = 0.1

    def validate(self, path: str) -> None:
        for task, value in self.task_max_nrmse_rollout.items():
            _check(task in TASKS, f"{path}.task_max_nrmse_rollout", task, "a task name")
            _check(isinstance(value, (int, float)) and value > 0,
                   f"{path}.task_max_nrmse_rollout.{task}", value, "a number > 0")
        for f in dataclasses.fields(self):
            if f.name.startswith("max_"):
                _check(getattr(self, f.name) > 0, f"{path}.{f.name}", getattr(self, f.name),
                       "> 0")


@dataclass(frozen=True)
class GatesConfig:
    proxy: ProxyGateConfig = field(default_factory=ProxyGateConfig)
    full: FullGateConfig = field(default_factory=FullGateConfig)

    def validate(self, path: str) -> None:
        self.proxy.validate(f"{path}.proxy")
        self.full.validate(f"{path}.full")


@dataclass(frozen=True)
class EvalConfig:
    max_trajectories: int = 64  # test trajectories scored per task (the first ones of the split)
    plot_trajectory: int = 0  # which test trajectory the PNG shows

    def validate(self, path: str) -> None:
        _check(self.max_trajectories > 0, f"{path}.max_trajectories", self.max_trajectories,
               "a positive integer")
        _check(self.plot_trajectory >= 0, f"{path}.plot_trajectory", self.plot_trajectory, ">= 0")


@dataclass(frozen=True)
class Config:
    seed: int
    tasks: tuple[str, ...]
    simulate: dict[str, dict[str, Any]]  # per task; validated by the task's simulator
    sources: dict[str, SourceConfig] = field(default_factory=dict)  # per task; default simulate
    convert: ConvertConfig = field(default_factory=ConvertConfig)
    latent: LatentConfig = field(default_factory=LatentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    autoencoder: TrainConfig = field(default_factory=TrainConfig)
    operator: TrainConfig = field(default_factory=TrainConfig)
    corrector: CorrectorConfig = field(default_factory=CorrectorConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def source(self, task: str) -> SourceConfig:
        """The raw-data source of `task` (our simulator unless params say otherwise)."""
        return self.sources.get(task, SourceConfig())

    def validate(self, path: str = "") -> None:
        _check(len(self.tasks) > 0, "tasks", list(self.tasks), "a non-empty list of task names")
        for task in self.tasks:
            try:
                get_task(task)
            except ValueError as err:
                raise ConfigError(f"tasks: {err}") from None
        _check(len(set(self.tasks)) == len(self.tasks), "tasks", list(self.tasks),
               "a list without repeated names")
        for section in ("simulate", "sources"):
            for task in getattr(self, section):
                if task not in TASKS:
                    raise ConfigError(f"params: {section}.{task}: unknown task; known tasks: "
                                      f"{sorted(TASKS)}")
        for task, source in self.sources.items():
            source.validate(f"sources.{task}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if hasattr(value, "validate"):
                value.validate(f.name)


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"params: {key} must be {expected}, got {value!r}")


def _build(cls: type, data: Any, path: str) -> Any:
    """Instantiate dataclass `cls` from a mapping, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"params: {path or 'top level'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = path or "top level"
        raise ConfigError(f"params: unknown key(s) {unknown} in {where}; expected {sorted(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = f"{path}.{f.name}" if path else f.name
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"params: missing key {key}")
            continue
        kwargs[f.name] = _coerce(hints[f.name], data[f.name], key)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"params: {key} must be a list, got {value!r}")
        return tuple(_coerce(typing.get_args(hint)[0], v, key) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"params: {key} must be a mapping, got {value!r}")
        item = typing.get_args(hint)[1]
        if dataclasses.is_dataclass(item):
            return {k: _build(item, v or {}, f"{key}.{k}") for k, v in value.items()}
        return dict(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"params: {key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-9 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"params: {key} must be a number, got {value!r}")
        return float(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"params: {key} must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"params: {key} must be a string, got {value!r}")
        return value
    if hint is Any or isinstance(hint, types.GenericAlias):
        return value
    return value


def config_from_dict(data: dict[str, Any]) -> Config:
    """A validated `Config` from the parsed contents of params.yaml."""
    cfg = _build(Config, data, "")
    cfg.validate()
    return cfg


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (plain YAML keeps the
    last silently: an edited copy of a knob would win without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read and validate params.yaml; every problem raises `ConfigError` naming the file and
    the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found (run from the repository root)")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (seed:, tasks:, ...), got "
                          f"{'an empty file' if data is None else type(data).__name__}")
    try:
        return config_from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict form of a config (for checkpoints and logs)."""
    return dataclasses.asdict(cfg)
