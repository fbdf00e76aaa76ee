"""Download PDEBench files from the official URL list: resumable, MD5-verified, de-duplicated.

The list is PDEBench's own `pdebench_data_urls.csv` (columns `PDE,Filename,URL,Path,MD5`; UPS does
not ship it). Files land under `root/<Path>/<Filename>`, as the official downloader leaves them.
A file appears under its final name only once its MD5 matches; a partial download waits as
`<name>.part` and is resumed with an HTTP Range request, by a later attempt or, once the retries
are spent, by the next run (only a `.part` whose MD5 is wrong is deleted: its bytes are bad).
Files whose MD5 another selected file already has (ns_incom has 24 byte-identical pairs) are
downloaded once: a second copy would put the same trajectories in two splits.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ups.io import file_md5

COLUMNS = ("PDE", "Filename", "URL", "Path", "MD5")
VERIFIED = ".ups-verified.json"  # in the root: files whose MD5 was checked (size, mtime, md5)


class DownloadError(OSError):
    """A file could not be downloaded with the expected MD5."""


@dataclass(frozen=True)
class Entry:
    pde: str
    filename: str
    url: str
    path: str
    md5: str

    def target(self, root: Path) -> Path:
        return Path(root) / self.path / self.filename


def read_url_list(csv_path: Path) -> list[Entry]:
    """Parse the official URL list; a wrong header or an empty field names the file and line."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: URL list not found (it is pdebench/data_download/"
                                "pdebench_data_urls.csv in a PDEBench checkout)")
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}: header {reader.fieldnames} lacks columns {missing}; "
                             f"expected {','.join(COLUMNS)}")
        entries = []
        for line, row in enumerate(reader, start=2):
            empty = [c for c in COLUMNS if not (row.get(c) or "").strip()]
            if empty:
                raise ValueError(f"{csv_path}:{line}: empty {empty}")
            entries.append(Entry(row["PDE"].strip(), row["Filename"].strip(), row["URL"].strip(),
                                 row["Path"].strip(), row["MD5"].strip().lower()))
    return entries


def select(entries: list[Entry], groups: list[str] | None = None,
           files: list[str] | None = None) -> tuple[list[Entry], list[Entry]]:
    """Entries of the chosen groups (case-insensitive) and/or file names -> (unique, duplicates).

    Asking for a group or file that the list does not have raises, listing what it has (the
    official downloader silently matches nothing for an upper-case name).
    """
    chosen = entries
    if groups:
        known = sorted({e.pde.lower() for e in entries})
        unknown = [g for g in groups if g.lower() not in known]
        if unknown:
            raise ValueError(f"unknown PDEBench group(s) {unknown}; the list has {known}")
        wanted = {g.lower() for g in groups}
        chosen = [e for e in chosen if e.pde.lower() in wanted]
    if files:
        names = {e.filename for e in chosen}
        unknown = [f for f in files if f not in names]
        if unknown:
            raise ValueError(f"file(s) {unknown} are not in the selected groups of the list")
        chosen = [e for e in chosen if e.filename in set(files)]
    unique, duplicates, seen = [], [], set()
    for e in chosen:
        (duplicates if e.md5 in seen else unique).append(e)
        seen.add(e.md5)
    return unique, duplicates


class VerifiedRecord:
    """Which files under the root were verified, so a re-run skips them without re-hashing."""

    def __init__(self, root: Path):
        self.path = Path(root) / VERIFIED
        self.data = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def _key(self, target: Path) -> str:
        return str(target.relative_to(self.path.parent))

    def is_verified(self, target: Path, md5: str) -> bool:
        rec = self.data.get(self._key(target))
        if rec is None or not target.is_file():
            return False
        st = target.stat()
        return rec == {"size": st.st_size, "mtime": st.st_mtime_ns, "md5": md5}

    def add(self, target: Path, md5: str) -> None:
        st = target.stat()
        self.data[self._key(target)] = {"size": st.st_size, "mtime": st.st_mtime_ns, "md5": md5}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


# What a dropped or stalled transfer raises (urllib's URLError is an OSError; a connection closed
# mid-body is http.client's IncompleteRead, which is not).
TRANSFER_ERRORS = (OSError, http.client.HTTPException)
RANGE_NOT_SATISFIABLE = 416


def _fetch(url: str, part: Path, timeout: float, progress: tqdm) -> None:
    """Append the rest of `url` to `part`, resuming from its current size (HTTP Range)."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if have and err.code == RANGE_NOT_SATISFIABLE:  # nothing after `have`: the transfer
            return  # had finished (a run stopped before the MD5 check); the MD5 decides
        raise
    with resp:
        if have and resp.status != 206:  # the server ignored Range: start over
            have = 0
        total = resp.headers.get("Content-Length")
        progress.reset(total=have + int(total) if total is not None else None)
        progress.update(have)
        with open(part, "ab" if have else "wb") as fh:
            while block := resp.read(1 << 20):
                fh.write(block)
                progress.update(len(block))
        if total is not None and part.stat().st_size != have + int(total):
            raise urllib.error.URLError(f"connection closed early ({part.stat().st_size} of "
                                        f"{have + int(total)} bytes)")


def download_entry(entry: Entry, root: Path, record: VerifiedRecord, *, retries: int = 4,
                   backoff: float = 1.0, timeout: float = 60.0,
                   sleep: Callable[[float], None] = time.sleep) -> str:
    """Download one file; returns "verified" (already there) or "downloaded"."""
    target = entry.target(root)
    if record.is_verified(target, entry.md5):
        return "verified"
    if target.is_file() and file_md5(target) == entry.md5:  # placed by hand or another tool
        record.add(target, entry.md5)
        return "verified"
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    last_error = ""
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        with tqdm(desc=entry.filename, unit="B", unit_scale=True, file=sys.stderr,
                  disable=None, leave=False) as bar:
            try:
                _fetch(entry.url, part, timeout, bar)
            except TRANSFER_ERRORS as err:
                last_error = str(err) or type(err).__name__
                continue  # the bytes so far stay in `part`: the next attempt resumes them
        got = file_md5(part)
        if got == entry.md5:
            os.replace(part, target)
            record.add(target, entry.md5)
            return "downloaded"
        last_error = f"MD5 {got} does not match the list's {entry.md5}"
        part.unlink()  # corrupt: the next attempt starts from zero
    attempts = f"{retries + 1} attempt{'s' if retries else ''}"
    raise DownloadError(f"{entry.url} -> {target}: failed after {attempts}: {last_error}"
                        f"{_kept(part)}")


def _kept(part: Path) -> str:
    """What the error says about a partial download it leaves for the next run to resume."""
    if not part.exists():
        return ""
    return (f"; the partial download is kept as {part} ({part.stat().st_size} bytes): re-run "
            "to resume it")


def download(entries: list[Entry], root: Path, **kwargs) -> dict[str, list[str]]:
    """Download every entry (already de-duplicated); returns file names by outcome."""
    record = VerifiedRecord(root)
    outcome: dict[str, list[str]] = {"downloaded": [], "verified": []}
    for entry in entries:
        outcome[download_entry(entry, root, record, **kwargs)].append(entry.filename)
    return outcome
