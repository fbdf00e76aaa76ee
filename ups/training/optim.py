"""Optimizers, weight averaging and mixed precision for the training loop.

* `build_optimizer`: AdamW, or the Muon/AdamW hybrid. Muon orthogonalises the update of each
  hidden weight matrix (Newton-Schulz), which suits the 2-D matrices of transformer blocks but not
  embeddings, input/output projections, biases or norms; those stay on AdamW.
* The learning-rate contract: every parameter group carries `base_lr` (its peak learning rate);
  the loop's schedule yields a factor and `set_lr(opt, factor)` sets `lr = base_lr * factor` in
  every group. Groups may have different peaks (Muon vs AdamW) and still share one schedule.
* `ModelEMA`: an exponential moving average of the weights, evaluated in place of the raw ones.
* `autocast`: the `precision` setting ("fp32", "bf16", "auto") as a context manager.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

OPTIMIZER_KINDS = ("adamw", "muon")
PRECISIONS = ("fp32", "bf16", "auto")

# Moonshot's scaling: the Muon update is rescaled to the RMS of a typical AdamW update, so Muon
# can share the AdamW learning rate and weight decay (muon_lr defaults to lr).
MUON_ADJUST_LR = "match_rms_adamw"

NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.modules.batchnorm._NormBase,
)

# Group labels (the "name" key of every parameter group), used by `describe`.
MUON, ADAMW_DECAY, ADAMW_NO_DECAY = "muon", "adamw_decay", "adamw_no_decay"


# --------------------------------------------------------------------------- parameter sorting


def _named_params_with_module(model: nn.Module) -> Iterator[tuple[str, nn.Parameter, nn.Module]]:
    """(full name, parameter, owning module) for every trainable parameter, each once.

    The owning module's type tells embeddings and norms apart from plain matrices; a parameter
    shared by two modules is listed once (under its first name), as `model.parameters()` does.
    """
    seen: set[int] = set()
    for mod_name, module in model.named_modules():
        for p_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            yield (f"{mod_name}.{p_name}" if mod_name else p_name), param, module


def _no_decay(name: str, param: nn.Parameter, module: nn.Module) -> bool:
    """Biases, norm weights and other vectors get no weight decay (shrinking them has no use)."""
    return param.ndim < 2 or isinstance(module, NORM_TYPES) or name.endswith("bias")


def _has_prefix(name: str, prefixes: Iterable[str]) -> bool:
    """`name` is one of `prefixes` or lies under one ("out" matches "out.weight", not "outer")."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_muon(name: str, param: nn.Parameter, module: nn.Module, adamw_names: Iterable[str]) -> bool:
    """Muon takes the 2-D weights of nn.Linear layers, unless the caller keeps them on AdamW.

    Free-standing 2-D parameters (position tables, per-parameter scales) are embeddings in all
    but name, so only Linear weights qualify; nn.Embedding weights and anything not 2-D never do.
    """
    return (isinstance(module, nn.Linear) and param.ndim == 2 and name.endswith("weight")
            and not _has_prefix(name, adamw_names))


def split_parameters(model: nn.Module, *, muon: bool,
                     adamw_names: Iterable[str] = ()) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """Sort trainable parameters into the groups MUON, ADAMW_DECAY and ADAMW_NO_DECAY.

    With `muon=False` the MUON group stays empty; each parameter lands in exactly one group.
    """
    adamw_names = tuple(adamw_names)
    groups: dict[str, list[tuple[str, nn.Parameter]]] = {MUON: [], ADAMW_DECAY: [],
                                                          ADAMW_NO_DECAY: []}
    for name, param, module in _named_params_with_module(model):
        if muon and _is_muon(name, param, module, adamw_names):
            groups[MUON].append((name, param))
        elif _no_decay(name, param, module):
            groups[ADAMW_NO_DECAY].append((name, param))
        else:
            groups[ADAMW_DECAY].append((name, param))
    return groups


def _group(label: str, named: list[tuple[str, nn.Parameter]], lr: float,
           weight_decay: float) -> dict[str, Any]:
    """One parameter group with the keys of the lr contract (`base_lr`) and a label."""
    return {"params": [p for _, p in named], "lr": lr, "base_lr": lr,
            "weight_decay": weight_decay, "name": label}


def _adamw(groups: list[dict[str, Any]], lr: float, betas: tuple[float, float]
           ) -> torch.optim.AdamW:
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=betas)


# --------------------------------------------------------------------------- the hybrid


class HybridOptimizer:
    """Several torch optimizers over disjoint parameters, driven as one by the training loop.

    `param_groups` lists the groups of all parts (the very dicts, so setting `group["lr"]` acts);
    the state dict holds one entry per part, keyed by the part's name.
    """

    def __init__(self, parts: dict[str, torch.optim.Optimizer]):
        if not parts:
            raise ValueError("HybridOptimizer needs at least one optimizer")
        self.parts = parts

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [group for opt in self.parts.values() for group in opt.param_groups]

    @property
    def state(self) -> dict[torch.Tensor, Any]:
        return {p: s for opt in self.parts.values() for p, s in opt.state.items()}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.parts.values():
            opt.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Any = None) -> Any:
        """One step of every part; a closure is evaluated once, before the parts step."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for opt in self.parts.values():
            opt.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {name: opt.state_dict() for name, opt in self.parts.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state) != set(self.parts):
            raise ValueError(f"optimizer state has parts {sorted(state)}, this optimizer has "
                             f"{sorted(self.parts)} (was it saved with another optimizer kind?)")
        for name, opt in self.parts.items():
            opt.load_state_dict(state[name])

    def describe(self) -> str:
        return describe(self)

    def __repr__(self) -> str:
        return f"HybridOptimizer({self.describe()})"


# --------------------------------------------------------------------------- public API


def build_optimizer(model: nn.Module, kind: str, lr: float, weight_decay: float,
                    betas: tuple[float, float] = (0.9, 0.95), muon_lr: float | None = None,
                    muon_momentum: float = 0.95, adamw_names: Iterable[str] = ()
                    ) -> torch.optim.Optimizer | HybridOptimizer:
    """The optimizer of `kind` over the trainable parameters of `model`.

    "adamw": AdamW; biases, norms and 1-D parameters are not weight-decayed.
    "muon": Muon (peak lr `muon_lr`, default `lr`, RMS-matched to AdamW) for the 2-D weights of
    hidden nn.Linear layers, AdamW (peak `lr`) for the rest. `adamw_names` are parameter-name
    prefixes kept on AdamW, for the network's input/output projections (e.g. {"inp", "out"}).
    Every group carries `base_lr` and a `name` (see `set_lr`, `describe`).
    """
    if kind not in OPTIMIZER_KINDS:
        raise ValueError(f"optimizer kind must be one of {OPTIMIZER_KINDS}, got {kind!r}")
    split = split_parameters(model, muon=kind == "muon", adamw_names=adamw_names)
    if not any(split.values()):
        raise ValueError("the model has no trainable parameters")
    adamw_groups = [_group(ADAMW_DECAY, split[ADAMW_DECAY], lr, weight_decay),
                    _group(ADAMW_NO_DECAY, split[ADAMW_NO_DECAY], lr, 0.0)]
    if kind == "adamw":
        return _adamw(adamw_groups, lr, betas)
    parts: dict[str, torch.optim.Optimizer] = {}
    if split[MUON]:
        muon_group = _group(MUON, split[MUON], lr if muon_lr is None else muon_lr, weight_decay)
        parts["muon"] = torch.optim.Muon([muon_group], lr=muon_group["lr"],
                                         weight_decay=weight_decay, momentum=muon_momentum,
                                         adjust_lr_fn=MUON_ADJUST_LR)
    if split[ADAMW_DECAY] or split[ADAMW_NO_DECAY]:
        parts["adamw"] = _adamw(adamw_groups, lr, betas)
    return HybridOptimizer(parts)


def set_lr(optimizer: torch.optim.Optimizer | HybridOptimizer, factor: float) -> None:
    """Apply a schedule factor (1 at the peak) to every group: lr = base_lr * factor.

    A group without `base_lr` (an optimizer not made by `build_optimizer`) is an error rather
    than a silent guess.
    """
    for group in optimizer.param_groups:
        if "base_lr" not in group:
            raise KeyError("parameter group has no 'base_lr'; build it with build_optimizer")
        group["lr"] = group["base_lr"] * factor


def describe(optimizer: torch.optim.Optimizer | HybridOptimizer) -> str:
    """Which parameters went where, for the log: tensors and elements per group."""
    parts = []
    for i, group in enumerate(optimizer.param_groups):
        n = sum(p.numel() for p in group["params"])
        parts.append(f"{group.get('name', f'group{i}')}: {len(group['params'])} tensors, "
                     f"{n:,} params, base_lr={group.get('base_lr', group['lr']):.3g}, "
                     f"wd={group['weight_decay']:.3g}")
    return "; ".join(parts)


# --------------------------------------------------------------------------- EMA


class ModelEMA:
    """Exponential moving average of a model's parameters and buffers (float32 copies).

    Averaged weights sit nearer the minimum than the last noisy SGD iterate; evaluate with
    `with ema.applied(model): ...`. During the first `warmup_steps` updates the decay is
    min(decay, (1 + step) / (10 + step)) (0.1 at step 0), so the average forgets the random
    initialisation quickly instead of dragging it along for ~1 / (1 - decay) steps.
    Non-floating buffers (counters) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup_steps: int = 0):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay, self.warmup_steps = decay, warmup_steps
        self.shadow = {name: _shadow_copy(t) for name, t in _tensors(model)}

    def decay_at(self, step: int) -> float:
        """The decay used by `update(model, step)`."""
        if step < self.warmup_steps:
            return min(self.decay, (1 + step) / (10 + step))
        return self.decay

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """shadow <- d * shadow + (1 - d) * weight, with d = decay_at(step)."""
        d = self.decay_at(step)
        for name, tensor in self._matched(model):
            shadow = self.shadow[name]
            if shadow.is_floating_point():
                # lerp leaves a constant exactly constant (d*x + (1-d)*x may round).
                shadow.lerp_(tensor.detach().to(shadow.dtype), 1.0 - d)
            else:
                shadow.copy_(tensor)

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Swap the EMA weights into `model`; the raw weights come back on exit, even on error."""
        backup = {name: t.detach().clone() for name, t in self._matched(model)}
        try:
            self._copy_into(model, self.shadow)
            yield model
        finally:
            self._copy_into(model, backup)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "warmup_steps": self.warmup_steps,
                "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state["shadow"]) != set(self.shadow):
            missing = sorted(set(self.shadow) ^ set(state["shadow"]))
            raise ValueError(f"EMA state does not match the model; differing names: {missing}")
        self.decay, self.warmup_steps = state["decay"], state["warmup_steps"]
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)

    def _matched(self, model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
        tensors = dict(_tensors(model))
        if set(tensors) != set(self.shadow):
            raise ValueError("model does not match the EMA (different parameter/buffer names)")
        return iter(tensors.items())

    @torch.no_grad()
    def _copy_into(self, model: nn.Module, values: dict[str, torch.Tensor]) -> None:
        for name, tensor in self._matched(model):
            tensor.copy_(values[name])


def _tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """Parameters and all buffers (non-persistent ones too, which state_dict() omits)."""
    yield from model.named_parameters()
    yield from model.named_buffers()


def _shadow_copy(tensor: torch.Tensor) -> torch.Tensor:
    tensor = tensor.detach()
    return tensor.float().clone() if tensor.is_floating_point() else tensor.clone()


# --------------------------------------------------------------------------- precision


def resolve_precision(device: torch.device | str, precision: str) -> str:
    """"fp32" or "bf16": what `precision` means on `device` ("auto": bf16 where CUDA has it)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    kind = torch.device(device).type
    if precision == "auto":
        return "bf16" if kind == "cuda" and _cuda_bf16() else "fp32"
    if precision == "bf16" and not (kind == "cpu" or (kind == "cuda" and _cuda_bf16())):
        raise ValueError(f"precision='bf16' is not supported on device {str(device)!r}; "
                         "set precision to 'fp32' or 'auto'")
    return precision


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """Context for forward passes: bf16 autocast, or nothing for fp32 (see resolve_precision)."""
    if resolve_precision(device, precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def _cuda_bf16() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
