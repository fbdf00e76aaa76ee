"""One door to every raw file a task can have: PDEBench HDF5 files or UPS's zarr point sets."""

from __future__ import annotations

from pathlib import Path

from ups.data.pdebench import RawReader
from ups.data.zarr_layout import ZarrReader
from ups.tasks import TaskSpec


def open_raw(path: Path, spec: TaskSpec) -> RawReader | ZarrReader:
    """The reader for `path` as a raw file of task `spec` (its layout decides which)."""
    if spec.layout == "ups_zarr":
        return ZarrReader(path, spec)
    return RawReader(path, spec)
