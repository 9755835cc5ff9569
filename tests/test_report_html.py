"""report.html: one self-contained page per eval run, sweep and study, checked in headless Chromium.

The browser test needs Debian's chromium (``/usr/bin/chromium``, which ``make test`` installs when run
as root) and Playwright (dev extra); without them it skips, unless CAMX_REQUIRE_BROWSER=1 (``make
test`` sets it where chromium is installed), where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import camx

from camx.report.gallery import mask_outline, tile_png

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def eval_run(trained: Path) -> Path:
    res = camx(
        "eval",
        "experiment=smoke",
        "perturb=noise",
        "perturb.noise.variance=[0.6]",
        "max_images=4",
        "methods=[gradcam,gradcampp]",
        cwd=trained,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    runs = sorted((trained / "outputs" / "eval").glob("*/report.html"), key=lambda p: p.stat().st_mtime)
    return runs[-1].parent


def test_eval_report_is_one_self_contained_file(eval_run: Path) -> None:
    page = (eval_run / "report.html").read_text()
    srcs = re.findall(r'(?:src|href)="([^"#]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs), set(s[:30] for s in srcs)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "camx eval experiment=smoke perturb=noise" in page  # the command, from .hydra/overrides.yaml
    assert "fig3_confidence_vs_noise.png" in page
    # gallery: 2 heads × 2 methods × 2 conditions × 3 images, each with a caption naming both classes
    assert page.count('alt="gradcam ') == 2 * 2 * 3 and page.count('alt="gradcampp ') == 2 * 2 * 3
    assert re.search(r"<small>pred \w+ 0\.\d\d · true \w+</small>", page)
    assert "noise 0.6" in page and "composed config" in page and "torch " in page


def test_tile_outlines_the_mask_in_white() -> None:
    mask = torch.zeros(1, 8, 8)
    mask[0, 2:6, 2:6] = 1
    outline = mask_outline(mask)
    assert outline.sum() == 12 and outline[2, 2] and not outline[3, 3] and not outline[0, 0]
    from io import BytesIO

    from PIL import Image

    png = tile_png(torch.zeros(3, 8, 8), torch.zeros(8, 8), mask, side=16)
    arr = np.asarray(Image.open(BytesIO(png)).convert("RGB"))
    assert arr.shape == (16, 16, 3)
    assert (arr[4, 4] == 255).all() and not (arr[7, 7] == 255).all()  # boundary white, inside not


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = "playwright is not installed" if sync_playwright is None else None
    if not os.path.exists(CHROMIUM):
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium; make test does it as root)"
    if missing:
        if os.environ.get("CAMX_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    return sync_playwright


def _column(page, table: int, col: int) -> list[float]:
    return page.evaluate(
        """([t, c]) => [...document.querySelectorAll('table.sortable')[t].tBodies[0].rows]
             .map(r => parseFloat(r.cells[c].dataset.sort ?? r.cells[c].textContent))""",
        [table, col],
    )


def test_report_renders_in_headless_chromium(eval_run: Path, tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-sync",
        "--disable-background-networking",
        "--disable-component-update",
    ]
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto((eval_run / "report.html").as_uri())
        page.wait_for_load_state("load")
        assert errors == [], errors
        assert all(u.startswith(("file:", "data:")) for u in requests), requests
        broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
        n_images = page.evaluate("document.images.length")
        assert n_images > 20 and broken == 0
        shot = tmp_path / "shot.png"
        page.screenshot(path=str(shot), full_page=False)
        from PIL import Image

        pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
        assert pixels.std() > 10  # not a blank page
        heads = page.locator("table.sortable").first.locator("thead th")
        names = heads.all_inner_texts()
        col = names.index("confidence")
        heads.nth(col).click()
        up = _column(page, 0, col)
        assert up == sorted(up) and len(set(up)) > 1
        heads.nth(col).click()
        assert _column(page, 0, col) == sorted(up, reverse=True)
        assert heads.nth(col).get_attribute("aria-sort") == "descending"
        browser.close()
