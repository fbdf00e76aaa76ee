"""dvc.yaml declares, for every stage, each project file its code imports: a stage whose code
changed is re-run (a missing dependency would keep stale results), checked by following the
imports of the stage's module through `stages/` and `ups/`."""

from __future__ import annotations

import pytest

from scripts.dvc_deps import ROOT, closure, code_deps, needed, stages


@pytest.mark.parametrize("name,module,deps", stages(), ids=[s[0] for s in stages()])
def test_stage_declares_every_project_file_it_imports(name, module, deps):
    covered = [ROOT / d for d in deps if "${" not in d]
    missing = sorted(str(p.relative_to(ROOT)) for p in needed(module)
                     if not any(p == c or c in p.parents for c in covered))
    assert not missing, (f"dvc.yaml stage {name} lacks deps {missing}; "
                         "`python scripts/dvc_deps.py` rewrites them")


@pytest.mark.parametrize("name,module,deps", stages(), ids=[s[0] for s in stages()])
def test_stage_declares_no_code_it_does_not_import(name, module, deps):
    """Extra code deps re-run a stage for nothing; the written list is exactly the rewrite's."""
    written = [d for d in deps if d.startswith(("stages/", "ups/"))]
    assert written == code_deps(module), "`python scripts/dvc_deps.py` rewrites them"


def test_the_check_finds_a_missing_dependency():
    files = {str(p.relative_to(ROOT)) for p in closure("stages.eval")}
    assert {"stages/eval.py", "ups/eval/evaluate.py", "ups/models/operator.py",
            "ups/config.py"} <= files
