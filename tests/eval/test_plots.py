"""Figures: one PNG per trajectory, for 1D, 2D and 3D fields, meshes and particles."""

from __future__ import annotations

import numpy as np

from ups.eval.plots import save_trajectory_figure


def test_one_png_for_1d_and_for_2d(tmp_path):
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 5)
    u1 = rng.normal(size=(5, 16, 1))
    p1 = save_trajectory_figure(tmp_path / "a.png", u1, u1 + 0.1, t, {"x": np.arange(16.0)},
                                ("u",), "1D")
    u2 = rng.normal(size=(5, 8, 6, 2))
    p2 = save_trajectory_figure(tmp_path / "b.png", u2, u2 * 0.9, t,
                                {"x": np.arange(8.0), "y": np.arange(6.0)}, ("u", "v"), "2D")
    for p in (p1, p2):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.png", "b.png"]


def test_pngs_for_3d_mesh_and_particles(tmp_path):
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(1)
    t = np.linspace(0, 1, 3)
    u3 = rng.normal(size=(3, 6, 5, 4, 2))
    save_trajectory_figure(tmp_path / "c.png", u3, u3 + 0.1, t, {}, ("u", "v"), "3D")
    nodes = rng.random((30, 2))
    mesh = rng.normal(size=(1, 30, 1))
    save_trajectory_figure(tmp_path / "m.png", mesh, mesh * 0.5, np.zeros(1), {}, ("u",), "mesh",
                           points=nodes[None], cells=Delaunay(nodes).simplices)
    moving = rng.random((3, 20, 2))  # (T, P, 2): particles move
    vals = rng.normal(size=(3, 20, 2))
    save_trajectory_figure(tmp_path / "p.png", vals, vals - 0.2, t, {}, ("Vx", "Vy"),
                           "particles", points=moving)
    for name in ("c.png", "m.png", "p.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
