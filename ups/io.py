"""Atomic outputs: write under a temporary name, rename into place only when complete.

A stage killed halfway (Ctrl-C, kill -9, a full disk) must never leave something under its final
name that looks finished; DVC would otherwise happily cache a truncated file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _tmp_name(path: Path) -> Path:
    """This process's temporary name for `path`; temporaries that processes which no longer run
    left behind (a kill -9, a lost machine) are removed first, so they do not pile up."""
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(
                missing_ok=True)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces `path` when the block succeeds.

    On any exception the temporary directory is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    os.replace(tmp, path)


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path that replaces `path` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


@contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """Re-raise an OSError that does not say which file (numpy's and shutil's writes) with
    `path` in its message."""
    try:
        yield
    except OSError as err:
        if err.filename is None and str(path) not in str(err):
            raise OSError(err.errno, f"{path}: {err.strerror or err}") from None
        raise


def require_free(path: str | Path, nbytes: int, what: str) -> None:
    """Refuse to start writing `what` (about `nbytes`) under `path` when its disk has less free
    space: a library that meets a full disk mid-write (HDF5) can be left unable to close its
    file, so the check comes first. A 5 % + 1 MB margin covers the format's own overhead."""
    path = Path(path)
    while not path.exists():  # the output's parent may not exist yet
        path = path.parent
    need = int(nbytes * 1.05) + (1 << 20)
    free = shutil.disk_usage(path).free
    if free < need:
        raise OSError(errno.ENOSPC, f"{path}: {what} needs about {need / 1e6:.1f} MB, its disk "
                                    f"has {free / 1e6:.1f} MB free (No space left on device); "
                                    "free space there or write the output elsewhere")


def reserve(path: str | Path) -> None:
    """Allocate the disk blocks of the (sparse) file at `path` now: a memory-mapped page written
    on a full disk kills the process with SIGBUS and no message, a reservation fails here with
    an error naming the file."""
    path = Path(path)
    size = path.stat().st_size
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        raise OSError(err.errno, f"{path}: cannot reserve {size / 1e6:.1f} MB on its disk "
                                 f"({os.strerror(err.errno)}); free space there and re-run") \
            from None
    finally:
        os.close(fd)


def write_json(path: str | Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def file_md5(path: Path, chunk: int = 8 << 20) -> str:
    """MD5 of a file, streamed (PDEBench publishes MD5s; a changed download is detected).

    A directory (a zarr store) hashes its files' relative paths and bytes in sorted order, so
    two stores with the same content have the same MD5 wherever they sit.
    """
    path = Path(path)
    digest = hashlib.md5()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as fh:
            while block := fh.read(chunk):
                digest.update(block)
    return digest.hexdigest()
