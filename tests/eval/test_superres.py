"""Zero-shot super-resolution: refinement factors, the interpolation baseline, and the whole
path (coarsened training, decoding on the raw grid) through DVC."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import copy_project, init_repo, run, tiny_params, write_params

from ups.eval.superres import factors, interpolate


def test_factors_are_the_powers_of_two_that_divide_r():
    assert factors(1) == [1]
    assert factors(4) == [1, 2, 4]
    assert factors(6) == [1, 2]
    assert factors(8) == [1, 2, 4, 8]


def centres(n, length=1.0):
    return (np.arange(n) + 0.5) * length / n


def test_interpolation_is_exact_for_a_linear_field_inside_the_coarse_grid():
    raw = centres(64)
    coarse, fine = raw[::4], raw[::2]
    u = (3.0 * coarse - 1.0)[None, None, :, None]  # (B, T, S, C)
    out = interpolate(u, {"x": coarse}, {"x": fine}, periodic=False)
    inside = (fine >= coarse[0]) & (fine <= coarse[-1])
    assert out.shape == (1, 1, 32, 1)
    np.testing.assert_allclose(out[0, 0, inside, 0], 3.0 * fine[inside] - 1.0, atol=1e-12)
    # Beyond the last coarse centre a non-periodic field is held constant.
    assert out[0, 0, -1, 0] == pytest.approx(u[0, 0, -1, 0])


def test_periodic_interpolation_wraps_around_the_domain():
    raw = centres(64)
    coarse = raw[::4]
    u = np.sin(2 * np.pi * coarse)[None, None, :, None]
    truth = np.sin(2 * np.pi * raw)
    wrapped = interpolate(u, {"x": coarse}, {"x": raw}, periodic=True)[0, 0, :, 0]
    clamped = interpolate(u, {"x": coarse}, {"x": raw}, periodic=False)[0, 0, :, 0]
    ends = raw > coarse[-1]  # between the last centre and the first one, across the boundary
    # Linear interpolation of one sine period on 16 points: error below (pi/16)^2 / 2.
    assert np.abs(wrapped - truth).max() < (np.pi / 16) ** 2 / 2 + 1e-9
    assert np.abs(clamped - truth)[ends].max() > 3 * np.abs(wrapped - truth)[ends].max()


def test_interpolation_in_two_dimensions_is_separable():
    raw = centres(32)
    coarse, fine = raw[::4], raw[::2]
    x, y = np.meshgrid(coarse, coarse, indexing="ij")
    u = (2 * x + 5 * y)[None, None, ..., None]
    out = interpolate(u, {"x": coarse, "y": coarse}, {"x": fine, "y": fine}, periodic=False)
    fx, fy = np.meshgrid(fine, fine, indexing="ij")
    inside = ((fx >= coarse[0]) & (fx <= coarse[-1]) & (fy >= coarse[0]) & (fy <= coarse[-1]))
    np.testing.assert_allclose(out[0, 0, ..., 0][inside], (2 * fx + 5 * fy)[inside], atol=1e-12)


@pytest.mark.slow
def test_superres_stage_decodes_the_raw_grid_of_a_coarsened_task(tmp_path):
    """Train on advection1d thinned 4x (16 of 64 points); the stage scores the decoder on 16,
    32 and 64 points against the raw files. At 1x it must reproduce eval's rollout nRMSE (the
    same predictions at the same points), and interpolation at 1x is the prediction itself."""
    root = copy_project(tmp_path)
    params = tiny_params(tasks=["advection1d"],
                         simulate={"advection1d": {"nx": 64}},
                         sources={"advection1d": {"reduced_resolution": 4}})
    write_params(root / "params.yaml", params)
    init_repo(root, commit="pipeline")
    run(["dvc", "repro", "superres@advection1d", "eval@advection1d"], root, timeout=900)
    sr = json.loads((root / "metrics/superres/advection1d.json").read_text())
    ev = json.loads((root / "metrics/eval/advection1d.json").read_text())
    assert sr["reduced_resolution"] == 4
    assert sr["superres_x1_nrmse"] == pytest.approx(ev["nrmse_rollout"], rel=1e-5)
    assert sr["superres_x1_interp_nrmse"] == pytest.approx(sr["superres_x1_nrmse"], rel=1e-6)
    for f in (2, 4):
        assert 0 < sr[f"superres_x{f}_nrmse"] < 10
        assert 0 < sr[f"superres_x{f}_interp_nrmse"] < 10
