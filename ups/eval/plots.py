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


def plot_2d(truth: np.ndarray, pred: np.ndarray, t: np.ndarray, channel: int, name: str,
            title: str, n_frames: int = 4):
    """A few frames of one channel: truth (T, X, Y, C), prediction, error as rows."""
    frames = np.unique(np.linspace(0, len(t) - 1, n_frames).round().astype(int))
    fig, axes = plt.subplots(3, len(frames), figsize=(3.2 * len(frames), 8.4), squeeze=False)
    lo, hi = truth[..., channel].min(), truth[..., channel].max()
    err = pred[..., channel] - truth[..., channel]
    lim = np.abs(err).max() or 1.0
    for j, f in enumerate(frames):
        # imshow wants (rows=y, cols=x): the store keeps (x, y).
        _panel(axes[0, j], truth[f, ..., channel].T, f"truth {name} t={t[f]:.3g}", "viridis",
               lo, hi)
        _panel(axes[1, j], pred[f, ..., channel].T, f"prediction t={t[f]:.3g}", "viridis", lo, hi)
        _panel(axes[2, j], err[f].T, f"error t={t[f]:.3g}", "RdBu_r", -lim, lim)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_trajectory_figure(path: Path, truth: np.ndarray, pred: np.ndarray, t: np.ndarray,
                           coords: dict[str, np.ndarray], channels: tuple[str, ...],
                           title: str) -> list[Path]:
    """Write PNG(s) for one trajectory: 1D one figure; 2D one figure per channel."""
    path = Path(path)
    if truth.ndim == 3:
        figures = [(path, plot_1d(truth, pred, t, coords["x"], channels, title))]
    else:
        figures = [(path.with_name(f"{path.stem}_{name}{path.suffix}"),
                    plot_2d(truth, pred, t, c, name, f"{title} ({name})"))
                   for c, name in enumerate(channels)]
    for out, fig in figures:
        with atomic_file(out) as tmp:
            fig.savefig(tmp, dpi=90, format="png")
        plt.close(fig)
    return [out for out, _ in figures]
