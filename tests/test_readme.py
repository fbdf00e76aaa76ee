"""The README's picture of the pipeline says what `dvc dag` says (readable where `dvc dag` is over
1000 columns wide): the same stages, and the same stage reaches the same others."""

from __future__ import annotations

import re
import shutil
from itertools import pairwise

from helpers import ROOT, run

MERMAID_BLOCK = re.compile(r"```mermaid\n(.*?)```", re.DOTALL)
NODE = re.compile(r'^\s*(\w+)(?:\["[^"]*"\])?\s*$')


def stage(name: str) -> str:
    """A stage of the picture or of `dvc dag`, one per foreach: `eval@burgers1d` -> `eval`."""
    return name.split("@")[0]


def readme_edges() -> set[tuple[str, str]]:
    """Edges of the README's Mermaid picture (chains `a --> b --> c`; labels `id["..."]`)."""
    blocks = MERMAID_BLOCK.findall((ROOT / "README.md").read_text())
    assert len(blocks) == 1, f"README.md: expected one mermaid picture, found {len(blocks)}"
    edges = set()
    for line in blocks[0].splitlines()[1:]:  # the first line is `flowchart TD`
        nodes = [NODE.match(part) for part in line.split("-->")]
        assert all(nodes), f"README.md mermaid: cannot read {line!r}"
        ids = [stage(m.group(1)) for m in nodes]
        edges |= set(pairwise(ids))
    return edges


def dvc_dag_edges(tmp_path) -> set[tuple[str, str]]:
    """`dvc dag --md` of the project's dvc.yaml and params.yaml, foreach copies folded."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    md = run(["dvc", "dag", "--md"], tmp_path).stdout
    names = dict(re.findall(r'(node\d+)\["([^"]+)"\]', md))
    return {(stage(names[a]), stage(names[b]))
            for a, b in re.findall(r"(node\d+)-->(node\d+)", md)}


def reach(edges: set[tuple[str, str]]) -> dict[str, set[str]]:
    """Every stage -> the stages downstream of it (transitive closure)."""
    out: dict[str, set[str]] = {n: set() for e in edges for n in e}
    for a, b in edges:
        out[a].add(b)
    changed = True
    while changed:
        changed = False
        for a, seen in out.items():
            more = set().union(*(out[b] for b in seen)) - seen
            if more:
                seen |= more
                changed = True
    return out


def test_readme_pipeline_picture_matches_dvc_dag(tmp_path):
    """The picture may leave out an edge that a path already implies (train_autoencoder -> eval),
    not a stage, a dependency or a direction."""
    picture, dag = reach(readme_edges()), reach(dvc_dag_edges(tmp_path))
    assert set(picture) == set(dag), f"stages: README {sorted(picture)}, dvc dag {sorted(dag)}"
    wrong = {a: (sorted(picture[a]), sorted(dag[a])) for a in dag if picture[a] != dag[a]}
    assert not wrong, f"downstream of (README, dvc dag): {wrong}"
