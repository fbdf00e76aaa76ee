"""Task mixing: uniform by default, size-balanced, or weighted to the worst task; curriculum."""

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
    with pytest.raises(ValueError, match="task mixing mode 'sized'"):
        TaskMixer(["a"], seed=0, mode="sized")
    with pytest.raises(ValueError, match="needs a positive size per task"):
        TaskMixer(["a", "b"], seed=0, mode="size", sizes=[3])


def test_size_mode_draws_in_proportion_to_sizes():
    mixer = TaskMixer(["a", "b", "c"], seed=0, mode="size", sizes=[100, 300, 600])
    np.testing.assert_allclose(draw(mixer), [0.1, 0.3, 0.6], atol=0.03)
    mixer.update([5.0, 0.1, 0.1])  # validation errors do not move size weights
    np.testing.assert_allclose(mixer.p, [0.1, 0.3, 0.6])


def test_curriculum_admits_tasks_from_their_start_step():
    mixer = TaskMixer(["a", "b", "c"], seed=0, schedule=((0, 1), (100, 2), (200, 3)))
    assert {mixer.next(0) for _ in range(200)} == {0}
    assert {mixer.next(150) for _ in range(200)} == {0, 1}
    assert {mixer.next(10_000) for _ in range(200)} == {0, 1, 2}
    sized = TaskMixer(["a", "b", "c"], seed=0, mode="size", sizes=[1, 1, 8],
                      schedule=((0, 2),))
    np.testing.assert_allclose(np.bincount([sized.next(5) for _ in range(2000)],
                                           minlength=3) / 2000, [0.5, 0.5, 0.0], atol=0.04)
