"""The POD baseline's model: a PCA basis of the task's frames and linear maps between PCA
coefficients, one per group of trajectories that share their PDE parameters.

Units. A frame is one state with every point and channel flattened, channels last (D = points x
channels), standardised per channel with the train split's statistics (stats.json; for a task
linear in a parameter, Darcy's forcing, the statistics of u / that parameter, as the autoencoder
sees it: every forcing file then shares one map). Coefficients are the frame's projection on
the basis, a = B^T (y - mean).

Maps. Features z = [a(t) (m), input-field coefficients f (m_in), 1]:
  transient:  a(t+1) = a(t) + z(t) W   (record `target` "increment"), or
              a(t+1) = z(t) W          ("state"); W: (F, m); NS's forcing enters through f
  steady:     a      = [f, 1] W        (Darcy: the coefficient field's PCA coefficients -> u's)
`maps` holds one W per train group (trajectories with equal parameter values, the linear_in
parameter excepted), then the map fitted on all train trajectories, which serves a group too
small for its own and any trajectory whose parameters no train group has.

Saved as one .npz (no pickles): the arrays, and `record`, the JSON description of the fit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ups.io import atomic_file, naming
from ups.training.pca import PCA

READ_ELEMENTS = 1 << 24  # float64 values per chunk read from a store (128 MB)
FORMAT = "ups-pod-1"


@dataclass(frozen=True)
class FrameNorm:
    """Per-channel standardisation; with `by`, each trajectory is first divided by its value
    of that parameter. (The same statistics as `ups.data.datasets.Normaliser`, in numpy and
    float64: the POD imports no torch, and its stage re-runs only when its own code changes.)"""

    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)
    by: str = ""

    @classmethod
    def from_stats(cls, stats: dict, key: str | None, path: Path) -> FrameNorm:
        """The statistics of stats.json (`stats`, read from `path`), or of its `key` block."""
        block = stats if key is None else stats.get(key)
        if not isinstance(block, dict) or not {"mean", "std"} <= set(block):
            raise ValueError(f"{path}: no {key or 'field'} statistics (mean, std); convert "
                             "the task again")
        std = np.asarray(block["std"], np.float64)
        return cls(np.asarray(block["mean"], np.float64), np.where(std > 0, std, 1.0),
                   str(block.get("by", "")))

    def encode(self, u: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
        """Physical (n, ..., C) -> normalised float64; `scale` (n,) where `by` is set."""
        u = np.asarray(u, np.float64)
        if scale is not None:
            u = u / scale.reshape((-1,) + (1,) * (u.ndim - 1))
        return (u - self.mean) / self.std

    def decode(self, y: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
        u = y * self.std + self.mean
        return u if scale is None else u * scale.reshape((-1,) + (1,) * (u.ndim - 1))

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "by": self.by}

    @classmethod
    def from_json(cls, block: dict) -> FrameNorm:
        return cls(np.asarray(block["mean"]), np.asarray(block["std"]), block.get("by", ""))


@dataclass
class Split:
    """One split of a task as the POD reads it: arrays or HDF5 datasets, read in chunks."""

    path: Path
    fields: Any  # (N, T, *S, C) physical
    params: np.ndarray  # (N, P)
    param_names: tuple[str, ...]
    inputs: Any = None  # (N, *S, Cin), tasks with input fields

    @property
    def n(self) -> int:
        return int(self.fields.shape[0])

    @property
    def n_times(self) -> int:
        return int(self.fields.shape[1])

    @property
    def dim(self) -> int:
        """Values per frame: points x channels."""
        return int(np.prod(self.fields.shape[2:]))

    def chunks(self, n: int | None = None) -> Iterator[slice]:
        """Slices of the first `n` (all) trajectories, each within READ_ELEMENTS values."""
        n = self.n if n is None else n
        step = max(1, READ_ELEMENTS // max(1, self.n_times * self.dim))
        for s in range(0, n, step):
            yield slice(s, min(n, s + step))

    def scale(self, by: str, rows: slice) -> np.ndarray | None:
        """Each trajectory's value of parameter `by` (n,), or None without one."""
        if not by:
            return None
        if by not in self.param_names:
            raise ValueError(f"{self.path}: the fields are normalised by {by!r}, but the "
                             f"store's parameters are {list(self.param_names)}")
        return np.asarray(self.params[rows, self.param_names.index(by)], np.float64)

    def frames(self, norm: FrameNorm, rows: slice) -> np.ndarray:
        """Normalised frames (n, T, D) of trajectories `rows`."""
        u = np.asarray(self.fields[rows])
        return norm.encode(u, self.scale(norm.by, rows)).reshape(len(u), self.n_times, -1)

    def input_frames(self, norm: FrameNorm, rows: slice) -> np.ndarray:
        """Normalised input fields (n, D_in) of trajectories `rows`."""
        f = np.asarray(self.inputs[rows])
        return norm.encode(f, None).reshape(len(f), -1)


def features(n: int, a: np.ndarray | None, f: np.ndarray | None) -> np.ndarray:
    """[a, f, 1] (n, F) from state coefficients a (n, m) and input coefficients f (n, m_in),
    either absent."""
    return np.concatenate([p for p in (a, f) if p is not None] + [np.ones((n, 1))], axis=1)


def roll(maps: np.ndarray, which: np.ndarray, a0: np.ndarray, f: np.ndarray | None,
         steps: int, increment: bool) -> np.ndarray:
    """Coefficient rollouts (n, steps + 1, m) from a0 (n, m), the given state first, each
    trajectory with its map `maps[which]` (maps: (G + 1, F, m))."""
    out = np.empty((len(a0), steps + 1, a0.shape[1]))
    out[:, 0] = a0
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging map: inf, scored as such
        for t in range(steps):
            out[:, t + 1] = step(maps, which, out[:, t], f, increment)
    return out


def step(maps: np.ndarray, which: np.ndarray, a: np.ndarray | None, f: np.ndarray | None,
         increment: bool = False) -> np.ndarray:
    """One map application (n, m): the next state's coefficients from a (n, m) (`increment`:
    the map gives a(t+1) - a(t)), or (a None, steady) the solution's from the input
    coefficients f."""
    out = np.einsum("nf,nfm->nm", features(len(which), a, f), maps[which])
    return a + out if increment else out


def match_groups(keys: np.ndarray, group_keys: np.ndarray) -> np.ndarray:
    """Index (n,) of the group whose parameter values each row of `keys` (n, P') has; rows
    that match none get len(group_keys), the map of all groups."""
    out = np.full(len(keys), len(group_keys))
    for g, key in enumerate(group_keys):
        out[np.all(np.isclose(keys, key, rtol=1e-12, atol=0.0), axis=1)] = g
    return out


@dataclass
class PODModel:
    """A fitted POD baseline (see the module docstring)."""

    record: dict  # JSON-able description of the fit (task, norms, choice, groups, table)
    state: PCA  # m modes of the predicted fields
    inputs: PCA | None  # m_in modes of the input fields, for tasks that have them
    maps: np.ndarray  # (G + 1, F, m): each train group's map, then the map of all of them
    group_keys: np.ndarray  # (G, P'): the parameter values (of `group_by`) of each group

    @property
    def steady(self) -> bool:
        return bool(self.record["steady"])

    @property
    def norm(self) -> FrameNorm:
        return FrameNorm.from_json(self.record["normalisation"]["fields"])

    @property
    def input_norm(self) -> FrameNorm | None:
        block = self.record["normalisation"].get("inputs")
        return None if block is None else FrameNorm.from_json(block)

    def which(self, params: np.ndarray, names: tuple[str, ...], path: Path) -> np.ndarray:
        """The map of each trajectory (n,): its group's, or the last (all groups') where no
        train group has its parameter values."""
        if list(names) != self.record["param_names"]:
            raise ValueError(f"{path}: parameters {list(names)}; the POD was fitted with "
                             f"{self.record['param_names']}")
        return match_groups(group_columns(params, names, self.record["group_by"]),
                            self.group_keys)

    @property
    def increment(self) -> bool:
        """Whether the transient map predicts a(t+1) - a(t) (else a(t+1) itself)."""
        return self.record.get("target") == "increment"

    def roll(self, a0: np.ndarray, f: np.ndarray | None, which: np.ndarray,
             steps: int) -> np.ndarray:
        return roll(self.maps, which, a0, f, steps, self.increment)

    def step(self, a: np.ndarray | None, f: np.ndarray | None, which: np.ndarray) -> np.ndarray:
        return step(self.maps, which, None if self.steady else a, f, self.increment)

    def predict(self, split: Split, mode: str, n: int) -> np.ndarray:
        """Physical predictions (n, T, *S, C) for the first `n` trajectories of `split`.

        mode "rollout": autoregressive from the true first state (index 0 = that state);
        "one_step": from the true state at every step (index 0 = the truth); "steady": the
        solution from the input fields, (n, 1, *S, C)."""
        if mode not in ("rollout", "one_step", "steady"):
            raise ValueError(f"predict: mode {mode!r}; expected 'rollout', 'one_step' or "
                             "'steady'")
        norm, in_norm = self.norm, self.input_norm
        which = self.which(split.params[:n], split.param_names, split.path)
        out = np.empty((n, *split.fields.shape[1:]), np.float32)
        for rows in split.chunks(n):
            f = None if self.inputs is None else self.inputs.project(
                split.input_frames(in_norm, rows))  # (b, m_in)
            w = which[rows]
            if mode == "steady":
                a = self.step(None, f, w)[:, None]  # (b, 1, m)
            else:
                y = split.frames(norm, rows)  # (b, T, D)
                if mode == "rollout":
                    a = self.roll(self.state.project(y[:, 0]), f, w, y.shape[1] - 1)
                else:
                    b, n_t = y.shape[:2]
                    now = self.state.project(y[:, :-1].reshape(b * (n_t - 1), -1))
                    nxt = self.step(now, np.repeat(f, n_t - 1, 0) if f is not None else None,
                                    np.repeat(w, n_t - 1))
                    a = np.concatenate([self.state.project(y[:, :1]),
                                        nxt.reshape(b, n_t - 1, -1)], axis=1)
            with np.errstate(over="ignore", invalid="ignore"):
                y_hat = self.state.decode(a)  # (b, T, D)
            u = norm.decode(y_hat.reshape(len(y_hat), *split.fields.shape[1:]),
                            split.scale(norm.by, rows))
            if mode != "steady":
                u[:, 0] = split.fields[rows, 0]  # the given state, as every model has it
            out[rows] = u
        return out


def group_columns(params: np.ndarray, names: tuple[str, ...],
                  group_by: list[str]) -> np.ndarray:
    """The columns of `params` (N, P) that define groups, (N, P')."""
    params = np.asarray(params, np.float64).reshape(len(params), -1)
    return params[:, [list(names).index(k) for k in group_by]]


def save_pod(path: Path, model: PODModel) -> None:
    """Write `model` to `path` (.npz) atomically."""
    arrays = {"state_mean": model.state.mean, "state_basis": model.state.basis,
              "state_variance": model.state.variance, "maps": model.maps,
              "group_keys": model.group_keys}
    if model.inputs is not None:
        arrays.update(input_mean=model.inputs.mean, input_basis=model.inputs.basis,
                      input_variance=model.inputs.variance)
    _write(path, {"format": FORMAT, **model.record}, arrays)


def save_disabled_pod(path: Path, reason: str) -> None:
    """A model file that holds no model, saying why (switched off, a task of moving points)."""
    _write(path, {"format": FORMAT, "disabled": reason}, {})


def _write(path: Path, record: dict, arrays: dict[str, np.ndarray]) -> None:
    path = Path(path)
    with atomic_file(path) as tmp, naming(path), open(tmp, "wb") as fh:
        # A file handle, not a name: np.savez would append ".npz" to the temporary name.
        np.savez(fh, record=np.array(json.dumps(record)), **arrays)


def read_record(path: Path) -> dict:
    """The JSON record of a POD model file; refuses a file that is not one, naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: POD model not found (run train_pod)")
    try:
        with np.load(path, allow_pickle=False) as z:
            record = json.loads(str(z["record"]))
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not a POD model file ({err})") from None
    if record.get("format") != FORMAT:
        raise ValueError(f"{path}: format {record.get('format')!r}; expected {FORMAT!r} "
                         "(re-run train_pod)")
    return record


def load_pod(path: Path) -> PODModel:
    """The fitted model at `path`; a disabled marker is refused naming its reason."""
    record = read_record(path)
    if record.get("disabled"):
        raise ValueError(f"{path}: holds no POD model ({record['disabled']})")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "record"}
    state = _pca(arrays, "state", record["pca"])
    inputs = _pca(arrays, "input", record["pca"]) if "input_basis" in arrays else None
    return PODModel(record, state, inputs, arrays["maps"], arrays["group_keys"])


def _pca(arrays: dict, prefix: str, info: dict) -> PCA:
    return PCA(arrays[f"{prefix}_mean"], arrays[f"{prefix}_basis"],
               arrays[f"{prefix}_variance"], float(info.get(f"{prefix}_total_variance", 0.0)),
               str(info.get("method", "")), int(info.get("frames", 0)))
