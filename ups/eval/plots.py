"""Figures people look at: truth, prediction and error of one test trajectory.

Every panel is drawn on physical axes (the store's cell centres, or the points' own coordinates)
with labelled axes, and every colour scale has its bar: a row of frames shares one bar; in the
one-row-per-channel layout (1D space-time images, steady states) truth and prediction share one
and the error has its own. The layout is matplotlib's constrained one, which makes room for the
figure title, so it never covers the panel titles (tight_layout ignores a suptitle).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: stages run on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ups.io import atomic_file  # noqa: E402

# draw(ax, values, frame, cmap, vmin, vmax) -> the artist a colour bar is made from
Draw = Callable[..., object]
TRUTH, ERROR = "viridis", "RdBu_r"


def _edges(c: np.ndarray) -> tuple[float, float]:
    """The outer edges of uniform cell centres `c`, so each pixel sits over its own point."""
    c = np.asarray(c, dtype=float)
    half = (c[-1] - c[0]) / (len(c) - 1) / 2 if len(c) > 1 else 0.5
    return float(c[0] - half), float(c[-1] + half)


def _axis(coords: dict[str, np.ndarray], name: str, n: int) -> tuple[np.ndarray, str]:
    """The coordinates of spatial axis `name` and its label; grid indices (labelled so) when the
    caller has no coordinates."""
    if name in coords and len(coords[name]) == n:
        return np.asarray(coords[name], dtype=float), name
    return np.arange(n, dtype=float), f"{name} (grid index)"


def _limits(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """Truth's range (shared by truth and prediction), a symmetric error limit and the error.
    Only finite errors set the limit, so a diverged rollout (inf, NaN) still draws."""
    err = pred - truth
    finite = np.abs(err[np.isfinite(err)])
    lim = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return float(np.min(truth)), float(np.max(truth)), lim, err


def _image(extent: tuple[float, float, float, float], transpose: bool, aspect: str) -> Draw:
    """Draws a grid of values over `extent` (x0, x1, y0, y1). imshow wants (rows = y, x): a 2D
    frame is stored (x, y), so it is transposed; a 1D space-time image (t, x) is not."""
    def draw(ax, values, frame, cmap, vmin, vmax):
        return ax.imshow(values.T if transpose else values, cmap=cmap, vmin=vmin, vmax=vmax,
                         origin="lower", aspect=aspect, extent=extent, interpolation="nearest")
    return draw


def _points(points: np.ndarray, cells: np.ndarray | None) -> Draw:
    """Draws values at points (Tp, P, d), Tp = T (moving particles) or 1 (a fixed mesh, drawn
    with its triangles when `cells` is given). Every frame shows the whole trajectory's extent,
    so moving particles are seen to move rather than the axes."""
    lo, hi = points[..., :2].min(axis=(0, 1)), points[..., :2].max(axis=(0, 1))
    pad = 0.03 * np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - pad, hi + pad

    def draw(ax, values, frame, cmap, vmin, vmax):
        xy = points[frame if len(points) > 1 else 0]
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
        if cells is not None:
            return ax.tripcolor(xy[:, 0], xy[:, 1], cells, values, cmap=cmap, vmin=vmin,
                                vmax=vmax, shading="gouraud")
        return ax.scatter(xy[:, 0], xy[:, 1], c=values, s=8, cmap=cmap, vmin=vmin, vmax=vmax)
    return draw


def _label(ax, title: str, labels: tuple[str, str]) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])


def _by_channel(truth: np.ndarray, pred: np.ndarray, channels: tuple[str, ...], title: str,
                draw: Draw, labels: tuple[str, str]) -> plt.Figure:
    """One row per channel: truth | prediction | error of one image each (a 1D space-time
    image, or a steady state); truth and prediction share a colour bar, the error has its own."""
    fig, axes = plt.subplots(len(channels), 3, figsize=(13, 3.4 * len(channels) + 0.6),
                             squeeze=False, layout="constrained")
    for c, name in enumerate(channels):
        lo, hi, lim, err = _limits(truth[..., c], pred[..., c])
        for ax, values, what in ((axes[c, 0], truth[..., c], "truth"),
                                 (axes[c, 1], pred[..., c], "prediction")):
            art = draw(ax, values, 0, TRUTH, lo, hi)
            _label(ax, f"{what} {name}", labels)
        fig.colorbar(art, ax=axes[c, :2], label=name)
        art = draw(axes[c, 2], err, 0, ERROR, -lim, lim)
        _label(axes[c, 2], f"error {name} (prediction - truth)", labels)
        fig.colorbar(art, ax=axes[c, 2], label=f"error {name}")
    fig.suptitle(title)
    return fig


def _frames(n_t: int, n_frames: int) -> np.ndarray:
    return np.unique(np.linspace(0, n_t - 1, n_frames).round().astype(int))


def _by_frame(truth: np.ndarray, pred: np.ndarray, t: np.ndarray, channels: tuple[str, ...],
              title: str, draw: Draw, labels: tuple[str, str], n_frames: int) -> plt.Figure:
    """A few frames in columns; for each channel three rows (truth, prediction, error), each
    row with one colour bar (truth and prediction rows share their limits)."""
    frames = _frames(len(t), n_frames)
    rows = 3 * len(channels)
    size = (3.0 * len(frames) + 1.6, 2.8 * rows + 0.6)
    fig, axes = plt.subplots(rows, len(frames), figsize=size, squeeze=False, layout="constrained")
    for c, name in enumerate(channels):
        lo, hi, lim, err = _limits(truth[..., c], pred[..., c])
        for row, (what, values, cmap, vmin, vmax) in enumerate((
                ("truth", truth[..., c], TRUTH, lo, hi),
                ("prediction", pred[..., c], TRUTH, lo, hi),
                ("error", err, ERROR, -lim, lim))):
            r = 3 * c + row
            for j, f in enumerate(frames):
                art = draw(axes[r, j], values[f], f, cmap, vmin, vmax)
                _label(axes[r, j], f"{what} {name}, t = {t[f]:.3g}", labels)
            fig.colorbar(art, ax=axes[r, :], label=f"{what} {name}")
    fig.suptitle(title)
    return fig


def trajectory_figure(truth: np.ndarray, pred: np.ndarray, t: np.ndarray,
                      coords: dict[str, np.ndarray], channels: tuple[str, ...], title: str,
                      points: np.ndarray | None = None, cells: np.ndarray | None = None,
                      n_frames: int = 4) -> plt.Figure:
    """The figure of one trajectory (T, *spatial, C): a 1D space-time image per channel; for 2D,
    the middle z-slice of 3D and point sets (`points` (Tp, P, d)) a few frames, or truth |
    prediction | error side by side when there is one state (a steady task)."""
    truth, pred, t = np.asarray(truth), np.asarray(pred), np.asarray(t, dtype=float)
    if points is None and truth.ndim == 3:
        x, x_label = _axis(coords, "x", truth.shape[1])
        draw = _image((*_edges(x), *_edges(t)), transpose=False, aspect="auto")
        return _by_channel(truth, pred, channels, title, draw, (x_label, "t"))
    if points is not None:
        draw, labels = _points(np.asarray(points), cells), ("x", "y")
    else:
        if truth.ndim == 5:  # 3D: the middle z-slice, named by its coordinate
            mid = truth.shape[3] // 2
            z, z_label = _axis(coords, "z", truth.shape[3])
            title = f"{title} (middle slice {z_label} = {z[mid]:.3g})"
            truth, pred = truth[:, :, :, mid], pred[:, :, :, mid]
        x, x_label = _axis(coords, "x", truth.shape[1])
        y, y_label = _axis(coords, "y", truth.shape[2])
        draw, labels = _image((*_edges(x), *_edges(y)), transpose=True, aspect="equal"), \
            (x_label, y_label)
    if len(t) == 1:  # a steady state: no frames to choose
        return _by_channel(truth[0], pred[0], channels, title, draw, labels)
    return _by_frame(truth, pred, t, channels, title, draw, labels, n_frames)


def save_trajectory_figure(path: Path, truth: np.ndarray, pred: np.ndarray, t: np.ndarray,
                           coords: dict[str, np.ndarray], channels: tuple[str, ...],
                           title: str, points: np.ndarray | None = None,
                           cells: np.ndarray | None = None) -> Path:
    """Write one PNG for one trajectory (see `trajectory_figure`)."""
    fig = trajectory_figure(truth, pred, t, coords, channels, title, points, cells)
    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, dpi=80, format="png")
    finally:
        plt.close(fig)
    return Path(path)
