"""UPS's own S3 code never asks the EC2 instance-metadata service.

The metadata endpoint is pointed at a local HTTP server on 127.0.0.1 (botocore's
AWS_EC2_METADATA_SERVICE_ENDPOINT), and conftest's AWS_EC2_METADATA_DISABLED, which would hide a
probe, is removed: the server must see no connection while UPS builds its botocore session and
client without credentials, with "auto" defaults, or with a profile that sources its keys there.
No test here sends a request to the S3 endpoint.
"""

from __future__ import annotations

import http.server
import threading

import pytest

from ups.remote import Remote, RemoteError, _client

REMOTE = Remote("b2", "bucket", "ups", "http://127.0.0.1:9", "us-east-1", None)


class Metadata(http.server.ThreadingHTTPServer):
    """Stands in for 169.254.169.254: counts connections, answers 404 (a probe ends at once)."""

    def __init__(self):
        self.connections = 0
        super().__init__(("127.0.0.1", 0), NotFound)

    def get_request(self):
        self.connections += 1
        return super().get_request()


class NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(404)

    do_PUT = do_GET  # IMDSv2 first PUTs for a token

    def log_message(self, *args):
        pass


@pytest.fixture
def metadata(monkeypatch):
    srv = Metadata()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    for name in ("AWS_EC2_METADATA_DISABLED", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULTS_MODE", "AWS_EXECUTION_ENV",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{srv.server_port}/")
    yield srv
    srv.shutdown()
    srv.server_close()


def test_a_check_without_credentials_asks_no_metadata_service(metadata):
    with pytest.raises(RemoteError, match="no credentials for remote 'b2'"):
        _client(REMOTE, {})
    assert metadata.connections == 0


def test_auto_defaults_mode_asks_no_metadata_service_for_the_region(metadata, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULTS_MODE", "auto")
    client, key_id = _client(REMOTE, {"AWS_ACCESS_KEY_ID": "keyid", "AWS_SECRET_ACCESS_KEY": "s"})
    assert key_id == "keyid" and client.meta.region_name == "us-east-1"
    assert metadata.connections == 0


def test_a_profile_sourcing_keys_from_the_metadata_service_is_refused(metadata, monkeypatch,
                                                                      tmp_path):
    config = tmp_path / "aws-config"
    config.write_text("[profile box]\nrole_arn = arn:aws:iam::123456789012:role/ups\n"
                      "credential_source = Ec2InstanceMetadata\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "box")
    with pytest.raises(RemoteError, match="profile 'box' takes its keys from the EC2 instance"):
        _client(REMOTE, {"AWS_PROFILE": "box"})
    assert metadata.connections == 0
