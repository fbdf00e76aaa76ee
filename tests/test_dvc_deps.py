"""dvc.yaml declares, for every stage, each project file its code imports: a stage whose code
changed is re-run (a missing dependency would keep stale results), checked by following the
imports of the stage's module through `stages/` and `ups/`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def module_file(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imports(path: Path) -> set[str]:
    """Project modules imported by the file at `path` (absolute imports of ups./stages.)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        out.update(n for n in names if n.split(".")[0] in ("ups", "stages"))
    return out


def closure(module: str) -> set[Path]:
    """Every project file reached from `module` by imports (packages' __init__ included)."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
            path = module_file(".".join(parts[:i]))
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(imports(path))
    return seen


def stages() -> list[tuple[str, str, list[str]]]:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    out = []
    for name, stage in spec.items():
        body = stage.get("do", stage)
        module = body["cmd"].split("python -m ")[1].split()[0]
        out.append((name, module, [str(d) for d in body.get("deps", [])]))
    return out


@pytest.mark.parametrize("name,module,deps", stages(), ids=[s[0] for s in stages()])
def test_stage_declares_every_project_file_it_imports(name, module, deps):
    covered = [ROOT / d for d in deps if "${" not in d]
    missing = sorted(str(p.relative_to(ROOT)) for p in closure(module)
                     if p.name != "__init__.py" or p.stat().st_size > 0
                     if not any(p == c or c in p.parents for c in covered))
    assert not missing, f"dvc.yaml stage {name} lacks deps {missing}"


def test_the_check_finds_a_missing_dependency():
    files = {str(p.relative_to(ROOT)) for p in closure("stages.eval")}
    assert {"stages/eval.py", "ups/eval/evaluate.py", "ups/models/operator.py",
            "ups/config.py"} <= files
