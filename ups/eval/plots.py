"""Figures people look at: truth, prediction and error of one test trajectory."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: stages run on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ups.io import atomic_file  # noqa: E402


def _panel(ax, image: np.ndarray, title: str, cmap: str, vmin=None, vmax=None, **kw) -> None:
    im = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, origin="lower", aspect="auto", **kw)
    ax.set_title(title, fontsize=9)
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def plot_1d(truth: np.ndarray, pred: np.ndarray, t: np.ndarray, x: np.ndarray,
            channels: tuple[str, ...], title: str):
    """Space-time images, one row per channel: truth (T, X, C), prediction, error."""
    n_c = truth.shape[-1]
    fig, axes = plt.subplots(n_c, 3, figsize=(12, 3.2 * n_c), squeeze=False)
    extent = (x[0], x[-1], t[0], t[-1])
    for c in range(n_c):
        lo, hi = truth[..., c].min(), truth[..., c].max()
        err = pred[..., c] - truth[..., c]
        lim = np.abs(err).max() or 1.0
        _panel(axes[c, 0], truth[..., c], f"truth {channels[c]}", "viridis", lo, hi, extent=extent)
        _panel(axes[c, 1], pred[..., c], f"prediction {channels[c]}", "viridis", lo, hi,
               extent=extent)
        _panel(axes[c, 2], err, f"error {channels[c]}", "RdBu_r", -lim, lim, extent=extent)
        for ax in axes[c]:
            ax.set_xlabel("x")
            ax.set_ylabel("t")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _frames(n_t: int, n_frames: int) -> np.ndarray:
    return np.unique(np.linspace(0, n_t - 1, n_frames).round().astype(int))


def _frame_grid(truth: np.ndarray, pred: np.ndarray, t: np.ndarray, channels: tuple[str, ...],
                title: str, n_frames: int, draw) -> plt.Figure:
    """A few frames; for each channel three rows (truth, prediction, error) with shared colour
    limits. `draw(ax, values, label, cmap, vmin, vmax, frame)` draws one panel."""
    frames = _frames(len(t), n_frames)
    n_c = truth.shape[-1]
    fig, axes = plt.subplots(3 * n_c, len(frames), figsize=(3.2 * len(frames), 2.8 * 3 * n_c),
                             squeeze=False)
    for c, name in enumerate(channels):
        lo, hi = truth[..., c].min(), truth[..., c].max()
        err = pred[..., c] - truth[..., c]
        lim = np.abs(err).max() or 1.0
        for j, f in enumerate(frames):
            for row, (values, label, cmap, vmin, vmax) in enumerate((
                    (truth[f, ..., c], "truth", "viridis", lo, hi),
                    (pred[f, ..., c], "prediction", "viridis", lo, hi),
                    (err[f], "error", "RdBu_r", -lim, lim))):
                draw(axes[3 * c + row, j], values, f"{label} {name} t={t[f]:.3g}", cmap, vmin,
                     vmax, f)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_2d(truth: np.ndarray, pred: np.ndarray, t: np.ndarray, channels: tuple[str, ...],
            title: str, n_frames: int = 4):
    """A few frames: for each channel, rows truth, prediction, error; truth (T, X, Y, C)."""
    def draw(ax, values, label, cmap, vmin, vmax, frame):
        _panel(ax, values.T, label, cmap, vmin, vmax)  # imshow wants (y, x); the store (x, y)

    return _frame_grid(truth, pred, t, channels, title, n_frames, draw)


def plot_3d(truth: np.ndarray, pred: np.ndarray, t: np.ndarray, channels: tuple[str, ...],
            title: str, n_frames: int = 4):
    """The middle z-slice of a 3D trajectory (T, X, Y, Z, C), drawn like a 2D one."""
    mid = truth.shape[3] // 2
    return plot_2d(truth[:, :, :, mid], pred[:, :, :, mid], t, channels,
                   f"{title} (slice z index {mid})", n_frames)


def plot_points(truth: np.ndarray, pred: np.ndarray, t: np.ndarray, points: np.ndarray,
                channels: tuple[str, ...], title: str, cells: np.ndarray | None = None,
                n_frames: int = 4):
    """Values at points (meshes, particles): truth (T, P, C), points (Tp, P, d) with Tp = T
    (moving particles) or 1 (a fixed mesh; drawn with its triangles when `cells` is given)."""
    def draw(ax, values, label, cmap, vmin, vmax, frame):
        xy = points[frame if len(points) > 1 else 0]  # (P, d)
        if cells is not None:
            art = ax.tripcolor(xy[:, 0], xy[:, 1], cells, values, cmap=cmap, vmin=vmin,
                               vmax=vmax, shading="gouraud")
        else:
            art = ax.scatter(xy[:, 0], xy[:, 1], c=values, s=6, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(label, fontsize=9)
        ax.set_aspect("equal")
        plt.colorbar(art, ax=ax, fraction=0.046, pad=0.04)

    return _frame_grid(truth, pred, t, channels, title, n_frames, draw)


def save_trajectory_figure(path: Path, truth: np.ndarray, pred: np.ndarray, t: np.ndarray,
                           coords: dict[str, np.ndarray], channels: tuple[str, ...],
                           title: str, points: np.ndarray | None = None,
                           cells: np.ndarray | None = None) -> Path:
    """Write one PNG for one trajectory (T, *spatial, C): 1D space-time images, 2D frames, the
    middle slice of 3D, or values at a point set's `points` (Tp, P, d)."""
    if points is not None:
        fig = plot_points(truth, pred, t, points, channels, title, cells)
    elif truth.ndim == 3:
        fig = plot_1d(truth, pred, t, coords["x"], channels, title)
    elif truth.ndim == 5:
        fig = plot_3d(truth, pred, t, channels, title)
    else:
        fig = plot_2d(truth, pred, t, channels, title)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return Path(path)
