"""The project files each dvc.yaml stage's code imports, and a rewrite of dvc.yaml's code deps
from them (`python scripts/dvc_deps.py`): a stage whose code changed must re-run, so every
imported file of `stages/` and `ups/` is a dependency. tests/test_dvc_deps.py checks the file.

Data deps (anything outside `stages/` and `ups/`) are kept as written and listed first; a folder
whose every non-empty .py file is imported is listed as the folder.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CODE = ("stages/", "ups/")


def module_file(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imports(path: Path) -> set[str]:
    """Project modules imported by the file at `path` (absolute imports of ups./stages.)."""
    out = set()
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block)
                   for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:  # `if TYPE_CHECKING:` imports never run
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        out.update(n for n in names if n.split(".")[0] in ("ups", "stages"))
    return out


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


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


def stages(dvc_yaml: Path = ROOT / "dvc.yaml") -> list[tuple[str, str, list[str]]]:
    """(stage name, the module its command runs, its deps) for every stage."""
    spec = yaml.safe_load(dvc_yaml.read_text())["stages"]
    out = []
    for name, stage in spec.items():
        body = stage.get("do", stage)
        module = body["cmd"].split("python -m ")[1].split()[0]
        out.append((name, module, [str(d) for d in body.get("deps", [])]))
    return out


def needed(module: str) -> list[Path]:
    """The files a stage must depend on (empty __init__ files carry no code)."""
    return [p for p in closure(module) if p.name != "__init__.py" or p.stat().st_size > 0]


def code_deps(module: str) -> list[str]:
    """`needed(module)` as dvc.yaml entries: stages/ first, then ups/ top-level files, then
    ups/ sub-packages; a folder fully used (all its non-empty .py files, no sub-folders) is one
    entry."""
    files = set(needed(module))
    folders = {p.parent for p in files if p.parent != ROOT / "ups" and "ups" in p.parts}
    entries: set[Path] = set()
    for f in files:
        folder = f.parent
        whole = folder in folders and not any(d.is_dir() and d.name != "__pycache__"
                                              for d in folder.iterdir()) and all(
            p in files for p in folder.glob("*.py")
            if p.name != "__init__.py" or p.stat().st_size > 0)
        entries.add(folder if whole else f)
    rel = [str(p.relative_to(ROOT)) for p in entries]
    return sorted(rel, key=lambda r: (not r.startswith("stages/"),
                                      r.count("/") > 1 or not r.endswith(".py"), r))


def rewrite(text: str) -> str:
    """dvc.yaml `text` with each stage's code deps replaced by `code_deps`."""
    modules = {name: module for name, module, _ in stages()}
    out, lines, i, stage = [], text.splitlines(keepends=True), 0, None
    while i < len(lines):
        line = lines[i]
        top = re.match(r"^  ([a-z_0-9]+):\s*$", line)
        if top:
            stage = top.group(1)
        dep = re.match(r"^(\s*)deps:\s*$", line)
        if dep and stage in modules:
            out.append(line)
            i += 1
            indent, data = None, []
            while i < len(lines) and re.match(r"^\s*- ", lines[i]):
                indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
                item = lines[i].strip()[2:]
                if not item.startswith(CODE):
                    data.append(item)
                i += 1
            out += [f"{indent}- {d}\n" for d in data + code_deps(modules[stage])]
            continue
        out.append(line)
        i += 1
    return "".join(out)


if __name__ == "__main__":
    path = ROOT / "dvc.yaml"
    new = rewrite(path.read_text())
    changed = new != path.read_text()
    path.write_text(new)
    print("dvc.yaml: code deps rewritten" if changed else "dvc.yaml: code deps already exact",
          file=sys.stderr)
