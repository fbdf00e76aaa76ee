"""The shared training loop: it trains, logs throughput, and keeps the best-validation weights."""

from __future__ import annotations

import pytest
import torch

from ups.config import TrainConfig
from ups.training.loop import Diverged, Phase, lr_at, train, train_and_save


class Recorder:
    def __init__(self):
        self.rows, self.summaries = [], {}

    def log(self, step, values):
        self.rows.append((step, values))

    def summary(self, **values):
        self.summaries.update(values)


def regression_phase(seed=0):
    torch.manual_seed(seed)
    w_true = torch.randn(4, 1)
    model = torch.nn.Linear(4, 1)
    gen = torch.Generator().manual_seed(seed)
    x_val = torch.randn(64, 4, generator=gen)

    def sample(step):
        x = torch.randn(16, 4, generator=gen)
        return x, x @ w_true

    def loss(m, batch):
        x, y = batch
        value = torch.nn.functional.mse_loss(m(x), y)
        return value, {"mse": value.item()}

    def validate(m):
        with torch.no_grad():
            return torch.nn.functional.mse_loss(m(x_val), x_val @ w_true).item()

    return Phase("toy", model, sample, loss, validate, batch_size=lambda b: len(b[0]))


def test_loop_reduces_validation_loss_and_logs_throughput():
    phase = regression_phase()
    before = phase.validate(phase.model)
    log = Recorder()
    result = train(phase, TrainConfig(steps=300, lr=0.05, warmup_steps=10, eval_every=50), log)
    assert result.best_val < 0.01 * before
    train_rows = [v for _, v in log.rows if "train/loss" in v]
    assert all(v["train/samples_per_s"] > 0 for v in train_rows)
    assert all(0 <= v["train/data_wait_share"] <= 1 for v in train_rows)
    assert log.summaries["best_val"] == result.best_val


def test_model_ends_with_best_validation_weights():
    phase = regression_phase()
    # A validation score that is best at the first check: the loop must restore those weights.
    # The untrained weights (validated first) score worst here.
    scores = iter([5.0, 1.0, 2.0, 3.0])
    snapshots = []

    def validate(m):
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return next(scores)

    phase.validate = validate
    result = train(phase, TrainConfig(steps=30, lr=0.05, warmup_steps=0, eval_every=10))
    assert result.best_step == 9
    for k, v in phase.model.state_dict().items():
        assert torch.equal(v, snapshots[1][k])


def test_initial_weights_better_than_any_trained_are_kept():
    """An autoencoder exact at initialisation (or an operator at persistence) must not be
    replaced by worse trained weights."""
    phase = regression_phase()
    initial = {k: v.clone() for k, v in phase.model.state_dict().items()}
    scores = iter([0.5, 1.0, 2.0, 3.0])
    phase.validate = lambda m: next(scores)
    result = train(phase, TrainConfig(steps=30, lr=0.05, warmup_steps=0, eval_every=10))
    assert result.best_step == -1 and result.best_val == 0.5
    for k, v in phase.model.state_dict().items():
        assert torch.equal(v, initial[k])


def test_learning_rate_schedule_warms_up_then_decays():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10)
    assert lr_at(0, cfg) == 0.1 and lr_at(9, cfg) == 1.0
    assert lr_at(50, cfg) < 1.0 and abs(lr_at(99, cfg) - 0.1) < 0.01


def test_a_diverging_run_stops_naming_phase_step_and_last_finite_loss(tmp_path):
    """lr 1e30: the weights blow up after the first step; training stops at once (not after
    `steps` steps of NaN) and no checkpoint appears under its name."""
    with pytest.raises(Diverged, match=r"^toy: loss (nan|inf) at step 1; last finite loss "
                                       r"[0-9.e+-]+ at step 0\. Training diverged: lower"):
        train_and_save(regression_phase(), TrainConfig(steps=40, lr=1e30, warmup_steps=0,
                                                       eval_every=20),
                       tmp_path / "m.pt", model_args={}, config={}, live_dir=None)
    assert not (tmp_path / "m.pt").exists()


def test_a_nan_validation_figure_stops_training():
    phase = regression_phase()
    phase.validate = lambda m: float("nan")
    with pytest.raises(Diverged, match="toy: the validation figure is nan at step 9"):
        train(phase, TrainConfig(steps=20, lr=0.01, warmup_steps=0, eval_every=10))
