"""PDEBench downloads against a real HTTP server on 127.0.0.1: resume, MD5, de-duplication."""

from __future__ import annotations

import hashlib
import http.server
import sys
import threading

import pytest
from helpers import run

from ups.data.download import DownloadError, download, read_url_list, select


class Server(http.server.ThreadingHTTPServer):
    """Serves `files` (name -> bytes) with Range support (416 past the end, as real servers
    answer); `cut[name]` breaks the first transfer of that file after so many bytes (the
    connection drops: an interrupted download)."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.cut, self.requests = files, {}, []
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        data = self.server.files.get(name)
        self.server.requests.append((name, self.headers.get("Range")))
        if data is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.server.cut.pop(name, None)
        self.wfile.write(body if cut is None else body[:cut])


@pytest.fixture
def server():
    rng = __import__("numpy").random.default_rng(0)
    files = {f"f{i}.h5": rng.bytes(300_000 + i) for i in range(3)}
    srv = Server(files)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)  # quick stop
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url_list(tmp_path, server, rows):
    host, port = server.server_address
    lines = ["PDE,Filename,URL,Path,MD5"]
    for pde, name, path, md5 in rows:
        lines.append(f"{pde},{name},http://{host}:{port}/files/{name},{path},{md5}")
    csv = tmp_path / "pdebench_data_urls.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_verifies_md5_and_skips_verified_files(tmp_path, server):
    f = server.files
    csv = url_list(tmp_path, server, [("burgers", n, "1D/Burgers/Train/", md5(f[n])) for n in f])
    entries, dups = select(read_url_list(csv), ["Burgers"])  # upper case still matches
    assert len(entries) == 3 and not dups
    out = download(entries, tmp_path / "root", sleep=lambda s: None)
    assert sorted(out["downloaded"]) == sorted(f)
    for name, data in f.items():
        assert (tmp_path / "root/1D/Burgers/Train" / name).read_bytes() == data
    n_requests = len(server.requests)
    again = download(entries, tmp_path / "root", sleep=lambda s: None)
    assert sorted(again["verified"]) == sorted(f) and len(server.requests) == n_requests


def test_interrupted_transfer_resumes_with_a_range_request(tmp_path, server):
    name = "f1.h5"
    server.cut[name] = 100_000
    csv = url_list(tmp_path, server, [("swe", name, "2D/shallow-water/", md5(server.files[name]))])
    entries, _ = select(read_url_list(csv), ["swe"])
    download(entries, tmp_path / "root", sleep=lambda s: None)
    assert (tmp_path / "root/2D/shallow-water" / name).read_bytes() == server.files[name]
    assert server.requests == [(name, None), (name, "bytes=100000-")]


def test_a_download_that_fails_keeps_its_part_and_the_next_run_resumes_it(tmp_path, server):
    name = "f2.h5"
    server.cut[name] = 120_000  # the connection drops after 120 kB; no retry is left
    csv = url_list(tmp_path, server, [("swe", name, "2D/shallow-water/", md5(server.files[name]))])
    entries, _ = select(read_url_list(csv), ["swe"])
    folder = tmp_path / "root/2D/shallow-water"
    with pytest.raises(DownloadError, match=r"kept as .*f2\.h5\.part \(120000 bytes\): re-run"):
        download(entries, tmp_path / "root", retries=0, sleep=lambda s: None)
    assert (folder / f"{name}.part").read_bytes() == server.files[name][:120_000]
    assert not (folder / name).exists()
    assert download(entries, tmp_path / "root", sleep=lambda s: None)["downloaded"] == [name]
    assert (folder / name).read_bytes() == server.files[name]
    assert not (folder / f"{name}.part").exists()
    assert server.requests == [(name, None), (name, "bytes=120000-")]


def test_a_complete_part_left_by_a_stopped_run_is_checked_and_kept(tmp_path, server):
    name = "f0.h5"  # the transfer had finished, the run stopped before the MD5 check
    folder = tmp_path / "root/1D"
    folder.mkdir(parents=True)
    (folder / f"{name}.part").write_bytes(server.files[name])
    csv = url_list(tmp_path, server, [("burgers", name, "1D/", md5(server.files[name]))])
    entries, _ = select(read_url_list(csv), ["burgers"])
    assert download(entries, tmp_path / "root", retries=0,
                    sleep=lambda s: None)["downloaded"] == [name]
    assert (folder / name).read_bytes() == server.files[name]
    assert server.requests == [(name, f"bytes={len(server.files[name])}-")]  # answered 416


def test_corrupt_file_never_lands_under_its_final_name(tmp_path, server):
    name = "f0.h5"
    csv = url_list(tmp_path, server, [("darcy", name, "2D/DarcyFlow/", "0" * 32)])
    entries, _ = select(read_url_list(csv), ["darcy"])
    with pytest.raises(DownloadError, match="does not match the list's 0000"):
        download(entries, tmp_path / "root", retries=1, sleep=lambda s: None)
    folder = tmp_path / "root/2D/DarcyFlow"
    assert not (folder / name).exists() and not list(folder.glob("*.part"))


def test_duplicate_md5_is_downloaded_once(tmp_path, server):
    data = server.files["f2.h5"]
    server.files["copy.h5"] = data
    csv = url_list(tmp_path, server, [("ns_incom", "f2.h5", "2D/NS_incom/", md5(data)),
                                      ("ns_incom", "copy.h5", "2D/NS_incom/", md5(data))])
    entries, dups = select(read_url_list(csv), ["ns_incom"])
    assert [e.filename for e in entries] == ["f2.h5"] and [e.filename for e in dups] == ["copy.h5"]


def test_bad_list_and_unknown_group_are_named(tmp_path, server):
    bad = tmp_path / "bad.csv"
    bad.write_text("PDE,Filename,URL\nx,y,z\n")
    with pytest.raises(ValueError, match=r"lacks columns \['Path', 'MD5'\]"):
        read_url_list(bad)
    csv = url_list(tmp_path, server, [("burgers", "f0.h5", "1D/", md5(b""))])
    with pytest.raises(ValueError, match=r"unknown PDEBench group\(s\) \['advektion'\]"):
        select(read_url_list(csv), ["advektion"])


def test_cli_downloads_and_reports(tmp_path, server):
    from pathlib import Path

    name = "f0.h5"
    csv = url_list(tmp_path, server, [("burgers", name, "1D/Burgers/Train/",
                                       md5(server.files[name]))])
    root = Path(__file__).resolve().parents[2]
    proc = run([sys.executable, "-m", "stages.download", "--urls", str(csv), "--root",
                str(tmp_path / "r"), "--group", "burgers"], cwd=root)
    assert "downloaded 1, already verified 0, duplicates skipped 0" in proc.stdout
