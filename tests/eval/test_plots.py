"""Figures: one PNG per trajectory, for 1D, 2D and 3D fields, meshes and particles, on labelled
physical axes with a colour bar per row and titles that do not overlap."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from scipy.spatial import Delaunay

from ups.eval.plots import save_trajectory_figure, trajectory_figure

PNG = b"\x89PNG\r\n\x1a\n"
TITLE = "task: test trajectory 0, rollout from the first state"  # as long as eval's


def test_one_png_for_1d_and_for_2d(tmp_path):
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 5)
    u1 = rng.normal(size=(5, 16, 1))
    p1 = save_trajectory_figure(tmp_path / "a.png", u1, u1 + 0.1, t, {"x": np.arange(16.0)},
                                ("u",), "1D")
    u2 = rng.normal(size=(2, 8, 6, 1))
    p2 = save_trajectory_figure(tmp_path / "b.png", u2, u2 * 0.9, t[:2],
                                {"x": np.arange(8.0), "y": np.arange(6.0)}, ("u",), "2D")
    for p in (p1, p2):
        assert p.read_bytes()[:8] == PNG
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.png", "b.png"]


def _figures():
    """(kind, figure, colour bars expected, x limits expected) for every kind, small; the grid
    coordinates are physical cell centres (x on [0, 2], not the indices 0-7)."""
    rng = np.random.default_rng(2)
    t = np.array([0.0, 0.5])
    x, y, z = (np.arange(8) + 0.5) / 4, np.linspace(-1, 1, 6), np.linspace(0, 1, 5)
    edges = (0.0, 2.0)
    u1 = rng.normal(size=(3, 8, 1))
    yield "1d", trajectory_figure(u1, u1 + 0.1, np.array([0, 0.25, 0.5]), {"x": x}, ("u",),
                                  f"1D {TITLE}"), 2, edges
    u2 = rng.normal(size=(2, 8, 6, 2))
    yield "2d", trajectory_figure(u2, u2 * 0.9, t, {"x": x, "y": y}, ("u", "v"),
                                  f"2D {TITLE}"), 6, edges
    u3 = rng.normal(size=(2, 8, 6, 5, 1))
    yield "3d", trajectory_figure(u3, u3 + 0.1, t, {"x": x, "y": y, "z": z}, ("u",),
                                  f"3D {TITLE}"), 3, edges
    steady = rng.normal(size=(1, 8, 6, 1))
    yield "steady", trajectory_figure(steady, steady * 2, np.zeros(1), {"x": x, "y": y}, ("u",),
                                      f"steady {TITLE}"), 2, edges
    nodes = rng.random((30, 2)) * [2, 1]
    mesh = rng.normal(size=(1, 30, 1))
    yield "mesh", trajectory_figure(mesh, mesh * 0.5, np.zeros(1), {}, ("u",), f"mesh {TITLE}",
                                    points=nodes[None], cells=Delaunay(nodes).simplices), 2, None
    moving = rng.random((2, 20, 2))  # (T, P, 2): particles move
    vals = rng.normal(size=(2, 20, 1))
    yield "particles", trajectory_figure(vals, vals - 0.2, t, {}, ("Vx",), f"particles {TITLE}",
                                         points=moving), 3, None


def test_every_kind_has_labelled_physical_axes_a_bar_per_row_and_titles_apart(tmp_path):
    for kind, fig, n_bars, x_edges in _figures():
        fig.savefig(tmp_path / f"{kind}.png", dpi=80)  # lays it out: text extents are final
        assert (tmp_path / f"{kind}.png").read_bytes()[:8] == PNG
        renderer = fig.canvas.get_renderer()
        panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert len(bars) == n_bars, kind  # one per row of frames (one-row layout: 2 per channel)
        assert all(b.get_ylabel() for b in bars), kind
        for ax in panels:
            assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title(), kind
            if x_edges is not None:
                np.testing.assert_allclose(ax.get_xlim(), x_edges, err_msg=kind)
        suptitle = fig._suptitle.get_window_extent(renderer)
        assert fig.bbox.fully_contains(suptitle.x0, suptitle.y0) and \
            fig.bbox.fully_contains(suptitle.x1, suptitle.y1), kind  # not cut off
        for ax in panels:
            title = ax.title.get_window_extent(renderer)
            assert not suptitle.overlaps(title) and not suptitle.overlaps(ax.bbox), kind
            assert not any(title.overlaps(other.bbox) for other in fig.axes if other is not ax), \
                kind
        if kind == "1d":  # t runs up the image, each row centred on its time
            np.testing.assert_allclose(panels[0].get_ylim(), (-0.125, 0.625))
            assert [ax.get_ylabel() for ax in panels] == ["t"] * 3
        if kind == "3d":
            assert "z = 0.5" in fig.get_suptitle()
        plt.close(fig)
