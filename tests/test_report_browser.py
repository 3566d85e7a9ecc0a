"""The report page opened in a real browser: headless Chromium (Debian's package) driven by Selenium.

Checks what a reader would meet: no console errors, every figure drawn with a size, every in-page
anchor leading somewhere, every link to a file of the report resolving, figures and tables
numbered in page order, no sideways scrolling at 1200 px. A full-page screenshot is kept as a CI
artefact (``.ci/artifacts/`` or ``$CI_ARTIFACTS``). Without Chromium, its driver or Selenium the
test is skipped and says which.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if browser is None or driver_path is None:
        pytest.skip("Chromium or chromedriver not found (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,2000", "--allow-file-access-from-files"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=opts)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from metaanalysis.report import build_report

    out = tmp_path_factory.mktemp("browser") / "report"
    build_report(ROOT / "data" / "studies.csv", out)
    driver = _driver()
    try:
        driver.get((out / "index.html").as_uri())
        yield driver, out
    finally:
        driver.quit()


def test_no_console_errors(page):
    driver, _ = page
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == []


def test_every_figure_is_drawn_with_a_size(page):
    driver, out = page
    sizes = driver.execute_script(
        "return Array.from(document.querySelectorAll('figure > svg')).map("
        "e => [e.parentElement.id, e.getBoundingClientRect().width, "
        "e.getBoundingClientRect().height]);")
    svg_files = {p.stem for p in (out / "figures").glob("*.svg")}
    assert {s[0].removeprefix("fig-") for s in sizes} == svg_files
    for fig_id, w, h in sizes:
        assert w > 100 and h > 50, fig_id
    broken = driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src);")
    assert broken == []


def test_anchors_and_links_resolve(page):
    driver, out = page
    missing = driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href^=\"#\"]'))"
        ".map(a => a.getAttribute('href').slice(1))"
        ".filter(id => !document.getElementById(decodeURIComponent(id)));")
    assert missing == []
    hrefs = driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))"
        ".filter(h => !h.startsWith('#'));")
    assert hrefs, "the page links its figure files and tables"
    for h in hrefs:
        assert "://" not in h and (out / h).is_file(), h
    # following a contents link scrolls to its section
    first = driver.execute_script(
        "const a = document.querySelector('ul a[href^=\"#\"]'); a.click();"
        "return [a.getAttribute('href'), window.scrollY];")
    assert first[1] > 0, first


def test_figures_and_tables_are_numbered_in_order(page):
    driver, _ = page
    captions = driver.execute_script(
        "return Array.from(document.querySelectorAll('figcaption')).map(c => c.textContent);")
    numbers = [int(re.match(r"Figure (\d+)\.", c).group(1)) for c in captions]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 20
    tables = driver.execute_script(
        "return Array.from(document.querySelectorAll('table > caption')).map(c => c.textContent);")
    tnum = [int(re.match(r"Table (\d+)\.", c).group(1)) for c in tables]
    assert tnum == list(range(1, len(tnum) + 1)) and len(tnum) >= 10


def test_no_sideways_scrolling_at_1200px(page):
    # wide tables scroll inside their own box; the page itself must not
    driver, _ = page
    size = driver.get_window_size()
    try:
        driver.set_window_size(1200, size["height"])
        inner, scroll = driver.execute_script(
            "return [window.innerWidth, document.documentElement.scrollWidth];")
        assert inner == 1200 and scroll <= inner, (inner, scroll)
    finally:
        driver.set_window_size(size["width"], size["height"])


def test_full_page_screenshot_is_kept(page):
    driver, _ = page
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True})
    data = base64.b64decode(shot["data"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    folder = Path(os.environ.get("CI_ARTIFACTS", ROOT / ".ci" / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report-full-page.png").write_bytes(data)
