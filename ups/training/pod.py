"""The POD baseline phase: fit a PCA basis and linear maps in PCA coordinates on a task's
converted train split, choose the number of modes, the ridge and the map's target on its val
split.

1. PCA of every train frame, normalised with stats.json (`ups.training.pca`; for tasks with
   input fields, a second PCA of those: Darcy's coefficient, NS's forcing).
2. Ridge least squares per group of train trajectories with equal PDE parameters (the store's
   `params` rows; a linear_in parameter is divided out instead, see `ups.training.pod_model`)
   over every consecutive pair of frames: the increment a(t+1) - a(t) = [a(t), f, 1] W, or the
   state a(t+1) = [a(t), f, 1] W (the two differ only in what the ridge shrinks towards:
   persistence or the mean field); steady, a = [f, 1] W. The ridge penalises W but not its
   bias row, with strength `ridge` x the features' mean second moment (so the candidates mean
   the same at any scale). A group with fewer than PAIRS_PER_FEATURE pairs per unknown of an
   output uses the map of all train trajectories; the record says which groups did.
3. Every candidate (modes, target, ridge) is scored by the nRMSE, in physical units, of full
   rollouts of the first VAL_TRAJECTORIES val trajectories from their first state (steady: of
   the predicted solution), as evaluation scores the test split; the lowest wins (ties: the
   fewer modes, the increment, the larger ridge). Scoring needs no decoding: with r = y - mean
   and B_c the basis rows of channel c, |r_c - B_c a|^2 = |r_c|^2 - 2 a.(B_c^T r_c) +
   a^T (B_c^T B_c) a, whose parts are computed once per val frame, so a candidate costs O(m^2)
   per frame, not O(D m).

The normal equations of every group are accumulated once for the largest basis; a candidate
with fewer modes solves their leading block, so the whole choice costs one pass over the data.
Steady (Darcy): the input field's coefficients map to the solution's, m modes each.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ups.data.store import GridStore, open_store, split_path
from ups.io import read_json
from ups.tasks import get_task
from ups.training.pca import PCA, fit_pca
from ups.training.pod_model import (
    FrameNorm,
    PODModel,
    Split,
    group_columns,
    match_groups,
    roll,
    save_pod,
    step,
)

VAL_TRAJECTORIES = 64  # val trajectories rolled out per candidate (the FNO validates as many)
PAIRS_PER_FEATURE = 2  # a group's own map needs this many pairs per unknown of each output
# What a transient map predicts, both scored on val: the increment a(t+1) - a(t) (a strong
# ridge shrinks it towards persistence) or the state a(t+1) (towards the mean field). A steady
# map predicts the solution.
TARGETS = {False: ("increment", "state"), True: ("state",)}


def check_fixed_points(store: GridStore) -> None:
    """The POD needs the same points in every frame: particles that move are refused."""
    if store.points is not None and store.points.shape[1] > 1:
        raise ValueError(f"{store.path}: task '{store.task}' is a {store.kind} task whose "
                         "points move; the POD baseline needs fixed points (a grid or a mesh)")


@dataclass
class Normal:
    """The normal equations of the least-squares maps: one block per train group, then their
    sum (the map of all trajectories), over the full feature layout [a (K), f (K_in), 1]."""

    gram: np.ndarray  # (G + 1, F, F): sum of z^T z
    cross: np.ndarray  # (G + 1, F, K): sum of z^T (a(t+1) - a(t)); steady: of z^T a
    pairs: np.ndarray  # (G + 1,): regression pairs


def normal_equations(blocks: Iterable[tuple[np.ndarray, np.ndarray | None, np.ndarray]],
                     n_groups: int, n_modes: int, n_input: int, steady: bool) -> Normal:
    """From blocks of train trajectories: coefficients a (n, T, K), input coefficients
    f (n, K_in) (or None) and each trajectory's group (n,); K = n_modes, K_in = n_input."""
    n_feat = (0 if steady else n_modes) + n_input + 1
    gram = np.zeros((n_groups + 1, n_feat, n_feat))
    cross = np.zeros((n_groups + 1, n_feat, n_modes))
    pairs = np.zeros(n_groups + 1, np.int64)
    for a, f, group in blocks:
        z, y, g = _pairs(a, f, group, steady)
        for k in np.unique(g):
            zk, yk = z[g == k], y[g == k]  # (p, F), (p, K)
            gram[k] += zk.T @ zk
            cross[k] += zk.T @ yk
            pairs[k] += len(zk)
    gram[-1], cross[-1], pairs[-1] = gram[:-1].sum(0), cross[:-1].sum(0), pairs[:-1].sum()
    return Normal(gram, cross, pairs)


def _pairs(a: np.ndarray, f: np.ndarray | None, group: np.ndarray,
           steady: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regression rows: features z (p, F), targets (p, K) and their group (p,)."""
    n, n_t, k = a.shape
    if steady:
        z = np.concatenate([p for p in (f,) if p is not None] + [np.ones((n, 1))], axis=1)
        return z, a[:, 0], group
    parts = [a[:, :-1]]  # (n, T-1, K)
    if f is not None:
        parts.append(np.repeat(f[:, None], n_t - 1, axis=1))  # (n, T-1, K_in)
    parts.append(np.ones((n, n_t - 1, 1)))
    z = np.concatenate(parts, axis=2).reshape(n * (n_t - 1), -1)
    increment = a[:, 1:] - a[:, :-1]  # `solve_maps` turns these into states where asked
    return z, increment.reshape(-1, k), np.repeat(group, n_t - 1)


def feature_index(m: int, m_in: int, n_state: int, n_input: int) -> np.ndarray:
    """Where a candidate's features [a (m), f (m_in), 1] sit in the full layout
    [a (n_state), f (n_input), 1] (n_state = 0 for a steady task)."""
    return np.concatenate([np.arange(min(m, n_state)), n_state + np.arange(m_in),
                           [n_state + n_input]]).astype(np.int64)


def solve_maps(normal: Normal, index: np.ndarray, m: int, ridge: float,
               to_state: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Every group's ridge map (G + 1, F', m) on the features `index`, and whether each group
    got its own (G + 1,) (False: too few pairs; it carries the map of all groups).

    A transient task's `normal` holds increments; `to_state` fits a(t+1) itself instead:
    sum z^T a(t+1) = sum z^T (a(t+1) - a(t)) + sum z^T a(t), and a(t) is z's first block."""
    maps = np.stack([_ridge(normal.gram[g][np.ix_(index, index)],
                            normal.cross[g][index, :m]
                            + (normal.gram[g][index, :m] if to_state else 0.0), ridge)
                     for g in range(len(normal.pairs))])
    own = normal.pairs >= PAIRS_PER_FEATURE * len(index)
    own[-1] = True
    if len(own) == 2:  # one group: the map of all trajectories is its own
        own[0] = True
    maps[~own] = maps[-1]
    return maps, own


def _ridge(gram: np.ndarray, cross: np.ndarray, ridge: float) -> np.ndarray:
    """argmin_W |Z W - Y|^2 + lam |W without its bias row|^2 from Z^T Z and Z^T Y."""
    penalty = np.ones(len(gram))
    penalty[-1] = 0.0  # the bias row (the last feature) is not shrunk
    second = np.diag(gram)[:-1]
    lam = ridge * float(second.mean()) if len(second) and second.mean() > 0 else 0.0
    lhs = gram + np.diag(lam * penalty)
    try:
        return np.linalg.solve(lhs, cross)
    except np.linalg.LinAlgError:  # a singular block (no penalty, or features without spread)
        return np.linalg.lstsq(lhs, cross, rcond=None)[0]


@dataclass
class ValScore:
    """What scoring coefficient predictions on the val frames needs, computed once (see the
    module docstring): per val trajectory n, scored frame t and channel c."""

    resid2: np.ndarray  # (n, T', C) |y_c - mean_c|^2 in normalised units
    proj: np.ndarray  # (n, T', C, K) B_c^T (y_c - mean_c)
    gram: np.ndarray  # (C, K, K) B_c^T B_c
    weight: np.ndarray  # (n, C) (scale x std_c)^2 / points: normalised -> physical mean square
    norm2: np.ndarray  # (n, T', C) mean over the points of the physical truth squared

    @classmethod
    def build(cls, split: Split, norm: FrameNorm, pca: PCA, n: int, first: int) -> ValScore:
        """From the first `n` trajectories of `split`, frames `first`.. (1: a rollout, the
        given state excluded; 0: a steady solution)."""
        channels = split.fields.shape[-1]
        points = split.dim // channels
        basis = pca.basis.reshape(points, channels, -1)  # (P, C, K)
        mean = pca.mean.reshape(points, channels)
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("resid2", "proj", "norm2", "w")}
        for rows in split.chunks(n):
            u = np.asarray(split.fields[rows], np.float64)[:, first:]
            u = u.reshape(len(u), u.shape[1], points, channels)  # (b, T', P, C)
            scale = split.scale(norm.by, rows)
            r = norm.encode(u, scale) - mean
            parts["resid2"].append(np.einsum("btpc,btpc->btc", r, r))
            parts["proj"].append(np.einsum("btpc,pck->btck", r, basis))
            parts["norm2"].append(np.einsum("btpc,btpc->btc", u, u) / points)
            s = np.ones(len(u)) if scale is None else scale
            parts["w"].append((s[:, None] * norm.std[None]) ** 2 / points)
        cat = {k: np.concatenate(v) for k, v in parts.items()}
        return cls(cat["resid2"], cat["proj"], np.einsum("pck,pcl->ckl", basis, basis),
                   cat["w"], cat["norm2"])

    def nrmse(self, a: np.ndarray) -> float:
        """nRMSE of the predictions with coefficients a (n, T', m) on the first m modes: per
        (channel, frame) the mean over trajectories, then the mean (PDEBench's definition, as
        `ups.eval.metrics`); inf for a prediction that diverged."""
        m = a.shape[-1]
        with np.errstate(over="ignore", invalid="ignore"):
            cross = np.einsum("ntck,ntk->ntc", self.proj[..., :m], a)
            quad = np.einsum("ntl,ntcl->ntc", a,
                             np.einsum("ntk,ckl->ntcl", a, self.gram[:, :m, :m]))
            err2 = np.clip(self.resid2 - 2 * cross + quad, 0.0, None) * self.weight[:, None]
            valid = self.norm2 > 0  # a zero target is excluded, as the metrics do
            ratio = np.where(valid, np.sqrt(err2) / np.sqrt(np.where(valid, self.norm2, 1)),
                             0.0)
        if not np.isfinite(ratio).all():
            return float("inf")
        count = valid.sum(0)  # (T', C)
        defined = count > 0
        return float((ratio.sum(0)[defined] / count[defined]).mean()) if defined.any() \
            else float("inf")


def coefficient_blocks(split: Split, norm: FrameNorm, pca: PCA, in_norm: FrameNorm | None,
                       in_pca: PCA | None, n: int | None = None
                       ) -> Iterator[tuple[slice, np.ndarray, np.ndarray | None]]:
    """The first `n` (all) trajectories of `split` on the full bases, chunk by chunk: rows,
    a (b, T, K) and f (b, K_in) (None without input fields)."""
    for rows in split.chunks(n):
        f = None if in_pca is None else in_pca.project(split.input_frames(in_norm, rows))
        yield rows, pca.project(split.frames(norm, rows)), f


def coefficients(split: Split, norm: FrameNorm, pca: PCA, in_norm: FrameNorm | None,
                 in_pca: PCA | None, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """`coefficient_blocks` of the first n trajectories, joined: (n, T, K), (n, K_in)."""
    blocks = list(coefficient_blocks(split, norm, pca, in_norm, in_pca, n))
    f = None if in_pca is None else np.concatenate([b[2] for b in blocks])
    return np.concatenate([b[1] for b in blocks]), f


def pca_of(split: Split, norm: FrameNorm, k_max: int, seed: int, inputs: bool = False) -> PCA:
    """The train split's PCA: of all its frames, or of its input fields."""
    if inputs:
        dim = int(np.prod(split.inputs.shape[1:]))
        return fit_pca(lambda: (split.input_frames(norm, r) for r in split.chunks()), split.n,
                       dim, k_max, seed)
    return fit_pca(lambda: (split.frames(norm, r).reshape(-1, split.dim)
                            for r in split.chunks()),
                   split.n * split.n_times, split.dim, k_max, seed)


@dataclass(frozen=True)
class Candidates:
    """What the val split chooses from: numbers of modes and relative ridges."""

    modes: tuple[int, ...]
    ridge: tuple[float, ...]


@dataclass
class Validation:
    """The val trajectories every candidate is scored on."""

    score: ValScore
    a0: np.ndarray  # (n, K) coefficients of the first states
    f: np.ndarray | None  # (n, K_in) input-field coefficients
    which: np.ndarray  # (n,) each trajectory's map
    steps: int  # rollout steps, T - 1 (0: steady)

    def error(self, maps: np.ndarray, m: int, m_in: int, target: str) -> float:
        """Rollout (steady: solution) nRMSE with `maps` on m modes and m_in input modes."""
        f = None if self.f is None else self.f[:, :m_in]
        if not self.steps:
            return self.score.nrmse(step(maps, self.which, None, f)[:, None])  # (n, 1, m)
        a = roll(maps, self.which, self.a0[:, :m], f, self.steps, target == "increment")
        return self.score.nrmse(a[:, 1:])  # (n, T-1, m): the given state is not scored


def choose(normal: Normal, val: Validation, candidates: Candidates, n_modes: int,
           n_input: int, steady: bool) -> tuple[list[dict], dict | None]:
    """Every candidate's val nRMSE (the table) and the best one with its maps (None if every
    candidate diverged); n_modes and n_input: the modes the two bases have."""
    n_state = 0 if steady else n_modes  # a steady map has no state features
    table, best = [], None
    for m in sorted({min(m, n_modes) for m in candidates.modes}):
        m_in = min(m, n_input)
        index = feature_index(m, m_in, n_state, n_input)
        for target in TARGETS[steady]:
            for ridge in sorted(candidates.ridge, reverse=True):
                maps, own = solve_maps(normal, index, m, ridge,
                                       to_state=target == "state" and not steady)
                error = val.error(maps, m, m_in, target)
                table.append({"modes": m, "input_modes": m_in, "target": target,
                              "ridge": ridge, "val_nrmse": error if np.isfinite(error) else None})
                if np.isfinite(error) and (best is None or error < best["val_nrmse"]):
                    best = {"val_nrmse": error, "modes": m, "input_modes": m_in,
                            "target": target, "ridge": ridge, "maps": maps, "own": own,
                            "need": PAIRS_PER_FEATURE * len(index)}
    return table, best


def fit_pod(train: Split, val: Split, norm: FrameNorm, in_norm: FrameNorm | None,
            candidates: Candidates, seed: int, steady: bool, meta: dict) -> PODModel:
    """Fit on `train`, choose on `val` (see the module docstring). `meta` (task, kind,
    channels, ...) goes into the record as it is."""
    start = time.perf_counter()
    k_max = max(candidates.modes)
    pca = pca_of(train, norm, k_max, seed)
    in_pca = None if train.inputs is None else pca_of(train, in_norm, k_max, seed, inputs=True)
    group_by = [p for p in train.param_names if p != norm.by]
    keys, group = _groups(group_columns(train.params, train.param_names, group_by))
    n_input = 0 if in_pca is None else in_pca.modes
    # Streamed: the train split's coefficients (N, T, K) are never held at once.
    normal = normal_equations(((a, f, group[rows]) for rows, a, f in
                               coefficient_blocks(train, norm, pca, in_norm, in_pca)),
                              len(keys), pca.modes, n_input, steady)
    n_val = min(VAL_TRAJECTORIES, val.n)
    val_a, val_f = coefficients(val, norm, pca, in_norm, in_pca, n_val)
    which = match_groups(group_columns(val.params[:n_val], val.param_names, group_by), keys)
    validation = Validation(ValScore.build(val, norm, pca, n_val, first=0 if steady else 1),
                            val_a[:, 0], val_f, which, 0 if steady else val.n_times - 1)
    table, best = choose(normal, validation, candidates, pca.modes, n_input, steady)
    if best is None:
        raise ValueError(f"{val.path}: every POD candidate's rollout diverged on the val split "
                         f"(modes {list(candidates.modes)}, ridge {list(candidates.ridge)}); "
                         "try larger ridge values (baselines.pod.ridge)")
    m, m_in = best["modes"], best["input_modes"]
    record = {**meta, "steady": steady, "param_names": list(train.param_names),
              "group_by": group_by,
              "normalisation": {"fields": norm.to_json(),
                                "inputs": None if in_norm is None else in_norm.to_json()},
              **{k: best[k] for k in ("modes", "input_modes", "target", "ridge", "val_nrmse")},
              "val_trajectories": n_val,
              # val trajectories whose parameters no train group has (the map of all groups)
              "val_without_group": int((which == len(keys)).sum()),
              "groups": _group_record(keys, group, group_by, normal, best["own"], best["need"]),
              "pca": _pca_record(pca, in_pca, m, m_in), "candidates": table,
              "fit_seconds": time.perf_counter() - start}
    return PODModel(record, pca.truncated(m), None if in_pca is None else in_pca.truncated(m_in),
                    best["maps"], keys)


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `keys` (G, P') and each trajectory's index among them (N,)."""
    if keys.shape[1] == 0:  # no parameters: one group
        return np.zeros((1, 0)), np.zeros(len(keys), np.int64)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    return unique, inverse.reshape(-1)


def _group_record(keys: np.ndarray, group: np.ndarray, group_by: list[str], normal: Normal,
                  own: np.ndarray, need: int) -> list[dict]:
    out = []
    for g, key in enumerate(keys):
        out.append({"params": dict(zip(group_by, map(float, key))),
                    "trajectories": int((group == g).sum()), "pairs": int(normal.pairs[g]),
                    "map": "own" if own[g] else
                    f"all trajectories' (too few pairs for its own: {int(normal.pairs[g])} < "
                    f"{need})"})
    return out


def _pca_record(pca: PCA, in_pca: PCA | None, m: int, m_in: int) -> dict:
    out = {"method": pca.method, "frames": pca.frames, "available_modes": pca.modes,
           "explained_variance": pca.explained(m), "state_total_variance": pca.total_variance}
    if in_pca is not None:
        out.update(input_method=in_pca.method, input_available_modes=in_pca.modes,
                   input_explained_variance=in_pca.explained(m_in),
                   input_total_variance=in_pca.total_variance)
    return out


def open_split(converted: Path, split: str, task: str | None = None) -> tuple[Split, GridStore]:
    """A converted split as the POD reads it (and its open store: close `fields.file`)."""
    store = open_store(split_path(converted, split))
    try:
        if task is not None and store.task != task:
            raise ValueError(f"{store.path}: holds task '{store.task}', expected '{task}'")
        check_fixed_points(store)
    except ValueError:
        store.fields.file.close()
        raise
    return Split(store.path, store.fields, np.asarray(store.params), store.param_names,
                 store.inputs), store


def train_pod(modes: tuple[int, ...], ridge: tuple[float, ...], seed: int, converted: Path,
              out: Path, task: str | None = None) -> dict:
    """Fit the POD baseline of the task converted in `converted` (train and val splits,
    stats.json) and write it to `out`; returns its record. Raises ValueError naming the file
    for a store of another task, of moving points, or without trajectories."""
    converted = Path(converted)
    stores = []
    try:
        train, store = open_split(converted, "train", task)
        stores.append(store)
        val, val_store = open_split(converted, "val", store.task)
        stores.append(val_store)
        _check_pair(store, val_store)
        spec = get_task(store.task)
        stats_path = converted / "stats.json"
        stats = read_json(stats_path)
        if list(stats.get("channels", [])) != list(store.channels):
            raise ValueError(f"{stats_path}: channels {stats.get('channels')}; the store has "
                             f"{list(store.channels)} (convert the task again)")
        norm = FrameNorm.from_stats(stats, "scaled" if spec.linear_in else None, stats_path)
        in_norm = None if store.inputs is None else FrameNorm.from_stats(stats, "inputs",
                                                                         stats_path)
        meta = {"task": store.task, "kind": store.kind, "channels": list(store.channels),
                "input_channels": list(store.input_channels),
                "spatial_shape": list(store.spatial_shape), "times": len(store.t)}
        model = fit_pod(train, val, norm, in_norm, Candidates(tuple(modes), tuple(ridge)),
                        seed, spec.steady, meta)
    finally:
        for s in stores:
            s.fields.file.close()
    save_pod(out, model)
    return model.record


def _check_pair(train: GridStore, val: GridStore) -> None:
    """Train and val must be the same task's splits, each with trajectories."""
    for store in (train, val):
        if store.n == 0:
            raise ValueError(f"{store.path}: no trajectories; the POD baseline needs train and "
                             "val trajectories (convert.val_fraction > 0)")
    for what, a, b in (("channels", train.channels, val.channels),
                       ("parameters", train.param_names, val.param_names),
                       ("frames", train.fields.shape[1:], val.fields.shape[1:])):
        if tuple(a) != tuple(b):
            raise ValueError(f"{val.path}: {what} {tuple(b)}; {train.path} has {tuple(a)}")
