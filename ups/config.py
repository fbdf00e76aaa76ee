"""Typed, validated configuration mirroring `params.yaml`.

Every section is a frozen dataclass. Loading rejects unknown keys, missing keys and bad values with
a `ConfigError` that names the key path (`latent.dim`) and what was expected, so a typo in
`params.yaml` or in `dvc exp run -S ...` fails before any work starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ups.data.config import ConvertConfig, DataConfig, SourceConfig, validate_data
from ups.params import ConfigError, build, check, load_sections, to_dict
from ups.tasks import TASKS, get_task

__all__ = ["Config", "ConfigError", "ConvertConfig", "SourceConfig", "config_from_dict",
           "load_config", "to_dict"]


@dataclass(frozen=True)
class LatentConfig:
    dim: int = 32  # width of one latent token (one token per cell of the task's lattice)
    # Field values (points x channels) a token stands for at the least: it sets the cell size
    # (ups/models/lattice.py). dim / (2 patch_values) is the latent's share of the float32
    # field's bytes: 16 with dim 32 keeps every grid exactly invertible at half the size or
    # less; 64 gives a quarter (lossy, learned) at PDEBench resolutions.
    patch_values: int = 16

    def validate(self, path: str) -> None:
        check(self.dim > 0, f"{path}.dim", self.dim, "a positive integer")
        check(self.patch_values > 0, f"{path}.patch_values", self.patch_values,
              "a positive integer")


@dataclass(frozen=True)
class ModelConfig:
    width: int = 64  # hidden width of encoder and decoder
    heads: int = 4
    encoder_depth: int = 2  # transformer blocks over the lattice's tokens (learned part)
    decoder_depth: int = 2
    operator_width: int = 128
    operator_depth: int = 4  # convolutional blocks over the token lattice
    operator_kernel: int = 3  # cells per axis each operator block mixes (odd)

    def validate(self, path: str) -> None:
        for name in ("width", "heads", "encoder_depth", "decoder_depth", "operator_width",
                     "operator_depth", "operator_kernel"):
            value = getattr(self, name)
            check(value > 0, f"{path}.{name}", value, "a positive integer")
        check(self.width % self.heads == 0, f"{path}.width", self.width,
              f"a multiple of {path}.heads={self.heads}")
        check(self.operator_width % self.heads == 0, f"{path}.operator_width",
              self.operator_width, f"a multiple of {path}.heads={self.heads}")
        check(self.operator_kernel % 2 == 1, f"{path}.operator_kernel", self.operator_kernel,
              "odd (the kernel is centred on its cell)")


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
            check(value >= 0, f"{path}.{f.name}", value, ">= 0")


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
            check(value > 0, f"{path}.{name}", value, "a positive integer")
        check(self.lr > 0, f"{path}.lr", self.lr, "a positive number")
        check(self.muon_lr >= 0, f"{path}.muon_lr", self.muon_lr, ">= 0 (0: the same as lr)")
        check(self.weight_decay >= 0, f"{path}.weight_decay", self.weight_decay, ">= 0")
        check(self.warmup_steps >= 0, f"{path}.warmup_steps", self.warmup_steps, ">= 0")
        check(self.grad_clip > 0, f"{path}.grad_clip", self.grad_clip, "a positive number")
        check(self.task_weights in ("uniform", "size", "val_error"), f"{path}.task_weights",
              self.task_weights, "'uniform', 'size' or 'val_error'")
        check(self.checkpoint_every >= 0, f"{path}.checkpoint_every", self.checkpoint_every,
              ">= 0 (0: no resume checkpoints)")
        check(self.optimizer in ("adamw", "muon"), f"{path}.optimizer", self.optimizer,
              "'adamw' or 'muon'")
        check(0 <= self.ema_decay < 1, f"{path}.ema_decay", self.ema_decay, "in [0, 1)")
        check(self.ema_warmup >= 0, f"{path}.ema_warmup", self.ema_warmup, ">= 0")
        check(self.precision in ("fp32", "bf16", "auto"), f"{path}.precision", self.precision,
              "'fp32', 'bf16' or 'auto'")
        check(self.device in ("auto", "cpu", "cuda"), f"{path}.device", self.device,
              "'auto', 'cpu' or 'cuda'")
        for name in ("horizon_schedule", "task_schedule"):  # both are [[start, value >= 1], ...]
            schedule = getattr(self, name)
            if schedule:
                try:
                    check_schedule([list(p) for p in schedule])
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
        check(self.candidates >= 1, f"{path}.candidates", self.candidates, ">= 1")
        for name in ("conservation", "boundary", "positivity", "smoothness"):
            check(getattr(self, name) >= 0, f"{path}.{name}", getattr(self, name), ">= 0")


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
        check(self.levels >= 2, f"{path}.levels", self.levels, ">= 2")
        check(0 < self.sigma_min < self.sigma_max, f"{path}.sigma_min",
              (self.sigma_min, self.sigma_max), "0 < sigma_min < sigma_max")
        for name in ("width", "depth", "heads"):
            check(getattr(self, name) > 0, f"{path}.{name}", getattr(self, name), "> 0")
        check(self.width % self.heads == 0, f"{path}.width", self.width,
              f"a multiple of heads ({self.heads})")
        check(1 <= self.consistency_steps < self.levels, f"{path}.consistency_steps",
              self.consistency_steps, f"in [1, levels - 1 = {self.levels - 1}]")
        check(0 <= self.distill_ema < 1, f"{path}.distill_ema", self.distill_ema, "in [0, 1)")
        check(self.distill_substeps >= 1, f"{path}.distill_substeps", self.distill_substeps,
              ">= 1")
        for name in ("diffusion", "distill"):
            phase = getattr(self, name)
            phase.validate(f"{path}.{name}")
            # The distillation target and the noise generator are not part of the resume state.
            check(phase.checkpoint_every == 0, f"{path}.{name}.checkpoint_every",
                  phase.checkpoint_every, "0 (the corrector phases are short and not resumable)")
            check(phase.nproc == 1, f"{path}.{name}.nproc", phase.nproc, "1")
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
            check(getattr(self, name) > 0, f"{path}.{name}", getattr(self, name), "> 0")
        self.train.validate(f"{path}.train")
        check(self.train.nproc == 1, f"{path}.train.nproc", self.train.nproc, "1")


@dataclass(frozen=True)
class PODConfig:
    """The POD baseline (ups/training/pod.py): PCA of the train frames and linear maps between
    PCA coefficients; the val split picks the number of modes and the ridge from these lists."""

    enabled: bool = True  # false: no POD is fitted; its figures are null
    modes: tuple[int, ...] = (8, 16, 32, 64, 128)  # candidates, capped by the data's rank
    ridge: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # x the features' variance

    def validate(self, path: str) -> None:
        check(len(self.modes) > 0 and all(m > 0 for m in self.modes), f"{path}.modes",
              list(self.modes), "a non-empty list of positive integers")
        check(len(self.ridge) > 0 and all(r > 0 for r in self.ridge), f"{path}.ridge",
              list(self.ridge), "a non-empty list of positive numbers")


@dataclass(frozen=True)
class BaselinesConfig:
    fno: FNOConfig = field(default_factory=FNOConfig)
    pod: PODConfig = field(default_factory=PODConfig)

    def validate(self, path: str) -> None:
        self.fno.validate(f"{path}.fno")
        self.pod.validate(f"{path}.pod")


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
            check(getattr(self, name) >= 1, f"{path}.{name}", getattr(self, name), ">= 1")
        for name in ("max_nrmse", "max_vs_persistence"):
            check(getattr(self, name) > 0, f"{path}.{name}", getattr(self, name), "> 0")


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
            check(task in TASKS, f"{path}.task_max_nrmse_rollout", task, "a task name")
            check(isinstance(value, (int, float)) and value > 0,
                  f"{path}.task_max_nrmse_rollout.{task}", value, "a number > 0")
        for f in dataclasses.fields(self):
            if f.name.startswith("max_"):
                check(getattr(self, f.name) > 0, f"{path}.{f.name}", getattr(self, f.name),
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
        check(self.max_trajectories > 0, f"{path}.max_trajectories", self.max_trajectories,
              "a positive integer")
        check(self.plot_trajectory >= 0, f"{path}.plot_trajectory", self.plot_trajectory, ">= 0")


@dataclass(frozen=True)
class Config(DataConfig):
    """Every section: the data ones (`DataConfig`, all the data stages read) and the rest."""

    latent: LatentConfig = field(default_factory=LatentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    autoencoder: TrainConfig = field(default_factory=TrainConfig)
    operator: TrainConfig = field(default_factory=TrainConfig)
    corrector: CorrectorConfig = field(default_factory=CorrectorConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self, path: str = "") -> None:
        validate_data(self)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if hasattr(value, "validate") and f.name != "convert":  # convert: validate_data
                value.validate(f.name)
        widest = max(max(len(get_task(t).channels), len(get_task(t).input_channels))
                     for t in self.tasks)
        check(self.latent.dim >= widest, "latent.dim", self.latent.dim,
              f">= {widest}, the most channels a task in `tasks` has (a token holds at least "
              "one coefficient per channel)")


def check_schedule(schedule: list[list[int]]) -> None:
    """Raise ValueError naming the problem unless `schedule` is a valid step schedule.

    Valid: a non-empty list of [start_step, value] integer pairs, the first starting at 0,
    starts strictly increasing, every value >= 1 (the horizon and curriculum schedules).
    """
    if len(schedule) == 0:
        raise ValueError("schedule is empty; expected [[0, h0], [start, h], ...]")
    for i, entry in enumerate(schedule):
        if len(entry) != 2 or not all(_is_int(v) for v in entry):
            raise ValueError(f"schedule entry {i} is {entry!r}; expected a pair of "
                             "integers [start_step, value]")
        if entry[1] < 1:
            raise ValueError(f"schedule entry {i} has value {entry[1]}; must be >= 1")
    if schedule[0][0] != 0:
        raise ValueError(f"schedule starts at step {schedule[0][0]}; the first entry "
                         "must start at step 0")
    for i in range(1, len(schedule)):
        if schedule[i][0] <= schedule[i - 1][0]:
            raise ValueError(f"schedule is not sorted by start: entry {i} starts at "
                             f"{schedule[i][0]}, after {schedule[i - 1][0]}")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def config_from_dict(data: dict[str, Any]) -> Config:
    """A validated `Config` from the parsed contents of params.yaml."""
    cfg = build(Config, data, "")
    cfg.validate()
    return cfg


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read and validate params.yaml; every problem raises `ConfigError` naming the file and
    the key."""
    return load_sections(Config, path)
