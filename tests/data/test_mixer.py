"""Task mixing: uniform by default; validation-error weighting favours the worst task."""

from __future__ import annotations

import numpy as np
import pytest

from ups.data.datasets import TaskMixer


def draw(mixer, n=4000):
    return np.bincount([mixer.next() for _ in range(n)], minlength=len(mixer.tasks)) / n


def test_uniform_mode_ignores_validation_errors():
    mixer = TaskMixer(["a", "b", "c"], seed=0)
    mixer.update([0.1, 0.1, 10.0])
    np.testing.assert_allclose(draw(mixer), 1 / 3, atol=0.03)


def test_val_error_mode_favours_the_worst_task_but_starves_none():
    mixer = TaskMixer(["a", "b", "c"], seed=0, mode="val_error")
    np.testing.assert_allclose(draw(mixer), 1 / 3, atol=0.03)  # before any validation
    mixer.update([0.1, 0.1, 0.8])
    expected = 0.5 / 3 + 0.5 * np.array([0.1, 0.1, 0.8])
    np.testing.assert_allclose(mixer.p, expected)
    np.testing.assert_allclose(draw(mixer), expected, atol=0.03)
    assert mixer.p.min() >= 0.5 / 3


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="task mixing mode 'size'"):
        TaskMixer(["a"], seed=0, mode="size")
