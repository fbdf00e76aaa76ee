"""Headless Chromium for tests that render pages (Debian's package; `.ci/run` installs it)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 120  # a hung browser fails the test instead of hanging CI
SCRIPT_ELEMENT = re.compile(r"<script\b.*?</script>", re.IGNORECASE | re.DOTALL)
# vega draws into <canvas class="marks"> (vega-embed's default) or <svg class="marks">.
VEGA_MARKS = re.compile(r"<(canvas|svg)\b[^>]*\bclass=\"marks\"", re.IGNORECASE)


def require_chromium() -> Path:
    """The browser, or a failure in CI / a loud skip elsewhere when it is missing."""
    if CHROMIUM.is_file():
        return CHROMIUM
    reason = f"{CHROMIUM} is required to render the plots page (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; .ci/run installs it")
    pytest.skip(f"NOT TESTED: {reason}")


def run_checked(cmd: list[str], cwd: Path) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def chromium(page: Path, work: Path, mode: str) -> str:
    """Headless Chromium on `page` with no network services; `mode` is --dump-dom or
    --screenshot=<png>. Returns stdout (the DOM for --dump-dom)."""
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={work / 'chromium-profile'}",
        "--virtual-time-budget=10000", "--window-size=1200,900", mode, page.as_uri(),
    ]  # fmt: skip
    return run_checked(cmd, work)


def assert_marks_in_dom(dom: str) -> None:
    """vega-embed ran: the plot's div became a vega-embed container holding vega's marks."""
    body = SCRIPT_ELEMENT.sub("", dom)  # the inlined libraries' source must not count
    assert re.search(r"<div\b[^>]*\bclass=\"[^\"]*\bvega-embed\b", body), "vega-embed did not run"
    assert VEGA_MARKS.search(body), "no <canvas/svg class=\"marks\">: vega drew nothing"
