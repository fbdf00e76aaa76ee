"""The remote-box workflow against a real S3 server (SeaweedFS on 127.0.0.1, auth enforced), seen
through a proxy that refuses botocore's checksum headers the way Backblaze B2 does.

Machine A (a clone with the data) encodes, trains the FNO and POD baselines and pushes. A fresh
clone is the rented box: it pulls only the autoencoder, the latent caches and the baselines, then
trains and evaluates without converting or encoding (scripts/remote_bootstrap.sh, as a box runs
it). Also: a wrong secret, B2's checksum quirk, a pushed `-S latent.dim` experiment reproduced
elsewhere, corrupted and deleted remote objects, and a queued sweep shared between machines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import copy_project, init_repo, run, tiny_params, write_params

from bench.s3server import B2Proxy, S3Server
from ups.remote import B2_ENV

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TASKS = ["burgers1d", "advection1d"]
DATA_STAGES = ("simulate@", "convert@", "encode@", "train_autoencoder", "train_fno@",
               "train_pod@")
PREFIX = "ups"  # the project's remote prefix on the test bucket


def box_env(server: S3Server, **extra: str) -> dict[str, str]:
    """The environment of a machine with the bucket's credentials (and B2's checksum settings
    unless `extra` says otherwise); the test's Python first on PATH."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server.key, AWS_SECRET_ACCESS_KEY=server.secret,
               **B2_ENV)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(extra)
    return env


def sh(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True, timeout: int = 900):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n"
                             f"{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
    return proc


def point_remote(repo: Path, name: str, endpoint: str, prefix: str, local: bool) -> None:
    """Make DVC remote `name` of `repo` the test bucket's `prefix` behind `endpoint`."""
    where = ["--local"] if local else []
    run(["dvc", "remote", "add", *where, "-f", name, f"s3://ups-test/{prefix}"], repo)
    for key, value in (("endpointurl", endpoint), ("region", "us-east-1"), ("verify", "true")):
        run(["dvc", "remote", "modify", *where, name, key, value], repo)


def ran(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines()
            if line.startswith("Running stage")]


def lock_md5s(repo: Path, prefixes: tuple[str, ...]) -> set[str]:
    """The output hashes (.dir included) of the stages named by `prefixes` in repo's dvc.lock."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {o["md5"] for name, s in lock.items() if name.startswith(prefixes)
            for o in s.get("outs", []) if "md5" in o}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("s3")
    s3 = S3Server(root / "weed").start()
    proxy = B2Proxy(s3.port).start()
    yield s3, proxy
    proxy.stop()
    s3.stop()


@pytest.fixture(scope="module")
def machine_a(server, tmp_path_factory):
    """Machine A: the project with tiny params, encoded, FNO and POD trained, pushed; and
    `origin`, the shared bare git repository."""
    s3, proxy = server
    base = tmp_path_factory.mktemp("remote")
    origin = base / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    repo = copy_project(base / "a")
    write_params(repo / "params.yaml", tiny_params(tasks=TASKS))
    init_repo(repo)
    point_remote(repo, "b2", proxy.endpoint, PREFIX, local=False)  # what a fork commits
    env = box_env(s3)
    for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", "pipeline"],
                ["git", "branch", "-M", "main"], ["git", "remote", "add", "origin", str(origin)],
                ["dvc", "repro", "encode", "train_fno", "train_pod"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "encode"], ["dvc", "push"],
                ["git", "push", "-q", "origin", "main"]):
        sh(cmd, repo, env)
    return repo, origin


def clone(origin: Path, dest: Path, env: dict[str, str]) -> Path:
    sh(["git", "clone", "-q", str(origin), str(dest)], dest.parent, env)
    return dest


@pytest.fixture(scope="module")
def box(server, machine_a, tmp_path_factory):
    """The rented box: scripts/remote_bootstrap.sh, as an on-start script runs it."""
    s3, proxy = server
    repo, origin = machine_a
    base = tmp_path_factory.mktemp("box")
    proxy.reset_counts()
    env = box_env(s3, UPS_REPO=str(origin), UPS_REV="main", UPS_DIR=str(base / "ups"),
                  UPS_EXP="box1", UPS_INSTALL="0")
    proc = sh(["bash", str(ROOT / "scripts/remote_bootstrap.sh")], base, env)
    return base / "ups", proc.stdout + proc.stderr, proxy.bytes_out


def test_box_trains_and_evaluates_from_the_pulled_caches_only(box, machine_a, server):
    root, output, pulled = box
    repo, origin = machine_a
    s3, _ = server
    for task in TASKS:
        for stage in ("convert", "encode", "simulate", "train_fno", "train_pod"):
            assert f"Stage '{stage}@{task}' didn't change, skipping" in output, (stage, task)
    assert "Stage 'train_autoencoder' didn't change, skipping" in output
    started = ran(output)
    assert not [s for s in started if s.startswith(DATA_STAGES)], started
    assert {"train_operator", "train_diffusion", "distill", "report",
            *(f"eval@{t}" for t in TASKS)} <= set(started)
    # Neither the raw nor the converted data came to the box, in the workspace or its cache.
    assert not (root / "data/raw").exists() and not (root / "data/converted").exists()
    cached = {p.parent.name + p.name for p in (root / ".dvc/cache").rglob("*") if p.is_file()}
    assert not cached & lock_md5s(repo, ("simulate@", "convert@"))
    total = sum(s3.objects(PREFIX).values())
    assert 0 < pulled < total  # bytes the box downloaded: only part of what A pushed
    summary = json.loads((root / "metrics/summary.json").read_text())
    assert set(summary["tasks"]) == set(TASKS)
    # The secret is nowhere: not in the log, the workspace, DVC's files or git's history.
    secret = s3.secret.encode()
    assert secret not in output.encode()
    assert not [f for f in root.rglob("*") if f.is_file() and ".git" not in f.parts
                and secret in f.read_bytes()]
    history = sh(["git", "log", "-p", "--all"], root, box_env(s3)).stdout  # exp refs too
    assert "metrics/summary.json" in history and s3.secret not in history
    # The experiment is on the git remote, its models on the DVC remote.
    refs = sh(["git", "ls-remote", str(origin)], root, box_env(s3)).stdout
    assert "/box1" in refs
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    models = [o["md5"] for s in ("train_operator", "train_diffusion", "distill")
              for o in lock[s]["outs"] if o["path"].startswith("models/")]
    assert len(models) == 3
    assert all(f"{PREFIX}/files/md5/{m[:2]}/{m[2:]}" in s3.objects(PREFIX) for m in models)


def test_a_wrong_secret_is_refused_and_nothing_is_written(machine_a, server, tmp_path):
    s3, _ = server
    repo, origin = machine_a
    bad = box_env(s3, AWS_SECRET_ACCESS_KEY="not-the-secret")
    check = sh([sys.executable, "-m", "stages.remote", "check"], repo, bad, check=False)
    assert check.returncode == 1
    assert "SignatureDoesNotMatch" in check.stderr and "AWS_SECRET_ACCESS_KEY" in check.stderr
    assert "not-the-secret" not in check.stderr + check.stdout
    assert s3.secret not in check.stderr + check.stdout
    # A push under a wrong secret writes nothing on the server ...
    point_remote(repo, "wrong", server[1].endpoint, "wrong-secret", local=True)
    push = sh(["dvc", "push", "-r", "wrong", "encode"], repo, bad, check=False)
    assert push.returncode != 0 and not s3.objects("wrong-secret")
    # ... and a pull under it nothing in the workspace.
    other = clone(origin, tmp_path / "c", bad)
    pull = sh([sys.executable, "-m", "stages.remote", "pull"], other, bad, check=False)
    assert pull.returncode == 1 and not (other / "data").exists()
    assert "SignatureDoesNotMatch" in pull.stderr
    assert not [p for p in (other / ".dvc").rglob("cache/**/*") if p.is_file()]


def test_a_box_refuses_a_setting_that_needs_new_caches(machine_a, server, tmp_path):
    """`UPS_SET=latent.dim=...` on a box would re-train the autoencoder and re-encode from the
    converted data it does not have: the plan stops it before any training, naming why."""
    s3, _ = server
    _, origin = machine_a
    env = box_env(s3, UPS_REPO=str(origin), UPS_DIR=str(tmp_path / "ups"), UPS_INSTALL="0",
                  UPS_SET="latent.dim=12", UPS_PUSH="0")
    proc = sh(["bash", str(ROOT / "scripts/remote_bootstrap.sh")], tmp_path, env, check=False)
    assert proc.returncode == 1
    assert "train_autoencoder: deps params.yaml:latent modified" in proc.stderr
    assert "dvc push train_autoencoder encode train_fno train_pod" in proc.stderr
    assert "Running stage" not in proc.stdout + proc.stderr


def test_b2_checksum_headers_are_refused_unless_the_project_environment_is_set(machine_a,
                                                                             server):
    s3, proxy = server
    repo, _ = machine_a
    point_remote(repo, "quirk", proxy.endpoint, "quirk", local=True)
    plain = box_env(s3)
    for key in B2_ENV:  # what a user's shell has before following the README
        plain.pop(key)
    proxy.reset_counts()
    push = sh(["dvc", "push", "-r", "quirk", "encode@burgers1d"], repo, plain, check=False)
    assert push.returncode != 0 and "Unsupported header" in push.stdout + push.stderr
    assert proxy.refused and not s3.objects("quirk")
    # The check says what to export; with the project's settings the same push works.
    check = sh([sys.executable, "-m", "stages.remote", "check", "-r", "quirk"], repo,
               dict(plain, AWS_REQUEST_CHECKSUM_CALCULATION="when_supported"), check=False)
    assert check.returncode == 1
    assert "AWS_REQUEST_CHECKSUM_CALCULATION=when_required" in check.stderr
    sh(["dvc", "push", "-r", "quirk", "encode@burgers1d"], repo, box_env(s3))
    assert s3.objects("quirk")


def test_damaged_remote_objects_are_named_and_never_checked_out(machine_a, server, tmp_path):
    s3, proxy = server
    repo, origin = machine_a
    point_remote(repo, "damage", proxy.endpoint, "damage", local=True)
    env = box_env(s3)
    sh(["dvc", "push", "-r", "damage", "encode"], repo, env)
    entries = {}
    for task in TASKS:  # relpath -> md5 inside each task's latent folder
        out = yaml.safe_load((repo / "dvc.lock").read_text())["stages"][f"encode@{task}"]
        md5 = out["outs"][0]["md5"]
        listing = (repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).read_text()
        entries[task] = {e["relpath"]: e["md5"] for e in json.loads(listing)}
    corrupt = entries["burgers1d"]["train.npy"]
    gone = entries["advection1d"]["meta.json"]
    client = s3.client()
    client.put_object(Bucket=s3.bucket, Key=f"damage/files/md5/{corrupt[:2]}/{corrupt[2:]}",
                      Body=b"\x00" * 128)
    client.delete_object(Bucket=s3.bucket, Key=f"damage/files/md5/{gone[:2]}/{gone[2:]}")
    other = clone(origin, tmp_path / "d", env)
    point_remote(other, "damage", proxy.endpoint, "damage", local=True)
    pull = sh([sys.executable, "-m", "stages.remote", "pull", "-r", "damage", "encode"], other,
              env, check=False)
    assert pull.returncode == 1
    message = pull.stderr
    assert "data/latent/burgers1d/train.npy" in message and "corrupted" in message
    assert "data/latent/advection1d/meta.json" in message and "missing on the remote" in message
    assert "dvc push encode@burgers1d" in message
    # Nothing damaged (and nothing partial) in the workspace.
    for task in TASKS:
        assert not (other / "data/latent" / task).exists(), task


def test_pushed_latent_dim_experiment_is_reproduced_without_reencoding(machine_a, server,
                                                                     tmp_path):
    """A runs `-S latent.dim=12` (a new encoder version: new caches) and pushes it with
    `dvc exp push`; a fresh clone turns it into a branch, pulls the caches from dvc.lock of that
    experiment, re-runs training and evaluation, and gets A's figures."""
    s3, _ = server
    repo, origin = machine_a
    env = box_env(s3)
    out = sh(["dvc", "exp", "run", "-n", "dim12", "-S", "latent.dim=12"], repo, env).stdout
    assert {"train_autoencoder", *(f"encode@{t}" for t in TASKS)} <= set(ran(out))
    sh(["dvc", "exp", "push", "origin", "dim12"], repo, env)
    sh(["git", "checkout", "-q", "--", "."], repo, env)  # A's params and lock back to main
    box = clone(origin, tmp_path / "e", env)
    for cmd in (["dvc", "exp", "pull", "--no-cache", "origin", "dim12"],
                ["dvc", "exp", "branch", "dim12", "dim12-branch"],
                ["git", "checkout", "-q", "dim12-branch"],
                [sys.executable, "-m", "stages.remote", "pull"]):
        sh(cmd, box, env)
    assert yaml.safe_load((box / "params.yaml").read_text())["latent"]["dim"] == 12
    pushed = json.loads((box / "metrics/summary.json").read_text())
    first = sh(["dvc", "repro", "--allow-missing", "-f", "-s", "train_operator"], box, env)
    rest = sh(["dvc", "repro", "--allow-missing", "report"], box, env)
    started = ran(first.stdout + rest.stdout)
    assert "train_operator" in started and "report" in started
    assert not [s for s in started if s.startswith(DATA_STAGES)], started
    again = json.loads((box / "metrics/summary.json").read_text())
    for task in TASKS:  # CPU training is deterministic: the same figures as on A
        assert again["tasks"][task]["nrmse_rollout"] == pytest.approx(
            pushed["tasks"][task]["nrmse_rollout"], rel=1e-6)


def test_queued_sweep_is_shared_with_a_box_experiment(machine_a, box, server, tmp_path):
    """A queues a two-point grid and pushes it; the box pushed its own experiment; a third
    machine pulls all of them, and they compare with `dvc exp show` / `dvc metrics diff`."""
    s3, _ = server
    repo, origin = machine_a
    env = box_env(s3)
    sh(["dvc", "exp", "run", "--queue", "-S", "eval.max_trajectories=2,3"], repo, env)
    try:
        sh(["dvc", "queue", "start", "-j", "1"], repo, env)
        for _ in range(600):
            status = sh(["dvc", "queue", "status"], repo, env).stdout
            if "Queued" not in status and "Running" not in status:
                break
            subprocess.run(["sleep", "1"])
    finally:
        sh(["dvc", "queue", "stop", "--kill"], repo, env, check=False)
    assert status.count("Success") == 2, status
    names = sh(["dvc", "exp", "list", "--name-only"], repo, env).stdout.split()
    swept = [n for n in names if n != "dim12"]
    assert len(swept) == 2, names
    sh(["dvc", "exp", "push", "origin", *swept], repo, env)
    third = clone(origin, tmp_path / "f", env)
    sh(["dvc", "exp", "pull", "--no-cache", "origin", *swept, "box1"], third, env)
    shown = sh(["dvc", "exp", "show", "--no-pager", "--csv"], third, env).stdout
    for name in (*swept, "box1"):
        assert name in shown
    diff = json.loads(sh(["dvc", "metrics", "diff", swept[0], swept[1], "--targets",
                          "metrics/eval", "--json"], third, env).stdout)  # every figure
    assert any("test_trajectories" in k for f in diff.values() for k in f)
