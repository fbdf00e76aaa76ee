"""Training data over converted stores and latent caches, and task mixing.

Everything a model sees is normalised: fields by the train-split per-channel stats, coordinates to
[0, 1] over the task's domain, padded to 3D. Batches hold one task each (point counts differ
between tasks); tasks are mixed across steps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ups.data.store import GridStore, open_store, split_path
from ups.io import read_json
from ups.tasks import PARAM_VOCAB, get_task, task_index


def domain_bounds(centres: np.ndarray) -> tuple[float, float]:
    """The domain of one axis from its cell centres: half a cell beyond the first and last."""
    half = 0.5 * (centres[1] - centres[0]) if len(centres) > 1 else 0.5
    return float(centres[0] - half), float(centres[-1] + half)


def grid_positions(coords: dict[str, np.ndarray],
                   like: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Cell centres -> (P, 3) positions in [0, 1]^3, x fastest-varying last (C order).

    `like`: the centres of the grid whose domain defines [0, 1] (another grid of the same
    domain, e.g. the coarse training grid when decoding on a finer one); default `coords`."""
    axes = []
    for a, c in coords.items():
        lo, hi = domain_bounds((like or coords)[a])
        axes.append((c - lo) / (hi - lo))
    mesh = np.meshgrid(*axes, indexing="ij")
    pos = np.zeros((mesh[0].size, 3), dtype=np.float32)
    for d, m in enumerate(mesh):
        pos[:, d] = m.ravel()
    return pos


def normalised_points(points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(..., P, d) coordinates inside `bounds` (d, 2) -> (..., P, 3) in [0, 1], zero-padded."""
    lo, hi = np.asarray(bounds, np.float32).T  # (d,), (d,)
    unit = (np.asarray(points, np.float32) - lo) / (hi - lo)
    pad = [(0, 0)] * (unit.ndim - 1) + [(0, 3 - unit.shape[-1])]
    return np.pad(unit, pad)


class Geometry:
    """Where a task's values live, in [0, 1]^3: one grid shared by every sample, or each
    sample's own points (a mesh: one set per sample; particles: one set per sample and step)."""

    def __init__(self, store: GridStore):
        self.grid: np.ndarray | None = None  # (P, 3)
        self.points: np.ndarray | None = None  # (N, Tp, P, 3)
        if store.points is None:
            self.grid = grid_positions(store.coords)
        else:
            self.points = normalised_points(store.points[()], store.bounds)

    @property
    def n_points(self) -> int:
        return (self.grid if self.grid is not None else self.points[0, 0]).shape[0]

    def at(self, traj: np.ndarray, step: np.ndarray) -> np.ndarray:
        """Positions of trajectories `traj` (B,) at steps `step` (B,) -> (B, P, 3)."""
        if self.grid is not None:
            return np.repeat(self.grid[None], len(traj), axis=0)
        step = np.asarray(step) if self.points.shape[1] > 1 else np.zeros_like(traj)
        return self.points[traj, step]


@dataclass(frozen=True)
class Normaliser:
    """Per-channel standardisation; with `by` (a task linear in a parameter, Darcy's forcing)
    each sample is first divided by its value of that parameter, `scale`."""

    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)
    by: str = ""  # the parameter samples are divided by, or "" for none

    @classmethod
    def from_stats(cls, path: Path, key: str | None = None) -> "Normaliser":
        """Field statistics from a task's stats.json, or those of `key` (e.g. "inputs")."""
        stats = read_json(path)
        if key is not None:
            if key not in stats:
                raise ValueError(f"{path}: no '{key}' statistics; convert the task again")
            stats = stats[key]
        return cls(np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32),
                   stats.get("by", ""))

    @classmethod
    def for_autoencoder(cls, path: Path, task: str) -> "Normaliser":
        """The field normalisation the autoencoder works in: per-sample scaled (the stats of
        u / param) for a task linear in a parameter, plain for the others. The top-level
        statistics stay those of u itself (the FNO baseline's)."""
        return cls.from_stats(path, "scaled" if get_task(task).linear_in else None)

    def _scale(self, scale, u):
        """`scale`: one value per leading index of `u` (or one value) -> broadcastable."""
        if not self.by:
            return None
        if scale is None:
            raise ValueError(f"these fields are normalised per sample by {self.by!r}; pass each "
                             f"sample's {self.by}")
        shape = (-1,) + (1,) * (u.ndim - 1)
        if isinstance(u, torch.Tensor):
            return torch.as_tensor(scale, dtype=u.dtype, device=u.device).reshape(shape)
        return np.asarray(scale, u.dtype).reshape(shape)

    def encode(self, u: np.ndarray, scale=None) -> np.ndarray:
        s = self._scale(scale, u)
        return ((u if s is None else u / s) - self.mean) / self.std

    def decode(self, u: np.ndarray | torch.Tensor, scale=None) -> np.ndarray | torch.Tensor:
        s = self._scale(scale, u)
        if isinstance(u, torch.Tensor):
            out = u * torch.as_tensor(self.std) + torch.as_tensor(self.mean)
        else:
            out = u * self.std + self.mean
        return out if s is None else out * s


def field_scale(store: GridStore) -> np.ndarray | None:
    """Each trajectory's value of the parameter its fields are proportional to (N,), for a
    task with `linear_in` (Darcy: beta); None for the others."""
    name = get_task(store.task).linear_in
    if not name:
        return None
    if name not in store.param_names:
        raise ValueError(f"{store.path}: task {store.task} scales its fields by {name!r}, but "
                         f"the store's parameters are {list(store.param_names)}; convert the "
                         "task again")
    scale = np.asarray(store.params[:, store.param_names.index(name)], np.float64)
    bad = ~np.isfinite(scale) | (scale == 0)
    if bad.any():
        raise ValueError(f"{store.path}: {name} is {scale[bad][0]} for trajectory "
                         f"{int(np.flatnonzero(bad)[0])}; the fields are divided by it, so it "
                         "must be finite and non-zero")
    return scale


def param_vector(names: tuple[str, ...], values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-trajectory params (N, P_task) -> vocabulary-wide (N, P_vocab) values and mask."""
    out = np.ones((values.shape[0], len(PARAM_VOCAB)), np.float32)
    mask = np.zeros_like(out)
    for j, name in enumerate(names):
        k = PARAM_VOCAB.index(name)
        out[:, k], mask[:, k] = values[:, j], 1.0
    return out, mask


@dataclass
class FieldView:
    """One set of named fields of a task, normalised: the predicted fields, or the inputs."""

    channels: tuple[str, ...]
    values: np.ndarray  # (N, T, P, C); inputs have T = 1
    role: str  # "fields" or "inputs"
    norm: Normaliser  # the train-split statistics the values were normalised with


def task_views(root: Path, store: GridStore) -> list[FieldView]:
    """The normalised field sets of a loaded split: its fields, and its inputs if it has them
    (the encoder learns to encode Darcy's coefficient and NS's forcing as well)."""
    root = Path(root)
    n, t, c = store.fields.shape[0], store.fields.shape[1], store.fields.shape[-1]
    norm = Normaliser.for_autoencoder(root / "stats.json", store.task)
    # Fields of a task linear in a parameter are kept as u / param: the autoencoder's units.
    # The view's own normaliser maps back to those units only (no per-sample factor): the
    # per-frame nRMSE of validation and the priors (zero boundary, positivity) do not see it.
    values = norm.encode(np.asarray(store.fields), field_scale(store))
    views = [FieldView(store.channels, values.reshape(n, t, -1, c), "fields",
                       dataclasses.replace(norm, by=""))]
    if store.inputs is not None:
        in_norm = Normaliser.from_stats(root / "stats.json", "inputs")
        inputs = in_norm.encode(store.inputs[()])
        views.append(FieldView(store.input_channels, inputs.reshape(n, 1, -1, inputs.shape[-1]),
                               "inputs", in_norm))
    return views


class TaskFrames:
    """Normalised frames of one task's split, for the autoencoder, in memory.

    Every field set (`views`) is a source of frames: a frame is (positions (P, 3), values
    (P, C)) of one trajectory at one step.
    """

    def __init__(self, root: Path, split: str):
        store = open_store(split_path(root, split)).load()
        self.task = store.task
        self.spec = get_task(store.task)
        self.task_id = task_index(store.task)
        self.views = task_views(root, store)
        self.geometry = Geometry(store)
        self.store = store

    def sample(self, rng: np.random.Generator, batch: int,
               view: int | None = None) -> tuple[FieldView, np.ndarray, np.ndarray]:
        """A batch of random frames of one field set (random unless `view` is given):
        (view, positions (B, P, 3), values (B, P, C))."""
        if view is None:
            view = int(rng.integers(len(self.views))) if len(self.views) > 1 else 0
        v = self.views[view]
        n, n_t = v.values.shape[:2]
        flat = rng.integers(n * n_t, size=batch)
        return v, *self.frames(v, flat)

    def frames(self, view: FieldView, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frames of `view` by flat (trajectory * T + step) index -> positions (B, P, 3) and
        values (B, P, C)."""
        n_t = view.values.shape[1]
        traj, step = flat // n_t, flat % n_t
        return np.ascontiguousarray(self.geometry.at(traj, step)), view.values[traj, step]

    def n_frames(self, view: FieldView) -> int:
        return view.values.shape[0] * view.values.shape[1]


class TaskMixer:
    """Chooses the task of each batch.

    "uniform": every task equally often. "size": in proportion to each task's number of training
    samples. "val_error": in proportion to each task's latest validation error, with half of the
    probability spread evenly so that no task starves: the tasks the model is worst at get more
    steps (`update` is called at every validation). A curriculum (`schedule`, pairs
    [start_step, n_tasks]) draws only from the first n tasks from each start step on.
    """

    MODES = ("uniform", "size", "val_error")

    def __init__(self, tasks: list[str], seed: int, mode: str = "uniform",
                 sizes: list[int] | None = None,
                 schedule: tuple[tuple[int, int], ...] = ()):
        if mode not in self.MODES:
            raise ValueError(f"task mixing mode {mode!r}; expected one of {self.MODES}")
        if mode == "size" and (sizes is None or len(sizes) != len(tasks) or min(sizes) <= 0):
            raise ValueError(f"task mixing 'size' needs a positive size per task, got {sizes}")
        self.tasks, self.mode, self.schedule = tasks, mode, schedule
        self.rng = np.random.default_rng(seed)
        self.p = np.full(len(tasks), 1.0 / len(tasks))
        if mode == "size":
            self.p = np.asarray(sizes, np.float64) / np.sum(sizes)

    def update(self, errors: list[float]) -> None:
        """Re-weight from per-task validation errors (only in "val_error" mode)."""
        e = np.asarray(errors, dtype=np.float64)
        if self.mode != "val_error" or not np.isfinite(e).all() or e.sum() <= 0:
            return
        self.p = 0.5 / len(e) + 0.5 * e / e.sum()

    def active(self, step: int) -> int:
        """How many tasks (the first ones of `tasks`) the curriculum admits at `step`."""
        n = len(self.tasks)
        for start, count in self.schedule:
            if step >= start:
                n = min(count, len(self.tasks))
        return n

    def next(self, step: int = 0) -> int:
        k = self.active(step)
        if self.mode == "uniform":
            return int(self.rng.integers(k))
        p = self.p[:k] / self.p[:k].sum()
        return int(self.rng.choice(k, p=p))


class LatentTrajectories:
    """A task's latent cache split: (N, T, L, D) float16 on disk, normalised float32 in memory."""

    def __init__(self, root: Path, split: str, z_mean: np.ndarray | None = None,
                 z_std: np.ndarray | None = None):
        root = Path(root)
        self.meta = read_json(root / "meta.json")
        self.task = self.meta["task"]
        self.task_id = task_index(self.task)
        self.dt = float(self.meta["dt"])
        z = np.load(root / f"{split}.npy", mmap_mode="r")  # (N, T, L, D) float16
        self.raw = z
        self.z = None if z_mean is None else ((np.asarray(z, np.float32) - z_mean) / z_std)
        self.steady = bool(self.meta.get("steady", False))
        # Latents of the input fields (N, 1, L, D), for tasks that have them (the steady map's
        # input): normalised like the fields' latents.
        inputs = root / f"{split}_inputs.npy"
        self.raw_inputs = np.load(inputs, mmap_mode="r") if inputs.is_file() else None
        self.z_inputs = None
        if self.raw_inputs is not None and z_mean is not None:
            self.z_inputs = (np.asarray(self.raw_inputs, np.float32) - z_mean) / z_std
        if self.steady and self.raw_inputs is None:
            raise ValueError(f"{root}: steady task {self.task} has no {inputs.name}; encode the "
                             "task again")
        params = np.asarray(self.meta["params"][split], np.float64).reshape(z.shape[0], -1)
        self.params, self.param_mask = param_vector(tuple(self.meta["param_names"]), params)

    def cond(self, idx: np.ndarray) -> dict[str, torch.Tensor]:
        """The operator's conditioning for trajectories `idx`: task, dt, PDE parameters, and
        for a transient task with input fields (NS's forcing) their latents (B, L, D)."""
        b = len(idx)
        out = {"task_ids": torch.full((b,), self.task_id, dtype=torch.long),
               "dt": torch.full((b,), self.dt, dtype=torch.float32),
               "params": torch.from_numpy(self.params[idx]),
               "param_mask": torch.from_numpy(self.param_mask[idx])}
        if self.z_inputs is not None and not self.steady:
            out["forcing"] = torch.from_numpy(self.z_inputs[idx, 0])
        return out


def latent_stats(caches: list[LatentTrajectories]) -> tuple[np.ndarray, np.ndarray]:
    """Per-latent-channel mean and std over the train caches of all tasks, shape (D,)."""
    d = caches[0].raw.shape[-1]
    total, sq, count = np.zeros(d), np.zeros(d), 0
    for c in caches:
        flat = np.asarray(c.raw, np.float64).reshape(-1, d)
        total += flat.sum(0)
        sq += (flat ** 2).sum(0)
        count += flat.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(sq / count - mean ** 2, 0.0))
    # Slots that (nearly) never vary, e.g. those a task's lattice leaves empty, are not blown up
    # to unit scale: their std is floored at a thousandth of the largest.
    std = np.maximum(std, 1e-3 * max(float(std.max()), 1e-6))
    return mean.astype(np.float32), std.astype(np.float32)


__all__ = ["FieldView", "Geometry", "GridStore", "LatentTrajectories", "Normaliser",
           "TaskFrames", "TaskMixer", "domain_bounds", "grid_positions", "latent_stats",
           "normalised_points", "param_vector", "task_views"]
