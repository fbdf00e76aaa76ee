"""`dvc plots diff` pages work offline: web/plots_template.html inlines vega, vega-lite and
vega-embed, so headless Chromium draws both revisions' lines from a file:// URL with no network."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from dvc_render.vega import OPTIONAL_ANCHOR_RANGES

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
TEMPLATE = WEB / "plots_template.html"
CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 120  # a hung browser or DVC fails the test instead of hanging CI
# Any <script src=...> that needs the network: http(s) or protocol-relative.
REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//", re.IGNORECASE)
SCRIPT_ELEMENT = re.compile(r"<script\b.*?</script>", re.IGNORECASE | re.DOTALL)
# vega draws into <canvas class="marks"> (vega-embed's default) or <svg class="marks">.
VEGA_MARKS = re.compile(r"<(canvas|svg)\b[^>]*\bclass=\"marks\"", re.IGNORECASE)
# DVC colours revisions in this order (first: HEAD~1, second: HEAD).
REV_COLOURS = [
    tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in OPTIONAL_ANCHOR_RANGES["color"][:2]
]


def _run(cmd: list[str], cwd: Path) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _write_loss(path: Path, loss) -> None:
    rows = "".join(f"{step},{loss(step):.5f}\n" for step in range(40))
    path.write_text("step,loss\n" + rows)


def make_diff_page(repo: Path, template: Path | None) -> Path:
    """A git+DVC repo with two commits of one line plot; `dvc plots diff HEAD~1 HEAD`'s page.
    `template` is copied to web/ and configured as the repo's [plots] html_template (the path is
    relative to .dvc/, as in the project's own config); None keeps dvc_render's CDN page."""
    dvc = [sys.executable, "-m", "dvc"]
    _run(["git", "init", "-q"], repo)
    _run([*dvc, "init", "-q"], repo)
    if template is not None:
        (repo / "web").mkdir()
        shutil.copy2(template, repo / "web" / "plots_template.html")
        _run([*dvc, "config", "plots.html_template", "../web/plots_template.html"], repo)
    (repo / "dvc.yaml").write_text("plots:\n  - loss.csv:\n      x: step\n      y: loss\n")
    _write_loss(repo / "loss.csv", lambda s: math.exp(-s / 10))
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "first run"], repo)
    _write_loss(repo / "loss.csv", lambda s: 0.5 * math.exp(-s / 5) + 0.05 * math.sin(s))
    _run(["git", "commit", "-qam", "second run"], repo)
    _run([*dvc, "plots", "diff", "HEAD~1", "HEAD", "-o", "out"], repo)
    return repo / "out" / "index.html"


def chromium(page: Path, work: Path, mode: str) -> str:
    """Headless Chromium on `page` with no network services; `mode` is --dump-dom or
    --screenshot=<png>. Returns stdout (the DOM for --dump-dom)."""
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={work / 'chromium-profile'}",
        "--virtual-time-budget=10000", "--window-size=1200,900", mode, page.as_uri(),
    ]  # fmt: skip
    return _run(cmd, work)


def assert_chart_drawn(png: Path) -> None:
    """The screenshot shows a chart with both revisions' lines, not a blank page."""
    rgb = np.round(mpimg.imread(png)[..., :3] * 255).astype(int)
    non_white = int((rgb < 245).any(axis=-1).sum())
    assert non_white > 5000, f"only {non_white} non-white pixels: the chart was not drawn"
    colours, counts = np.unique(rgb.reshape(-1, 3) // 16, axis=0, return_counts=True)
    assert (counts >= 20).sum() >= 10, f"{len(colours)} colours: no chart (axes, text, lines)"
    for colour in REV_COLOURS:
        near = int((np.abs(rgb - np.array(colour)).max(axis=-1) < 40).sum())
        assert near > 200, f"{near} pixels of revision colour {colour}: its line is missing"


def assert_marks_in_dom(dom: str) -> None:
    """vega-embed ran: the plot's div became a vega-embed container holding vega's marks."""
    body = SCRIPT_ELEMENT.sub("", dom)  # the inlined libraries' source must not count
    assert re.search(r"<div\b[^>]*\bclass=\"[^\"]*\bvega-embed\b", body), "vega-embed did not run"
    assert VEGA_MARKS.search(body), "no <canvas/svg class=\"marks\">: vega drew nothing"


@pytest.fixture
def chromium_binary() -> Path:
    if CHROMIUM.is_file():
        return CHROMIUM
    reason = f"{CHROMIUM} is required to render the plots page (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; .ci/run installs it")
    pytest.skip(f"NOT TESTED: {reason}")


@pytest.fixture(scope="module")
def diff_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_diff_page(tmp_path_factory.mktemp("plots-repo"), TEMPLATE)


def test_template_inlines_the_pinned_packages():
    html = TEMPLATE.read_text(encoding="utf8")
    pins = json.loads((WEB / "package.json").read_text())["dependencies"]
    for name in ("vega", "vega-lite", "vega-embed"):
        inlined = f"<!-- {name} {pins[name]}, build/" in html
        assert inlined, f"{name} {pins[name]} not inlined: rebuild it (web/README.md)"
    # Plain booleans: a failing `in` on an 800 KB string would make pytest diff it for minutes.
    assert html.count("<script>") == 3, "expected vega, vega-lite and vega-embed inlined"
    assert not re.search(r"<script\b[^>]*\bsrc\s*=", html, re.IGNORECASE), "external script"
    has = {p: "{" + p + "}" in html for p in ("plot_divs", "refresh_tag", "scripts")}
    assert has == {"plot_divs": True, "refresh_tag": True, "scripts": False}, (
        f"{has}; without {{scripts}} dvc_render cannot insert its CDN <script src> tags"
    )


def test_diff_page_loads_no_remote_scripts(diff_page: Path):
    html = diff_page.read_text(encoding="utf8")
    assert not REMOTE_SCRIPT.search(html), REMOTE_SCRIPT.search(html).group(0)
    filled = ("vegaEmbed('#loss_csv'" in html, "HEAD~1" in html, "{plot_divs}" in html)
    assert filled == (True, True, False), "dvc_render did not fill the template's plot divs"


def test_chromium_draws_both_revisions(diff_page: Path, chromium_binary: Path, tmp_path: Path):
    png = tmp_path / "plots.png"
    chromium(diff_page, tmp_path, f"--screenshot={png}")
    assert png.is_file(), "Chromium wrote no screenshot"
    assert_chart_drawn(png)


def test_vega_embed_renders_into_the_dom(diff_page: Path, chromium_binary: Path, tmp_path: Path):
    assert_marks_in_dom(chromium(diff_page, tmp_path, "--dump-dom"))
