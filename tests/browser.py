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


# vega-embed's call in every chart of a `dvc plots` page (dvc_render writes it so).
EMBED_CALL = re.compile(r"vegaEmbed\(('[^']*'), spec\);")
TAG_ATTRS = re.compile(r'([\w:-]+)="([^"]*)"')


def svg_page(page: Path) -> Path:
    """A copy of a `dvc plots` page beside it whose charts vega draws as SVG, into the DOM,
    instead of onto a canvas, so a test can read every drawn line. The specs stay DVC's."""
    html = page.read_text(encoding="utf8")
    svg, count = EMBED_CALL.subn(r"vegaEmbed(\1, spec, {renderer: 'svg'});", html)
    assert count, f"{page}: no vegaEmbed call to switch to SVG (has dvc_render changed?)"
    out = page.with_name(page.stem + "-svg.html")
    out.write_text(svg, encoding="utf8")
    return out


def drawn_lines(dom: str, chart_id: str, field: str) -> dict[str, int]:
    """The lines vega drew (SVG renderer) in the chart whose div is `chart_id`: each line's
    value of `field` (from the line's aria-label, e.g. "...; model: ups; revision: workspace")
    -> its number of vertices. Empty when the chart has no such lines."""
    start = dom.find(f'id="{chart_id}"')
    assert start >= 0, f"no chart {chart_id!r} on the page"
    end = dom.find("<div id=", start + 1)
    lines: dict[str, int] = {}
    for tag in re.findall(r"<path\b[^>]*>", dom[start:end if end > 0 else len(dom)]):
        attrs = dict(TAG_ATTRS.findall(tag))
        if attrs.get("aria-roledescription") != "line mark":
            continue
        label = dict(part.split(": ", 1) for part in attrs.get("aria-label", "").split("; ")
                     if ": " in part)
        if field in label:
            d = attrs.get("d", "")
            lines[label[field]] = d.count("L") + d.count("M")
    return lines
