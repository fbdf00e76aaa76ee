"""Optimizers (AdamW, Muon hybrid), the lr contract, weight EMA and the precision context."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ups.training.optim import (
    HybridOptimizer,
    ModelEMA,
    autocast,
    build_optimizer,
    describe,
    resolve_precision,
    set_lr,
)


class TinyNet(nn.Module):
    """Input projection, an embedding, two hidden matrices, a norm, an output projection."""

    def __init__(self, width: int = 32, n_ids: int = 4):
        super().__init__()
        self.inp = nn.Linear(3, width)
        self.emb = nn.Embedding(n_ids, width)
        self.pos = nn.Parameter(torch.randn(1, width) * 0.02)  # a free 2-D table
        self.hidden1 = nn.Linear(width, width)
        self.hidden2 = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        h = self.inp(x) + self.emb(ids) + self.pos  # (B, 3) -> (B, W)
        h = h + self.hidden2(torch.relu(self.hidden1(h)))
        return self.out(self.norm(h)).squeeze(-1)  # (B, W) -> (B,)


def regression_batch(step: int, n: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A smooth target of x plus a per-id offset; fixed by `step` (so reruns see the same data)."""
    gen = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(n, 3, generator=gen)
    ids = torch.randint(0, 4, (n,), generator=gen)
    y = 2 * torch.sin(x[:, 0]) + x[:, 1] - 0.5 * x[:, 2] + ids.float() - 1.5
    return x, ids, y


def train_steps(model: nn.Module, opt, steps: range, schedule: bool = False) -> list[float]:
    losses = []
    for step in steps:
        x, ids, y = regression_batch(step)
        if schedule:
            set_lr(opt, 0.5 + 0.5 * (step % 3))  # any deterministic factor
        loss = nn.functional.mse_loss(model(x, ids), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def eval_loss(model: nn.Module) -> float:
    x, ids, y = regression_batch(-1, n=512)
    with torch.no_grad():
        return nn.functional.mse_loss(model(x, ids), y).item()


def group_of(opt) -> dict[int, dict]:
    """id(parameter) -> its group; fails if a parameter sits in two groups."""
    where: dict[int, dict] = {}
    for group in opt.param_groups:
        for p in group["params"]:
            assert id(p) not in where, "parameter in two groups"
            where[id(p)] = group
    return where


# --------------------------------------------------------------------------- Muon / AdamW


def run_muon(muon_lr: float | None) -> float:
    """Loss after 50 steps relative to the initial loss; every Linear weight is on Muon."""
    torch.manual_seed(0)
    model = TinyNet()
    opt = build_optimizer(model, "muon", lr=1e-2, weight_decay=1e-4, muon_lr=muon_lr)
    before = eval_loss(model)
    train_steps(model, opt, range(50))
    return eval_loss(model) / before


def test_muon_trains_tiny_mlp():
    assert run_muon(None) < 0.2
    # Control: with Muon frozen, AdamW on embeddings/biases/norms alone gets nowhere near.
    assert run_muon(0.0) > 0.4


def test_muon_step_is_orthogonalised():
    """One Muon step flattens the gradient's spectrum: equal-sized moves along its directions.

    With Moonshot's scaling the step's singular values are about 0.2 * lr * sqrt(max(A, B)).
    """
    torch.manual_seed(0)
    model = TinyNet()
    opt = build_optimizer(model, "muon", lr=1e-2, weight_decay=0.0)
    before = model.hidden1.weight.detach().clone()
    x, ids, y = regression_batch(0)
    nn.functional.mse_loss(model(x, ids), y).backward()
    grad_sv = torch.linalg.svdvals(model.hidden1.weight.grad)
    opt.step()
    step_sv = torch.linalg.svdvals(model.hidden1.weight.detach() - before)
    k = int((grad_sv > 0.01 * grad_sv[0]).sum())  # the gradient's significant directions
    assert k >= 3
    assert grad_sv[0] / grad_sv[k - 1] > 10
    assert step_sv[0] / step_sv[k - 1] < 2
    expected = 0.2 * 1e-2 * 32**0.5
    assert 0.6 * expected < step_sv[0] < 1.25 * expected


def test_muon_split_by_identity():
    model = TinyNet()
    opt = build_optimizer(model, "muon", lr=1e-3, weight_decay=0.1, adamw_names={"inp", "out"})
    assert isinstance(opt, HybridOptimizer)
    muon_params = {id(p) for p in opt.parts["muon"].param_groups[0]["params"]}
    assert muon_params == {id(model.hidden1.weight), id(model.hidden2.weight)}
    adamw_params = {id(p) for g in opt.parts["adamw"].param_groups for p in g["params"]}
    for p in (model.emb.weight, model.pos, model.inp.weight, model.out.weight, model.norm.weight,
              model.norm.bias, model.hidden1.bias, model.hidden2.bias, model.out.bias):
        assert id(p) in adamw_params
    assert isinstance(opt.parts["muon"], torch.optim.Muon)
    assert isinstance(opt.parts["adamw"], torch.optim.AdamW)


def test_muon_default_split_takes_every_linear_weight():
    model = TinyNet()
    opt = build_optimizer(model, "muon", lr=1e-3, weight_decay=0.1)
    muon_params = {id(p) for p in opt.parts["muon"].param_groups[0]["params"]}
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert muon_params == {id(m.weight) for m in linears}
    assert id(model.emb.weight) not in muon_params and id(model.pos) not in muon_params


def test_adamw_names_match_whole_name_components():
    model = nn.Sequential()
    model.add_module("out", nn.Linear(4, 4))
    model.add_module("outer", nn.Linear(4, 4))
    opt = build_optimizer(model, "muon", lr=1e-3, weight_decay=0.1, adamw_names={"out"})
    muon_params = {id(p) for p in opt.parts["muon"].param_groups[0]["params"]}
    assert muon_params == {id(model.outer.weight)}


@pytest.mark.parametrize("kind", ["adamw", "muon"])
def test_every_parameter_in_exactly_one_group(kind):
    model = TinyNet()
    opt = build_optimizer(model, kind, lr=1e-3, weight_decay=0.1)
    where = group_of(opt)
    assert set(where) == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("kind", ["adamw", "muon"])
def test_no_weight_decay_on_biases_and_norms(kind):
    model = TinyNet()
    opt = build_optimizer(model, kind, lr=1e-3, weight_decay=0.1, adamw_names={"inp", "out"})
    where = group_of(opt)
    no_decay = [model.norm.weight, model.norm.bias, model.inp.bias, model.hidden1.bias,
                model.hidden2.bias, model.out.bias]
    for p in no_decay:
        assert where[id(p)]["weight_decay"] == 0.0
    decayed = [model.emb.weight, model.pos, model.inp.weight, model.out.weight,
               model.hidden1.weight]
    for p in decayed:
        assert where[id(p)]["weight_decay"] == 0.1


def test_adamw_kind_is_plain_adamw():
    opt = build_optimizer(TinyNet(), "adamw", lr=3e-4, weight_decay=0.05, betas=(0.8, 0.9))
    assert isinstance(opt, torch.optim.AdamW)
    assert all(g["betas"] == (0.8, 0.9) for g in opt.param_groups)


@pytest.mark.parametrize("kind", ["adamw", "muon"])
def test_set_lr_scales_each_group_base_lr(kind):
    opt = build_optimizer(TinyNet(), kind, lr=1e-3, weight_decay=0.1, muon_lr=2e-2)
    set_lr(opt, 0.25)
    expected = {"muon": 2e-2 * 0.25, "adamw_decay": 1e-3 * 0.25, "adamw_no_decay": 1e-3 * 0.25}
    names = set()
    for group in opt.param_groups:
        assert group["lr"] == pytest.approx(expected[group["name"]], rel=1e-12)
        names.add(group["name"])
    assert ("muon" in names) == (kind == "muon")


def test_set_lr_changes_the_step():
    """The loop's lr must reach the update: a zero factor freezes every parameter."""
    model = TinyNet()
    opt = build_optimizer(model, "muon", lr=1e-2, weight_decay=0.1)
    before = copy.deepcopy(model.state_dict())
    set_lr(opt, 0.0)
    train_steps(model, opt, range(2))
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    set_lr(opt, 1.0)
    train_steps(model, opt, range(1))
    assert not torch.equal(model.hidden1.weight, before["hidden1.weight"])


@pytest.mark.parametrize("kind", ["adamw", "muon"])
def test_state_dict_round_trip_is_bit_exact(kind):
    torch.manual_seed(0)
    model = TinyNet()
    opt = build_optimizer(model, kind, lr=1e-2, weight_decay=0.1)
    train_steps(model, opt, range(5), schedule=True)
    model_state = copy.deepcopy(model.state_dict())
    opt_state = copy.deepcopy(opt.state_dict())
    train_steps(model, opt, range(5, 10), schedule=True)

    torch.manual_seed(123)  # a different initialisation, fully overwritten by the load
    resumed = TinyNet()
    resumed.load_state_dict(model_state)
    resumed_opt = build_optimizer(resumed, kind, lr=1e-2, weight_decay=0.1)
    resumed_opt.load_state_dict(opt_state)
    train_steps(resumed, resumed_opt, range(5, 10), schedule=True)
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name


def test_hybrid_rejects_state_of_other_kind():
    model = TinyNet()
    adamw_state = build_optimizer(model, "adamw", lr=1e-3, weight_decay=0.1).state_dict()
    with pytest.raises(ValueError, match="parts"):
        build_optimizer(model, "muon", lr=1e-3, weight_decay=0.1).load_state_dict(adamw_state)


def test_describe_counts_parameters():
    model = TinyNet(width=8)
    opt = build_optimizer(model, "muon", lr=1e-3, weight_decay=0.1, adamw_names={"inp", "out"})
    text = opt.describe()
    assert "muon: 2 tensors, 128 params" in text  # two 8x8 hidden weights
    assert describe(opt) == text
    assert "adamw_decay: 4 tensors" in text  # inp, emb, pos, out weights


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="sgd"):
        build_optimizer(TinyNet(), "sgd", lr=1e-3, weight_decay=0.0)


# --------------------------------------------------------------------------- EMA


def test_ema_of_constant_stays_constant():
    model = TinyNet()
    ema = ModelEMA(model, decay=0.9, warmup_steps=5)
    for step in range(20):
        ema.update(model, step)
    for name, value in model.state_dict().items():
        assert torch.equal(ema.shadow[name], value), name


def test_ema_update_formula():
    model = nn.Linear(4, 3)
    ema = ModelEMA(model, decay=0.99, warmup_steps=3)
    old = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    new = model.weight.detach().clone()
    ema.update(model, step=1)  # warm-up: d = min(0.99, 2 / 11)
    d = 2 / 11
    assert ema.decay_at(1) == pytest.approx(d)
    torch.testing.assert_close(ema.shadow["weight"], d * old + (1 - d) * new, rtol=0, atol=1e-6)
    lo, hi = torch.minimum(old, new), torch.maximum(old, new)
    assert bool(((ema.shadow["weight"] > lo) & (ema.shadow["weight"] < hi)).all())
    assert ema.decay_at(3) == 0.99 and ema.decay_at(1000) == 0.99


def test_ema_applied_swaps_and_restores_bit_exact():
    torch.manual_seed(0)
    model = TinyNet()
    ema = ModelEMA(model, decay=0.5)
    raw = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    ema.update(model, step=0)
    trained = copy.deepcopy(model.state_dict())
    with ema.applied(model):
        torch.testing.assert_close(model.hidden1.weight,
                                   0.5 * raw["hidden1.weight"] + 0.5 * trained["hidden1.weight"])
    for name, value in model.state_dict().items():
        assert torch.equal(value, trained[name]), name
    with pytest.raises(RuntimeError, match="boom"), ema.applied(model):
        raise RuntimeError("boom")
    for name, value in model.state_dict().items():
        assert torch.equal(value, trained[name]), name


def test_ema_state_dict_round_trip():
    model = TinyNet()
    ema = ModelEMA(model, decay=0.9)
    with torch.no_grad():
        model.hidden1.weight.add_(1.0)
    ema.update(model, 0)
    other = ModelEMA(TinyNet(), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.9
    for name, value in ema.shadow.items():
        assert torch.equal(other.shadow[name], value), name


def test_ema_beats_raw_weights_on_noisy_quadratic():
    """SGD with noisy gradients jitters around the optimum; the average sits much closer."""
    gen = torch.Generator().manual_seed(0)
    optimum = torch.randn(256, generator=gen)
    model = nn.Linear(256, 1, bias=False)
    ema = ModelEMA(model, decay=0.99, warmup_steps=100)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(1500):
        w = model.weight[0]
        loss = 0.5 * ((w - optimum) ** 2).sum() + (w * torch.randn(256, generator=gen)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update(model, step)
    raw_err = (model.weight[0] - optimum).norm().item()
    with ema.applied(model):
        ema_err = (model.weight[0] - optimum).norm().item()
    assert ema_err < 0.5 * raw_err, (ema_err, raw_err)


# --------------------------------------------------------------------------- precision


def test_autocast_bf16_on_cpu():
    layer = nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with autocast("cpu", "bf16"):
        assert layer(x).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32"):
        assert layer(x).dtype == torch.float32
    with autocast("cpu", "auto"):  # auto means bf16 only on a CUDA device
        assert layer(x).dtype == torch.float32


def test_precision_errors_name_the_setting():
    with pytest.raises(ValueError, match="precision"):
        autocast("cpu", "fp16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="precision='bf16'"):
            autocast("cuda", "bf16")
        assert resolve_precision("cuda", "auto") == "fp32"
