"""The leaderboard: one row per evaluated run, kept across runs and machines.

A run is named by the git revision it started from and, for an experiment (`dvc exp run -S ...`),
a fingerprint of the parameters it changed against that revision: the `run` column. Writing a run
replaces only its own row; rows of other runs are kept, and `merge` takes the union of several
leaderboards (from several boxes) by run, so nothing is ever overwritten by another machine.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from ups.io import atomic_file

KEY = "run"
FIRST = (KEY, "revision", "date", "params_changed")


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the names `dvc exp run -S` uses."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for k, v in tree.items():
        flat.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return flat


def params_changed(root: Path, params: Path) -> dict[str, Any]:
    """Parameters whose value differs from the committed params file at HEAD (an experiment's
    `-S` settings); every parameter if the file is not committed."""
    current = flatten(yaml.safe_load(Path(params).read_text()) or {})
    rel = Path(params).resolve().relative_to(Path(root).resolve()).as_posix()
    committed = _git(root, "show", f"HEAD:{rel}")
    base = flatten(yaml.safe_load(committed) or {}) if committed is not None else {}
    return {k: v for k, v in sorted(current.items()) if base.get(k, object()) != v}


def run_identity(root: Path, params: Path) -> dict[str, str]:
    """The leaderboard's key columns for the run in `root` with parameter file `params`."""
    rev = (_git(root, "rev-parse", "HEAD") or "").strip() or "uncommitted"
    changed = params_changed(root, params)
    text = json.dumps(changed, sort_keys=True, default=str)
    run = rev[:10] if not changed else f"{rev[:10]}+{hashlib.md5(text.encode()).hexdigest()[:8]}"
    return {KEY: run, "revision": rev,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "params_changed": " ".join(f"{k}={v}" for k, v in changed.items())}


def read(path: Path) -> list[dict[str, str]]:
    if not Path(path).is_file():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and KEY not in rows[0]:
        raise ValueError(f"{path}: not a leaderboard (no '{KEY}' column); move it away or "
                         "delete it to start a new one")
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows sorted by date then run, columns the union (key columns first), atomically."""
    columns = list(FIRST)
    for row in rows:
        columns += [c for c in row if c not in columns]
    rows = sorted(rows, key=lambda r: (str(r.get("date", "")), str(r[KEY])))
    with atomic_file(Path(path)) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(v) for k, v in row.items()})


def upsert(path: Path, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Write `row` into the leaderboard at `path`, replacing the row of the same run only."""
    rows: list[dict[str, Any]] = [r for r in read(path) if r[KEY] != row[KEY]]
    rows.append(row)
    write(path, rows)
    return rows


def merge(out: Path, sources: list[Path]) -> list[dict[str, Any]]:
    """Union of leaderboards by run; where two hold the same run, the later-dated row wins."""
    by_run: dict[str, dict[str, Any]] = {}
    for source in [out, *sources]:
        for row in read(source):
            old = by_run.get(row[KEY])
            if old is None or row.get("date", "") >= old.get("date", ""):
                by_run[row[KEY]] = row
    rows = list(by_run.values())
    write(out, rows)
    return rows
