"""Shared fixtures. DVC is isolated for the whole test session (see README, 'Tests')."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/helpers.py


@pytest.fixture(autouse=True, scope="session")
def isolated_dvc_env(tmp_path_factory: pytest.TempPathFactory):
    """No analytics, private DVC config and site-cache dirs, a git identity, empty AWS config."""
    base = tmp_path_factory.mktemp("dvc-env")
    aws_config, aws_creds = base / "aws-config", base / "aws-credentials"
    aws_config.write_text("")
    aws_creds.write_text("")
    env = {
        "DVC_NO_ANALYTICS": "1",
        "DVC_STUDIO_OFFLINE": "1",
        "DVC_GLOBAL_CONFIG_DIR": str(base / "dvc-global"),
        "DVC_SYSTEM_CONFIG_DIR": str(base / "dvc-system"),
        "DVC_SITE_CACHE_DIR": str(base / "dvc-site-cache"),
        "GIT_AUTHOR_NAME": "UPS test",
        "GIT_AUTHOR_EMAIL": "test@ups.invalid",
        "GIT_COMMITTER_NAME": "UPS test",
        "GIT_COMMITTER_EMAIL": "test@ups.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "AWS_CONFIG_FILE": str(aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_creds),
        "AWS_EC2_METADATA_DISABLED": "true",
        "MPLBACKEND": "Agg",
    }
    old = {k: os.environ.get(k) for k in [*env, "AWS_PROFILE"]}
    os.environ.update(env)
    os.environ.pop("AWS_PROFILE", None)
    yield env
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
