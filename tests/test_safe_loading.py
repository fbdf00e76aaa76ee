"""Every checkpoint, resume state and cache the project loads is loaded without unpickling
code: `torch.load(..., weights_only=True)` and `np.load` without `allow_pickle=True`, checked on
the source of ups/, stages/, bench/ and scripts/ (a new loader that forgets it fails here)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def calls(owner: str, name: str) -> list[tuple[str, dict]]:
    """(file:line, keywords) of every call `owner.name(...)` in the project's code."""
    out = []
    for folder in ("ups", "stages", "bench", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == name and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == owner):
                    out.append((f"{path.relative_to(ROOT)}:{node.lineno}",
                                {k.arg: k.value for k in node.keywords}))
    return out


def is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def test_every_torch_load_is_weights_only():
    found = calls("torch", "load")
    assert len(found) >= 2, "the check finds the checkpoint and resume loaders"
    unsafe = [where for where, kw in found if not is_true(kw.get("weights_only"))]
    assert not unsafe, f"torch.load without weights_only=True: {unsafe}"


def test_no_numpy_load_allows_pickles():
    found = calls("np", "load")
    assert found, "the check finds the latent cache loaders"
    unsafe = [where for where, kw in found if is_true(kw.get("allow_pickle"))]
    assert not unsafe, f"np.load with allow_pickle=True: {unsafe}"
