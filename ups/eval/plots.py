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


def plot_2d(truth: np.ndarray, pred: np.ndarray, t: np.ndarray, channels: tuple[str, ...],
            title: str, n_frames: int = 4):
    """A few frames: for each channel, rows truth, prediction, error; truth (T, X, Y, C)."""
    frames = np.unique(np.linspace(0, len(t) - 1, n_frames).round().astype(int))
    n_c = truth.shape[-1]
    fig, axes = plt.subplots(3 * n_c, len(frames), figsize=(3.2 * len(frames), 2.8 * 3 * n_c),
                             squeeze=False)
    for c, name in enumerate(channels):
        lo, hi = truth[..., c].min(), truth[..., c].max()
        err = pred[..., c] - truth[..., c]
        lim = np.abs(err).max() or 1.0
        rows = axes[3 * c: 3 * c + 3]
        for j, f in enumerate(frames):
            # imshow wants (rows=y, cols=x): the store keeps (x, y).
            _panel(rows[0, j], truth[f, ..., c].T, f"truth {name} t={t[f]:.3g}", "viridis", lo, hi)
            _panel(rows[1, j], pred[f, ..., c].T, f"prediction {name} t={t[f]:.3g}", "viridis",
                   lo, hi)
            _panel(rows[2, j], err[f].T, f"error {name} t={t[f]:.3g}", "RdBu_r", -lim, lim)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_trajectory_figure(path: Path, truth: np.ndarray, pred: np.ndarray, t: np.ndarray,
                           coords: dict[str, np.ndarray], channels: tuple[str, ...],
                           title: str) -> Path:
    """Write one PNG for one trajectory (T, *spatial, C): 1D space-time images, 2D frames."""
    if truth.ndim == 3:
        fig = plot_1d(truth, pred, t, coords["x"], channels, title)
    else:
        fig = plot_2d(truth, pred, t, channels, title)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return Path(path)
