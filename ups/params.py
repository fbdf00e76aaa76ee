"""Reading params.yaml into typed, frozen dataclasses: the machinery every config section shares.

Sections live with the code that reads them (`ups.data.config` for the data stages, `ups.config`
for the model and training stages), so a stage imports only the sections it uses and DVC re-runs
it only when those change. Building rejects unknown keys, missing keys, wrong types and
non-finite numbers with a `ConfigError` that names the key path (`latent.dim`).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A parameter in params.yaml is missing, unknown or has a bad value."""


def check(ok: bool, key: str, value: Any, expected: str) -> None:
    """Raise `ConfigError` naming `key`, its `value` and what was `expected` unless `ok`."""
    if not ok:
        raise ConfigError(f"params: {key} must be {expected}, got {value!r}")


def build(cls: type, data: Any, path: str) -> Any:
    """Instantiate dataclass `cls` from a mapping, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"params: {path or 'top level'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = path or "top level"
        raise ConfigError(f"params: unknown key(s) {unknown} in {where}; expected {sorted(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = f"{path}.{f.name}" if path else f.name
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"params: missing key {key}")
            continue
        kwargs[f.name] = coerce(hints[f.name], data[f.name], key)
    return cls(**kwargs)


def coerce(hint: Any, value: Any, key: str) -> Any:
    """`value` as type `hint`, or a `ConfigError` naming `key`."""
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"params: {key} must be a list, got {value!r}")
        return tuple(coerce(typing.get_args(hint)[0], v, key) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"params: {key} must be a mapping, got {value!r}")
        item = typing.get_args(hint)[1]
        if dataclasses.is_dataclass(item):
            return {k: build(item, v or {}, f"{key}.{k}") for k, v in value.items()}
        if item is float:
            return {k: coerce(float, v, f"{key}.{k}") for k, v in value.items()}
        return dict(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"params: {key} must be an integer, got {value!r}")
        return value
    if hint is float:
        return _number(value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"params: {key} must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"params: {key} must be a string, got {value!r}")
        return value
    return value


def _number(value: Any, key: str) -> float:
    """A finite float. No knob of UPS means anything at infinity or NaN: an `lr: .inf` would
    only train a model of NaNs, so it is refused here, before any work starts."""
    if isinstance(value, str):  # YAML 1.1 reads 1e-9 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"params: {key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"params: {key} must be a finite number, got {value!r}")
    return float(value)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (plain YAML keeps the
    last silently: an edited copy of a knob would win without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_params(path: str | Path) -> dict[str, Any]:
    """The parsed mapping of a params file; `ConfigError` naming the file if it is missing,
    not YAML, or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found (run from the repository root)")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (seed:, tasks:, ...), got "
                          f"{'an empty file' if data is None else type(data).__name__}")
    return data


def load_sections(cls: type, path: str | Path, *, only_known: bool = False) -> Any:
    """Dataclass `cls` built and validated from the params file at `path`; with `only_known`,
    top-level sections `cls` does not have are left to the stages that read them."""
    data = read_params(path)
    if only_known:
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
    try:
        cfg = build(cls, data, "")
        cfg.validate()
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict form of a config (for checkpoints and logs)."""
    return dataclasses.asdict(cfg)
