"""Figures: one PNG per trajectory, for 1D and 2D fields."""

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
