"""Raw PDEBench-layout files -> the converted store of one task: splits, stats, manifest.

Streaming: one trajectory is in memory at a time, so converting an 8 GB file needs a few MB.
Splits are drawn over *initial-state indices*, not trajectories: PDEBench's 1D parameter files
share their initial states (trajectory i of every file starts from the same u0), so a split that
put index i in train for one file and in test for another would leak. Statistics come from the
train split only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ups.data.config import ConvertConfig, SourceConfig
from ups.data.pdebench import NonFiniteError, RawDataError, TrajectoryReader
from ups.data.raw import open_raw
from ups.data.sources import find_raw_files
from ups.data.store import SPLITS, PointSet, StoreWriter, split_path
from ups.io import atomic_dir, file_md5, require_free, write_json
from ups.tasks import TaskSpec


def assign_splits(n_states: int, cfg: ConvertConfig, seed: int,
                  layout: str = "tensor") -> np.ndarray:
    """Split label (0 train, 1 val, 2 test) of each initial-state index.

    Test takes the first `test_fraction` of an order, validation the next `val_fraction`: a
    seeded shuffle by default; with `split: pdebench`, PDEBench's order (a single file's first
    trajectories are its test set; a group file's last sorted keys are).
    """
    if cfg.split == "pdebench":
        order = np.arange(n_states)[::-1] if layout == "group" else np.arange(n_states)
    else:
        order = np.random.default_rng(seed).permutation(n_states)
    n_test = max(1, round(cfg.test_fraction * n_states))
    # A validation split is kept non-empty whenever one is asked for (model selection needs it).
    n_val = max(1, round(cfg.val_fraction * n_states)) if cfg.val_fraction > 0 else 0
    if n_states - n_test - n_val < 1:
        raise RawDataError(f"only {n_states} initial states: too few for val_fraction="
                           f"{cfg.val_fraction} and test_fraction={cfg.test_fraction}")
    labels = np.zeros(n_states, dtype=np.int64)
    labels[order[:n_test]] = 2
    labels[order[n_test:n_test + n_val]] = 1
    return labels


class _ChannelStats:
    """Running per-channel sums in float64 (exact enough for means and stds of float32 data)."""

    def __init__(self, n_channels: int):
        self.count = 0
        self.sum = np.zeros(n_channels)
        self.sumsq = np.zeros(n_channels)

    def add(self, u: np.ndarray) -> None:  # u: (T, *S, C)
        flat = u.reshape(-1, u.shape[-1]).astype(np.float64)
        self.count += flat.shape[0]
        self.sum += flat.sum(0)
        self.sumsq += (flat ** 2).sum(0)

    def result(self, channels: tuple[str, ...]) -> dict:
        mean = self.sum / self.count
        std = np.sqrt(np.maximum(self.sumsq / self.count - mean ** 2, 0.0))
        std = np.where(std > 0, std, 1.0)  # a constant channel: leave it unscaled
        return {"channels": list(channels), "mean": mean.tolist(), "std": std.tolist(),
                "count": self.count, "split": "train"}


def _linear_scale(reader: TrajectoryReader, spec: TaskSpec) -> float:
    """The file's value of the parameter the task's fields are proportional to."""
    value = float(reader.info.params[spec.linear_in])
    if not np.isfinite(value) or value == 0:
        raise RawDataError(f"{reader.info.path}: {spec.linear_in} is {value}; {spec.name}'s "
                           f"fields are divided by it, so it must be finite and non-zero")
    return value


def _check_consistent(readers: list[TrajectoryReader]) -> None:
    first = readers[0].info
    for r in readers[1:]:
        info = r.info
        if len(info.t) != len(first.t) or info.spatial_shape != first.spatial_shape:
            raise RawDataError(
                f"{info.path}: {len(info.t)} steps on a {info.spatial_shape} grid, but "
                f"{first.path.name} has {len(first.t)} steps on {first.spatial_shape}; "
                "the files of one task must share their resolution")


def convert_task(spec: TaskSpec, raw_dir: Path | None, out_dir: Path, cfg: ConvertConfig,
                 seed: int, source: SourceConfig = SourceConfig(),
                 files: list[Path] | None = None) -> dict:
    """Convert the raw files of `spec` into `out_dir`; returns the manifest.

    Files are `files` if given, else those `raw_dir` holds or names (see `find_raw_files`).
    `source` limits trajectories per file and subsamples space and time (PDEBench's
    `reduced_resolution` / `reduced_resolution_t`).
    """
    files = files if files is not None else find_raw_files(spec, raw_dir)
    files, md5s, duplicates = _deduplicate(files)
    readers: list[TrajectoryReader] = []
    try:
        for path in files:
            readers.append(open_raw(path, spec))
        _check_consistent(readers)
        require_free(out_dir, _store_bytes(readers, source), f"the converted store of {spec.name}")
        with atomic_dir(out_dir) as tmp:
            manifest = _write_splits(spec, readers, tmp, cfg, seed, source, md5s, duplicates)
    finally:
        for r in readers:
            r.close()
    return manifest


def _store_bytes(readers: list[TrajectoryReader], source: SourceConfig) -> int:
    """About the converted store's size: every trajectory as large as the first (float32)."""
    first = readers[0]
    one = _subsample(first.read(0), source).nbytes
    if first.spec.input_channels:
        one += first.read_inputs(0).nbytes
    if first.info.n_points:
        one += first.read_points(0).nbytes
    cap = source.max_trajectories
    return one * sum(min(r.info.n, cap) if cap else r.info.n for r in readers)


def _subsample(u: np.ndarray, source: SourceConfig, steps: bool = True) -> np.ndarray:
    """(T, *S, C) -> every reduced_resolution_t-th step (unless `steps` is False: a mesh's one
    set of nodes), every reduced_resolution-th point along each spatial axis."""
    r = source.reduced_resolution
    t_index = slice(None, None, source.reduced_resolution_t if steps else 1)
    index = (t_index, *[slice(None, None, r)] * (u.ndim - 2))
    return np.ascontiguousarray(u[index])


def _point_set(spec: TaskSpec, reader: TrajectoryReader, source: SourceConfig,
               n_times: int) -> PointSet | None:
    """How the store keeps a point-set task's points; None for grid tasks."""
    info = reader.info
    if not info.n_points:
        return None
    if info.cells is not None and source.reduced_resolution != 1:
        raise RawDataError(f"{info.path}: sources.{spec.name}.reduced_resolution is "
                           f"{source.reduced_resolution}; a mesh cannot be thinned by striding "
                           "its nodes (its cells would break): use 1")
    n_points = len(range(0, info.n_points, source.reduced_resolution))
    moving = info.cells is None  # particles move; a mesh's nodes are fixed
    return PointSet(kind=spec.kind, n_times=n_times if moving else 1, n_points=n_points,
                    bounds=info.bounds, cells=info.cells)


def _deduplicate(files: list[Path]) -> tuple[list[Path], list[str], list[dict]]:
    """Drop files byte-identical (same MD5) to an earlier one: PDEBench's ns_incom list has 24
    such pairs, and converting both would put the same trajectories in two splits."""
    kept, md5s, duplicates, seen = [], [], [], {}
    for path in files:
        md5 = file_md5(path)
        if md5 in seen:
            duplicates.append({"name": path.name, "md5": md5, "same_as": seen[md5]})
            continue
        seen[md5] = path.name
        kept.append(path)
        md5s.append(md5)
    return kept, md5s, duplicates


Members = list[tuple[int, int]]  # (raw file index, trajectory index in that file)


def _write_split(writer: StoreWriter, readers: list[TrajectoryReader], members: Members,
                 source: SourceConfig, bar: tqdm,
                 stats: tuple[_ChannelStats, _ChannelStats, _ChannelStats] | None,
                 skip_nonfinite: bool) -> tuple[Members, list[tuple[int, int, str]]]:
    """Stream `members` (file, trajectory) into one split; returns (written, skipped).

    `stats`: (fields, inputs, fields / linear_in param) accumulators, for the train split only.
    """
    written, skipped = [], []
    try:
        for f, i in members:
            bar.update()
            try:
                u = _subsample(readers[f].read(i), source)  # (T, *S, C), one in memory
            except NonFiniteError as err:
                if not skip_nonfinite:
                    raise
                skipped.append((f, int(i), str(err)))
                continue
            spec = readers[f].spec
            params = np.array([readers[f].info.params[p] for p in spec.param_names])
            n_spatial = u.ndim - 2  # grid axes, or the one axis of a point set
            inputs = points = None
            if spec.input_channels:  # (*S, Cin), subsampled like the fields
                inputs = readers[f].read_inputs(i)
                inputs = inputs[(slice(None, None, source.reduced_resolution),) * n_spatial]
            if readers[f].info.n_points:  # (Tp, P, d), thinned like the fields
                pts = readers[f].read_points(i)
                points = _subsample(pts, source, steps=pts.shape[0] > 1)
            writer.write(len(written), u, params, (f, i), inputs, points)
            if stats is not None:
                stats[0].add(u)
                if inputs is not None:
                    stats[1].add(inputs)
                if spec.linear_in:
                    stats[2].add(u / _linear_scale(readers[f], spec))
            written.append((f, i))
    except BaseException:
        writer.abort()
        raise
    writer.close(len(written))
    return written, skipped


def _write_splits(spec: TaskSpec, readers: list[TrajectoryReader], out: Path, cfg: ConvertConfig,
                  seed: int, source: SourceConfig, md5s: list[str],
                  duplicates: list[dict]) -> dict:
    cap = source.max_trajectories
    counts = [min(r.info.n, cap) if cap else r.info.n for r in readers]  # used per file
    pairs = [(f, i) for f, n in enumerate(counts) for i in range(n)]
    if spec.shared_initial_states:
        # Trajectory i of every file starts from the same state: split the indices.
        n_states = max(counts)
        state = [i for _, i in pairs]
    else:  # every trajectory of every file has its own initial state (NS: 4 seeds per file)
        n_states = len(pairs)
        state = list(range(len(pairs)))
    labels = assign_splits(n_states, cfg, seed, readers[0].info.layout)
    # Every (file, trajectory) pair, grouped by the split of its initial state.
    members = {s: [p for p, st in zip(pairs, state) if labels[st] == k]
               for k, s in enumerate(SPLITS)}
    first = readers[0].info
    t = first.t[::source.reduced_resolution_t]
    coords = {a: c[::source.reduced_resolution] for a, c in first.coords.items()}
    names = [r.info.path.name for r in readers]
    points = _point_set(spec, readers[0], source, len(t))
    stats = (_ChannelStats(len(spec.channels)), _ChannelStats(len(spec.input_channels)),
             _ChannelStats(len(spec.channels)))
    bar = tqdm(total=sum(counts), desc=f"convert {spec.name}", unit="traj", file=sys.stderr,
               disable=None)
    written, skipped = {}, []
    for split in SPLITS:
        writer = StoreWriter(split_path(out, split), task=spec.name, channels=spec.channels,
                             n=len(members[split]), t=t, coords=coords,
                             param_names=spec.param_names, files=names,
                             input_channels=spec.input_channels, points=points)
        written[split], bad = _write_split(writer, readers, members[split], source, bar,
                                           stats if split == "train" else None,
                                           cfg.skip_nonfinite)
        skipped += [{"file": names[f], "index": i, "split": split, "reason": why}
                    for f, i, why in bad]
    bar.close()
    summary = stats[0].result(spec.channels)
    if spec.input_channels:  # the encoder normalises input fields (Darcy's a, NS's force) too
        summary["inputs"] = stats[1].result(spec.input_channels)
    if spec.linear_in:  # the autoencoder's units: u / param (Darcy: u / beta)
        summary["scaled"] = {**stats[2].result(spec.channels), "by": spec.linear_in}
    write_json(out / "stats.json", summary)
    manifest = {
        "task": spec.name,
        "n_initial_states": int(n_states),
        "source": {"max_trajectories": source.max_trajectories,
                   "reduced_resolution": source.reduced_resolution,
                   "reduced_resolution_t": source.reduced_resolution_t},
        "split": cfg.split,
        "files": [{"name": r.info.path.name, "md5": md5, "layout": r.info.layout,
                   "trajectories": r.info.n, "params": r.info.params}
                  for r, md5 in zip(readers, md5s)],
        "duplicates_skipped": duplicates,
        "splits": {s: {"count": len(w), "members": [[int(f), int(i)] for f, i in w]}
                   for s, w in written.items()},
        "skipped_nonfinite": skipped,
    }
    write_json(out / "manifest.json", manifest)
    return manifest
