"""Clone to first training step: a box that pulls the latent caches against one that recomputes
them, for the default pipeline, against a real S3 server (SeaweedFS on loopback, behind the
B2-like proxy that counts bytes).

1. A fresh project (the committed params.yaml) is pushed to a bare git repository.
2. The recompute box clones it and runs `dvc repro train_operator`: simulate, convert, the
   autoencoder and encode, up to the operator's first training step (its optimizer line, printed
   after its data is loaded). It then commits dvc.lock and pushes the autoencoder and the caches.
3. The pull box clones, `python -m stages.remote pull train_autoencoder encode`, and runs
   `dvc repro --allow-missing train_operator` up to the same line.

Both start from `git clone`; loopback has no latency, so the pull time is a floor (at 50 ms per
request add about 0.05 s per object; see the objects count). Prints a Markdown table.

    python bench/remote_box.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from project import fresh_project, load_params, sh
from s3server import B2Proxy, S3Server

from ups.remote import B2_ENV

FIRST_STEP = "operator: "  # the optimizer line, printed just before the first step


def until_first_step(cmd: list[str], cwd: Path, env: dict) -> float:
    """Seconds until `cmd` prints the operator's first-step line; the command is then killed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    for line in proc.stdout:
        if line.startswith(FIRST_STEP):
            dt = time.perf_counter() - t0
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return dt
        print(f"    {line.rstrip()}", file=sys.stderr)
    raise RuntimeError(f"{' '.join(cmd)} ended (exit {proc.wait()}) before the first step")


def objects_per_output(repo: Path, stages: tuple[str, ...]) -> dict[str, int]:
    """Remote objects per output of `stages` (a folder: its files plus its manifest)."""
    import yaml

    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    out = {}
    for name, stage in lock.items():
        if name.split("@")[0] in stages:
            for o in stage["outs"]:
                if o["path"].startswith(("data/", "models/")):  # dvclive's are not cached
                    out[o["path"]] = o.get("nfiles", 0) + 1 if o["md5"].endswith(".dir") else 1
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ups-remote-bench-"))
    s3 = S3Server(work / "weed").start()
    proxy = B2Proxy(s3.port).start()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3.key, AWS_SECRET_ACCESS_KEY=s3.secret,
               DVC_NO_ANALYTICS="1", AWS_EC2_METADATA_DISABLED="true", **B2_ENV)
    try:
        origin = work / "origin.git"
        sh(["git", "init", "-q", "--bare", "-b", "main", str(origin)], work)
        project = fresh_project(work / "project", load_params())
        for cmd in (["dvc", "remote", "modify", "b2", "url", "s3://ups-test/bench"],
                    ["dvc", "remote", "modify", "b2", "endpointurl", proxy.endpoint],
                    ["dvc", "remote", "modify", "b2", "region", "us-east-1"],
                    ["git", "commit", "-qam", "remote"], ["git", "branch", "-M", "main"],
                    ["git", "push", "-q", str(origin), "main"]):
            sh(cmd, project)

        t0 = time.perf_counter()
        sh(["git", "clone", "-q", str(origin), "recompute"], work)
        recompute = time.perf_counter() - t0 + until_first_step(
            ["dvc", "repro", "train_operator"], work / "recompute", env)
        print(f"recompute box: {recompute:.1f} s to the first step", file=sys.stderr)
        box = work / "recompute"
        proxy.reset_counts()
        for cmd in (["git", "add", "dvc.lock"], ["git", "commit", "-qm", "caches"],
                    ["dvc", "push", "train_autoencoder", "encode"],
                    ["git", "push", "-q", "origin", "main"]):
            subprocess.run(cmd, cwd=box, env=env, check=True, capture_output=True)
        pushed = proxy.bytes_in
        objects = objects_per_output(box, ("train_autoencoder", "encode"))

        proxy.reset_counts()
        t0 = time.perf_counter()
        sh(["git", "clone", "-q", str(origin), "pull"], work)
        subprocess.run([sys.executable, "-m", "stages.remote", "pull", "train_autoencoder",
                        "encode"], cwd=work / "pull", env=env, check=True, capture_output=True)
        pulled_at = time.perf_counter() - t0
        pulled = proxy.bytes_out
        requests = proxy.requests
        pull = pulled_at + until_first_step(
            ["dvc", "repro", "--allow-missing", "train_operator"], work / "pull", env)
        converted = sum(f.stat().st_size for f in (box / "data/converted").rglob("*")
                        if f.is_file())
    finally:
        proxy.stop()
        s3.stop()
    tasks = load_params()["tasks"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; S3: SeaweedFS on loopback "
          "behind the B2-like proxy")
    print("\n| box | clone to first operator step (s) | bytes downloaded |\n|---|---|---|")
    print(f"| recomputes (simulate, convert, autoencoder, encode) | {recompute:.1f} | "
          "0 (the data is simulated here) |")
    print(f"| pulls autoencoder + latent caches | {pull:.1f} (pull {pulled_at:.1f}) | "
          f"{pulled / 1e6:.1f} MB in {requests} requests |")
    print(f"\npull / recompute: {pull / recompute:.1%}; pushed {pushed / 1e6:.1f} MB; "
          f"converted data {converted / 1e6:.1f} MB (never downloaded by the pull box)")
    print("\n| output | remote objects |\n|---|---|")
    for path, n in objects.items():
        print(f"| `{path}` | {n} |")
    print(json.dumps({"recompute_s": recompute, "pull_s": pull, "pull_only_s": pulled_at,
                      "pulled_bytes": pulled, "requests": requests, "tasks": tasks}),
          file=sys.stderr)


if __name__ == "__main__":
    main()
