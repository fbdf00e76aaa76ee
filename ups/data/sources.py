"""Where a task's raw files are: our simulator's output folder, or a PDEBench download root.

For a PDEBench source the `simulate@<task>` stage does not copy terabytes into the DVC cache: it
writes `SOURCE.json` into the task's raw folder, naming the selected files (absolute paths and
sizes). DVC tracks that small record; `convert` reads the files it names and refuses to go on if
one has changed size since (re-run `simulate@<task>` then: `dvc repro -f simulate@<task>`).
"""

from __future__ import annotations

import json
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
            raise RawDataError(f"{root}: file(s) {missing} of task {spec.name} not found in "
                               f"{[str(f) for f in folders]}")
        found = [by_name[n] for n in names]
    if not found:
        raise RawDataError(f"{root}: no files of task {spec.name} in {[str(f) for f in folders]} "
                           f"matching {list(spec.file_patterns)}")
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
                           f"matching {list(spec.file_patterns)}")
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
