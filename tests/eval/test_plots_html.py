"""`dvc plots diff` pages work offline: web/plots_template.html inlines vega, vega-lite and
vega-embed, so headless Chromium draws both revisions' lines from a file:// URL with no network."""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from browser import assert_marks_in_dom, chromium, require_chromium, run_checked
from dvc_render.vega import OPTIONAL_ANCHOR_RANGES

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
TEMPLATE = WEB / "plots_template.html"
# Any <script src=...> that needs the network: http(s) or protocol-relative.
REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//", re.IGNORECASE)
# DVC colours revisions in this order (first: HEAD~1, second: HEAD).
REV_COLOURS = [
    tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in OPTIONAL_ANCHOR_RANGES["color"][:2]
]


def _write_loss(path: Path, loss) -> None:
    rows = "".join(f"{step},{loss(step):.5f}\n" for step in range(40))
    path.write_text("step,loss\n" + rows)


def make_diff_page(repo: Path, template: Path | None) -> Path:
    """A git+DVC repo with two commits of one line plot; `dvc plots diff HEAD~1 HEAD`'s page.
    `template` is copied to web/ and configured as the repo's [plots] html_template (the path is
    relative to .dvc/, as in the project's own config); None keeps dvc_render's CDN page."""
    dvc = [sys.executable, "-m", "dvc"]
    run_checked(["git", "init", "-q"], repo)
    run_checked([*dvc, "init", "-q"], repo)
    if template is not None:
        (repo / "web").mkdir()
        shutil.copy2(template, repo / "web" / "plots_template.html")
        run_checked([*dvc, "config", "plots.html_template", "../web/plots_template.html"], repo)
    (repo / "dvc.yaml").write_text("plots:\n  - loss.csv:\n      x: step\n      y: loss\n")
    _write_loss(repo / "loss.csv", lambda s: math.exp(-s / 10))
    run_checked(["git", "add", "-A"], repo)
    run_checked(["git", "commit", "-qm", "first run"], repo)
    _write_loss(repo / "loss.csv", lambda s: 0.5 * math.exp(-s / 5) + 0.05 * math.sin(s))
    run_checked(["git", "commit", "-qam", "second run"], repo)
    run_checked([*dvc, "plots", "diff", "HEAD~1", "HEAD", "-o", "out"], repo)
    return repo / "out" / "index.html"


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


@pytest.fixture
def chromium_binary() -> Path:
    return require_chromium()


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
