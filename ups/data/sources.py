"""Where a task's raw files are: our simulator's output folder, or a PDEBench download root.

For a PDEBench source the `simulate@<task>` stage does not copy terabytes into the DVC cache: it
writes `SOURCE.json` into the task's raw folder, naming the selected files (absolute paths and
sizes). DVC tracks that small record; `convert` reads the files it names and refuses to go on if
one has changed size since (re-run `simulate@<task>` then: `dvc repro -f simulate@<task>`).
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path

from ups.data.config import SourceConfig
from ups.data.pdebench import RawDataError
from ups.io import write_json
from ups.tasks import TaskSpec

SOURCE_FILE = "SOURCE.json"


def _is_raw(spec: TaskSpec, path: Path) -> bool:
    """HDF5 raw files are files; UPS's zarr stores are directories."""
    return path.is_dir() if spec.layout == "ups_zarr" else path.is_file()


def _matches(spec: TaskSpec, folder: Path) -> set[Path]:
    return {p for pattern in spec.file_patterns for p in folder.glob(pattern) if _is_raw(spec, p)}


def _why_not_found(spec: TaskSpec, name: str, root: Path, folders: list[Path]) -> str:
    """Why `name` (from sources.<task>.files) is not one of the task's files: present but not
    matching the task's file patterns (glob, case-sensitive), present as the wrong kind of entry,
    present only outside the task's PDEBench folder, or absent."""
    patterns = list(spec.file_patterns)
    for path in (f / name for f in folders):
        if not path.exists():
            continue
        if not any(fnmatchcase(name, p) for p in patterns):
            return (f"{path} exists but does not match task {spec.name}'s file pattern(s) "
                    f"{patterns}, so the task does not read it; list only matching names in "
                    f"sources.{spec.name}.files")
        want = "a folder (a UPS zarr store)" if spec.layout == "ups_zarr" else "a file"
        return f"{path} exists but is not {want}"
    where = [str(f) for f in folders]
    if root not in folders and (root / name).exists():
        return (f"{root / name} exists, but task {spec.name} reads {where} (the official "
                "downloader's layout): move it there")
    return f"{name} not found in {where}"


def _unmatched(spec: TaskSpec, folders: list[Path], limit: int = 5) -> str:
    """A note naming entries of `folders` that match none of the task's patterns (a renamed or
    misplaced file shows up here), or "" when there are none."""
    matched = set().union(*(_matches(spec, f) for f in folders if f.is_dir()))
    others = sorted(p.name for f in folders if f.is_dir() for p in f.iterdir()
                    if p not in matched and not p.name.startswith(".") and p.name != SOURCE_FILE)
    if not others:
        return ""
    more = f" and {len(others) - limit} more" if len(others) > limit else ""
    return f"; the folder holds {others[:limit]}{more}, which match none"


def pdebench_files(spec: TaskSpec, root: Path, names: tuple[str, ...] = ()) -> list[Path]:
    """The task's files under a PDEBench root (official sub-folders), optionally only `names`."""
    root = Path(root)
    if not root.is_dir():
        raise RawDataError(f"{root}: PDEBench root not found")
    folders = [root / d for d in spec.pdebench_dir] or [root]
    found = sorted(set().union(*(_matches(spec, f) for f in folders if f.is_dir())))
    if names:
        by_name = {p.name: p for p in found}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise RawDataError(f"{root}: file(s) {missing} of task {spec.name}: " + "; ".join(
                _why_not_found(spec, n, root, folders) for n in missing))
        found = [by_name[n] for n in names]
    if not found:
        raise RawDataError(f"{root}: no files of task {spec.name} in {[str(f) for f in folders]} "
                           f"matching {list(spec.file_patterns)}{_unmatched(spec, folders)}")
    return found


def write_source_record(out_dir: Path, spec: TaskSpec, source: SourceConfig) -> Path:
    """Record the PDEBench files a task uses (the raw stage's output for a PDEBench source)."""
    files = pdebench_files(spec, Path(source.root).expanduser().resolve(), source.files)
    record = {"kind": "pdebench", "task": spec.name, "root": str(Path(source.root).resolve()),
              "files": [{"path": str(p), "size": p.stat().st_size} for p in files]}
    out = Path(out_dir) / SOURCE_FILE
    write_json(out, record)
    return out


def find_raw_files(spec: TaskSpec, raw_dir: Path) -> list[Path]:
    """The task's raw files: named by `SOURCE.json`, or found in `raw_dir` by file pattern."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise RawDataError(f"{raw_dir}: raw data folder not found (run simulate, or point the "
                           f"task at a PDEBench download)")
    record = raw_dir / SOURCE_FILE
    if record.is_file():
        return _recorded_files(json.loads(record.read_text()), record)
    files = sorted(_matches(spec, raw_dir))
    if not files:
        raise RawDataError(f"{raw_dir}: no raw files for task {spec.name}; expected names "
                           f"matching {list(spec.file_patterns)}{_unmatched(spec, [raw_dir])}")
    return files


def _recorded_files(record: dict, where: Path) -> list[Path]:
    files = []
    for entry in record["files"]:
        path = Path(entry["path"])
        if not path.is_file():
            raise RawDataError(f"{where}: names {path}, which does not exist")
        if path.stat().st_size != entry["size"]:
            raise RawDataError(f"{where}: {path} changed size since it was recorded "
                               f"({entry['size']} -> {path.stat().st_size} bytes); re-run the "
                               "task's simulate stage (dvc repro -f simulate@<task>)")
        files.append(path)
    return files
