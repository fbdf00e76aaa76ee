"""The project's DVC remote (Backblaze B2 through its S3 API): its settings, a credentials check
that writes nothing it does not delete, a pull that says which object is missing or corrupted,
and the plan of a training box (what it pulls; which stages it must never re-run).

Why a wrapper at all: B2 refuses the checksum headers current botocore sends by default, a wrong
secret or a damaged object surfaces from `dvc pull` as "Checkout failed ... Is your cache up to
date?", and a box whose `dvc.lock` does not match its code would silently start re-converting
terabytes. Each of these becomes one message that names the file, the object and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

# B2 answers 400 "Unsupported header 'x-amz-sdk-checksum-algorithm'" to what botocore sends by
# default; dvc-s3 has no option for it, so it is set in the environment of every dvc call.
B2_ENV = {"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
          "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required"}
# What a training box pulls: the encoder/decoder, the latent caches it made (each carries the
# test split it is scored on) and the FNO and POD baselines (fitted where the converted data
# lives).
BOX_PULL = ("train_autoencoder", "encode", "train_fno", "train_pod")
# Stages that need the raw or converted data: a box must never run them.
DATA_STAGES = ("simulate", "convert", "train_autoencoder", "encode", "train_fno", "train_pod",
               "superres")
MISSING = {"deleted", "not in cache"}  # a status a box's data stages are allowed to have
SECRET_KEYS = ("secret_access_key", "session_token", "access_key_id")


class RemoteError(ValueError):
    """A remote problem, said in one message with what to do (a ValueError, so the stage CLIs
    print it as one line and exit 1)."""


@dataclass(frozen=True)
class Remote:
    name: str
    bucket: str
    prefix: str
    endpoint: str | None
    region: str | None
    profile: str | None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, md5: str) -> str:
        """The object key of a DVC 3 cache entry."""
        return "/".join(p for p in (self.prefix.strip("/"), "files", "md5", md5[:2], md5[2:])
                        if p)


def dvc_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """`environ` with B2's checksum settings added (a value the user set is kept)."""
    env = dict(os.environ if environ is None else environ)
    for k, v in B2_ENV.items():
        env.setdefault(k, v)
    # For the dvc subprocesses, which read their environment: no instance-metadata probe stalls.
    # UPS's own botocore sessions read os.environ instead; `_session` configures them.
    env.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    return env


def load_remote(root: Path, name: str | None = None) -> Remote:
    """The S3 remote `name` (default: core.remote) as DVC sees it in `root`."""
    from dvc.repo import Repo  # DVC is heavy to import; only the remote commands need it

    with Repo(str(root)) as repo:
        config = repo.config
        name = name or config["core"].get("remote")
        if not name:
            raise RemoteError(f"{root}: no default DVC remote; set `core.remote` in .dvc/config "
                              "(README: 'Use your B2 bucket')")
        if name not in config["remote"]:
            raise RemoteError(f"{root}: no DVC remote named {name!r} (have "
                              f"{sorted(config['remote'])})")
        section = dict(config["remote"][name])
    url = section.get("url", "")
    match = re.match(r"^s3://([^/]+)/?(.*)$", url)
    if not match:
        raise RemoteError(f"remote {name!r}: url {url!r} is not s3://<bucket>/<prefix>")
    return Remote(name, match.group(1), match.group(2).rstrip("/"), section.get("endpointurl"),
                  section.get("region"), section.get("profile"))


def committed_secrets(root: Path) -> list[str]:
    """Secret settings in the git-tracked `.dvc/config` (they belong in the environment)."""
    text = (Path(root) / ".dvc" / "config").read_text() if (Path(root) / ".dvc/config").exists() \
        else ""
    return [k for k in SECRET_KEYS if re.search(rf"^\s*{k}\s*=", text, re.MULTILINE)]


def _metadata_profile(session) -> str | None:
    """The profile, the session's or one it takes its source keys from, whose role is assumed
    with keys from the EC2 instance metadata (`credential_source = Ec2InstanceMetadata`)."""
    profiles = session.full_config.get("profiles", {})
    name, seen = session.get_config_variable("profile") or "default", set()
    while name in profiles and name not in seen:
        seen.add(name)
        if profiles[name].get("credential_source") == "Ec2InstanceMetadata":
            return name
        name = profiles[name].get("source_profile")
    return None


def _session(remote: Remote, env: dict[str, str]):
    """A botocore session for `remote` that never asks the EC2 instance-metadata service
    (169.254.169.254): B2 keys come from the environment or a profile, and off EC2 the probe
    only stalls a check that has none. AWS_EC2_METADATA_DISABLED cannot do this here, since
    botocore reads it from os.environ, not from `env`; so the session drops the metadata
    credential provider, refuses a profile that sources its keys there, and never uses the
    "auto" defaults mode, which asks the metadata service for the region. Environment keys win
    over a profile."""
    import botocore.session

    session = botocore.session.Session(profile=remote.profile or env.get("AWS_PROFILE"))
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        session.set_credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                                env.get("AWS_SESSION_TOKEN"))
        return session  # the provider chain is never consulted
    session.get_component("credential_provider").remove("iam-role")
    profile = _metadata_profile(session)
    if profile:
        raise RemoteError(f"remote {remote.name!r}: AWS profile {profile!r} takes its keys from "
                          "the EC2 instance metadata (credential_source = Ec2InstanceMetadata), "
                          "which UPS never asks: give the profile B2 keys, or export "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    return session


def _client(remote: Remote, environ: dict[str, str]):
    """An S3 client for `remote` (botocore, which dvc-s3 brings) and the key ID it uses;
    environment keys win over a profile; no instance-metadata request (see `_session`)."""
    from botocore.config import Config

    env = dvc_env(environ)
    try:
        session = _session(remote, env)
        credentials = session.get_credentials()
        auto = str(session.get_config_variable("defaults_mode")).lower() == "auto"
    except RemoteError:
        raise
    except Exception as err:  # ProfileNotFound and friends
        raise RemoteError(f"remote {remote.name!r}: {err}") from None
    if credentials is None:
        raise RemoteError(
            f"no credentials for remote {remote.name!r} ({remote.url}): export "
            "AWS_ACCESS_KEY_ID=<B2 keyID> AWS_SECRET_ACCESS_KEY=<B2 applicationKey>, or name an "
            "AWS profile (export AWS_PROFILE=NAME)")
    # "auto" picks its defaults by asking the metadata service for the region; off EC2 it
    # ends at "standard", so that is what it gets without asking.
    mode = {"defaults_mode": "standard"} if auto else {}
    config = Config(request_checksum_calculation=env["AWS_REQUEST_CHECKSUM_CALCULATION"],
                    response_checksum_validation=env["AWS_RESPONSE_CHECKSUM_VALIDATION"],
                    retries={"max_attempts": 2}, connect_timeout=10, read_timeout=60, **mode)
    client = session.create_client("s3", endpoint_url=remote.endpoint,
                                   region_name=remote.region, config=config)
    return client, credentials.access_key


def _explain(err: Exception, remote: Remote, key_id: str) -> RemoteError:
    """A botocore error as one message; the key ID is shortened, the secret never shown."""
    code = getattr(err, "response", {}).get("Error", {}).get("Code", type(err).__name__)
    shown = f"{key_id[:4]}...{key_id[-2:]}" if len(key_id) > 8 else "(short key ID)"
    where = f"remote {remote.name!r} ({remote.url} at {remote.endpoint or 'AWS'})"
    hints = {
        "SignatureDoesNotMatch": f"the secret for key ID {shown} is wrong: check "
                                 "AWS_SECRET_ACCESS_KEY (the B2 applicationKey)",
        "InvalidAccessKeyId": f"key ID {shown} is unknown to the server: check "
                              "AWS_ACCESS_KEY_ID (the B2 keyID)",
        "AccessDenied": f"key ID {shown} may not read and write this bucket: give the B2 "
                        "application key read and write access to it",
        "NoSuchBucket": f"bucket {remote.bucket!r} does not exist: create it, or set the url "
                        f"with `dvc remote modify {remote.name} url s3://BUCKET/PREFIX`",
        "InvalidArgument": "the server refused a request header (B2 refuses botocore's "
                           "checksum headers): export " + " ".join(f"{k}={v}"
                                                                   for k, v in B2_ENV.items()),
    }
    if "EndpointConnectionError" in type(err).__name__ or "ConnectTimeout" in type(err).__name__:
        return RemoteError(f"{where}: cannot reach the endpoint ({err}); check endpointurl")
    return RemoteError(f"{where}: {code}: {hints.get(code, err)}")


def check(root: Path, name: str | None = None, environ: dict[str, str] | None = None) -> str:
    """Prove the credentials can list, write and delete under the remote's prefix (one probe
    object, deleted again); returns a one-line summary, raises RemoteError otherwise."""
    env = dict(os.environ if environ is None else environ)
    found = committed_secrets(root)
    if found:
        raise RemoteError(f"{Path(root) / '.dvc/config'}: holds {', '.join(found)}, and git "
                          "tracks that file: remove them and use environment variables or an "
                          "AWS profile")
    remote = load_remote(root, name)
    client, key_id = _client(remote, env)
    probe = "/".join(p for p in (remote.prefix, f".ups-check-{uuid.uuid4().hex}") if p)
    try:
        client.list_objects_v2(Bucket=remote.bucket, Prefix=remote.prefix, MaxKeys=1)
        client.put_object(Bucket=remote.bucket, Key=probe, Body=b"ups remote check\n")
        client.delete_object(Bucket=remote.bucket, Key=probe)
    except Exception as err:  # botocore raises many types; each becomes one message
        raise _explain(err, remote, key_id) from None
    return (f"remote {remote.name!r} ({remote.url}): list, write and delete work with key ID "
            f"{key_id[:4]}...")


def _lock_outs(root: Path, targets: tuple[str, ...]) -> list[tuple[str, str, dict]]:
    """(stage, output path, its lock entry) for the outputs of the stages named by `targets`
    (a foreach group name stands for all its items)."""
    lock = yaml.safe_load((Path(root) / "dvc.lock").read_text())["stages"]
    out = []
    for stage, entry in lock.items():
        if any(stage == t or stage.startswith(f"{t}@") for t in targets):
            out += [(stage, o["path"], o) for o in entry.get("outs", []) if "md5" in o]
    return out


def _cache(root: Path) -> Path:
    """The local DVC cache's object folder (wherever `cache.dir` puts it)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return Path(repo.cache.local.path)


def _cached(cache: Path, md5: str) -> Path:
    return cache / md5[:2] / md5[2:]


def diagnose(root: Path, targets: tuple[str, ...], name: str | None = None,
             environ: dict[str, str] | None = None) -> list[str]:
    """After a failed pull: one line per object of `targets` that is not in the local cache,
    saying whether the remote lacks it, holds other bytes under its hash, or holds it intact
    (the transfer failed: pull again). The project's remote sets `verify`, so DVC drops a
    fetched object whose hash does not match: absent locally is the one symptom."""
    remote = load_remote(root, name)
    client, key_id = _client(remote, dict(os.environ if environ is None else environ))
    try:  # credentials first: with a wrong secret every object would look missing
        client.list_objects_v2(Bucket=remote.bucket, Prefix=remote.prefix, MaxKeys=1)
    except Exception as err:
        raise _explain(err, remote, key_id) from None

    def state(md5: str) -> str:
        """"missing", "corrupted" or "intact" on the remote."""
        key = remote.key(md5)
        try:
            etag = client.head_object(Bucket=remote.bucket, Key=key)["ETag"].strip('"')
        except Exception as err:
            if getattr(err, "response", {}).get("ResponseMetadata", {}).get(
                    "HTTPStatusCode") == 404:
                return "missing"
            raise _explain(err, remote, key_id) from None
        want = md5.removesuffix(".dir")
        if not re.fullmatch(r"[0-9a-f]{32}", etag):  # a multipart ETag is no MD5: hash it
            digest = hashlib.md5()
            for chunk in client.get_object(Bucket=remote.bucket, Key=key)["Body"].iter_chunks(
                    8 << 20):
                digest.update(chunk)
            etag = digest.hexdigest()
        return "intact" if etag == want else "corrupted"

    problems, cache = [], _cache(root)

    def report(stage: str, path: str, md5: str, what: str) -> None:
        where = f"s3://{remote.bucket}/{remote.key(md5)}"
        problems.append(f"{path} (md5 {md5}): " + {
            "missing": f"missing on the remote ({where}). Push it from the machine that made "
                       f"it (`dvc push {stage}`), or re-run {stage} there and push",
            "corrupted": f"{where} holds other bytes than its hash says (corrupted on the "
                         "remote); nothing was checked out for it. Push it again from a "
                         f"machine that has it (`dvc push {stage}`), or delete the object and "
                         f"re-run {stage} there",
            "intact": f"intact on the remote ({where}) but not fetched: the transfer failed; "
                      "pull again"}[what])

    for stage, path, entry in _lock_outs(root, targets):
        md5 = entry["md5"]
        local = _cached(cache, md5)
        if not md5.endswith(".dir"):
            if not local.is_file():
                report(stage, path, md5, state(md5))
            continue
        if local.is_file():
            listing = local.read_bytes()
        else:  # the folder's manifest: read it from the remote when it is intact there
            what = state(md5)
            if what != "intact":
                report(stage, path, md5, what)
                continue
            listing = client.get_object(Bucket=remote.bucket, Key=remote.key(md5))["Body"].read()
        for item in json.loads(listing):
            if not _cached(cache, item["md5"]).is_file():
                report(stage, f"{path}/{item['relpath']}", item["md5"], state(item["md5"]))
    return problems


def dvc(args: list[str], root: Path, environ: dict[str, str] | None = None,
        echo: bool = True) -> tuple[int, str]:
    """Run `dvc args` in `root` with the remote environment; its exit code and output (echoed
    to stderr line by line as it comes)."""
    proc = subprocess.Popen(["dvc", *args], cwd=root, env=dvc_env(environ), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if echo:
            sys.stderr.write(line)
    return proc.wait(), "".join(lines)


def pull(root: Path, targets: tuple[str, ...] = BOX_PULL, name: str | None = None,
         environ: dict[str, str] | None = None) -> None:
    """`dvc pull` the outputs of `targets`; on failure a RemoteError naming each missing or
    corrupted object (the project's remote sets `verify`, so a corrupted object is refused and
    nothing is checked out in its place)."""
    args = ["pull", *targets] + (["-r", name] if name else [])
    code, output = dvc(args, root, environ)
    if code == 0:
        return
    problems = diagnose(root, targets, name, environ)
    if not problems:  # not an object problem: credentials, network ... (DVC said which)
        tail = "\n".join(output.strip().splitlines()[-5:])
        raise RemoteError(f"dvc pull {' '.join(targets)} failed (exit {code}):\n{tail}")
    raise RemoteError(f"dvc pull {' '.join(targets)}: {len(problems)} object(s) could not be "
                      "fetched intact:\n  " + "\n  ".join(problems))


def apply_settings(root: Path, settings: tuple[str, ...]) -> None:
    """Write `dvc exp run -S` style settings (`latent.dim=64`) into `root`/params.yaml with
    DVC's own parser (the file ends as `-S` would leave it); validated on a copy first, so a
    bad setting leaves params.yaml as it was."""
    from dvc.utils.hydra import apply_overrides

    from ups.config import load_config

    params = Path(root) / "params.yaml"
    tmp = params.with_name(f".{params.stem}.{os.getpid()}.yaml")  # DVC parses by suffix
    try:
        shutil.copyfile(params, tmp)
        try:
            apply_overrides(tmp, list(settings))
            load_config(tmp)  # an unknown key or a bad value, named
        except Exception as err:  # DVC's InvalidArgumentError, hydra's and ours
            raise RemoteError(f"settings {' '.join(settings)}: {err}") from None
        os.replace(tmp, params)
    finally:
        tmp.unlink(missing_ok=True)


def stale_data_stages(root: Path, target: str = "report",
                      environ: dict[str, str] | None = None) -> dict[str, list[str]]:
    """The data stages upstream of `target` that `dvc repro --allow-missing` would re-run, with
    why: anything changed but a missing file (a box lacks the raw and converted data by design;
    DVC skips a stage whose only change is missing data)."""
    args = ["status", "--json", "--with-deps", target]
    code, output = dvc(args, root, environ, echo=False)
    if code:
        raise RemoteError(f"dvc {' '.join(args)} failed (exit {code}):\n{output[-2000:]}")
    status = json.loads(output[output.index("{"):] if "{" in output else "{}")
    stale: dict[str, list[str]] = {}
    for stage, changes in status.items():
        if stage.split("@")[0] not in DATA_STAGES:
            continue
        why = []
        for change in changes:
            if isinstance(change, str):  # "changed command", "always changed"
                why.append(change)
                continue
            for kind, files in change.items():
                for path, state in files.items():
                    states = state.items() if isinstance(state, dict) else [(None, state)]
                    why += [f"{kind.removeprefix('changed ')} {path}{f':{key}' if key else ''} "
                            f"{what}" for key, what in states if what not in MISSING]
        if why:
            stale[stage] = why
    return stale


def check_box_plan(root: Path, target: str = "report",
                   environ: dict[str, str] | None = None) -> None:
    """RemoteError if `dvc repro --allow-missing target` would re-run a stage that needs raw or
    converted data (dvc.lock does not match this revision's code or params for it)."""
    stale = stale_data_stages(root, target, environ)
    if stale:
        lines = "\n  ".join(f"{s}: {', '.join(why)}" for s, why in stale.items())
        raise RemoteError(
            f"on this box `dvc repro {target}` would re-run stages that need the raw or "
            f"converted data a training box does not have:\n  {lines}\ndvc.lock does not match "
            "this revision's code or params for them (a setting such as latent.dim changes the "
            f"caches). On the data machine run `dvc repro {' '.join(BOX_PULL)}` (or the same "
            f"`dvc exp run -S ...`), `dvc push {' '.join(BOX_PULL)}`, commit dvc.lock and push "
            "git; then start the box again")
