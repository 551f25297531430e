"""End to end: ``acakit app`` in headless Chromium (Playwright); the critical mass read off the
"Plan from numbers" page equals ``acakit plan --json`` for the same inputs.

Needs the Python ``playwright`` package and Debian's ``chromium`` (``apt-get install chromium
chromium-driver``; ``playwright install`` is not used). A screenshot is saved under
``$ACAKIT_TEST_ARTIFACTS`` (default ``results/test-artifacts``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("ACAKIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("ACAKIT_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[1] / "results" / "test-artifacts"))
INPUTS = {"N": 52_000, "xi": 0.0025, "gap": 0.35, "target": 0.85, "epsilon": 0.01, "delta": 0.05}
LABELS = {
    "N": "Platform training-set size N (records)",
    "xi": "Signal rarity ξ (share of records that already look like your signal)",
    "gap": "Base gap Δ (how far your outcome is behind the most common one where the signal appears, 0 to 1)",
    "target": "Target success S* (share of signal-carrying records that should get your outcome)",
    "epsilon": "Firm suboptimality ε (0: the firm learns the data perfectly)",
}
METRIC = "Critical mass α* (fraction of the training set)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"acakit app exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"acakit app did not answer at {url} within {timeout:.0f} s")


def _require_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install playwright)")
    pytest.importorskip("streamlit", reason="the app needs streamlit (pip install 'acakit[app]')")


@pytest.fixture
def served_app(tmp_path):
    _require_browser()
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "acakit", "app", "--port", str(port)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://localhost:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    with socket.socket() as s:  # stopping `acakit app` stops the server (no orphaned streamlit)
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert list(tmp_path.iterdir()) == []  # the app wrote nothing in its working folder


def test_plan_from_numbers_in_chromium(served_app):
    from playwright.sync_api import sync_playwright

    cli = subprocess.run(
        [sys.executable, "-m", "acakit", "plan", "--gap", str(INPUTS["gap"]), "--signal-mass",
         str(INPUTS["xi"]), "--epsilon", str(INPUTS["epsilon"]), "--target", str(INPUTS["target"]),
         "--n-train", str(INPUTS["N"]), "--confidence", str(INPUTS["delta"]), "--json"],
        capture_output=True, text=True, check=True)
    expected = json.loads(cli.stdout)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.set_default_timeout(60_000)
            page.goto(served_app)
            labels = [METRIC, "Head count ⌈α* N⌉", "Finite-sample head count"]
            values = [page.locator('[data-testid="stMetric"]', has_text=label).locator(
                '[data-testid="stMetricValue"]') for label in labels]
            for v in values:
                v.wait_for()
            before = [v.inner_text().strip() for v in values]
            image = page.locator('[data-testid="stImage"] img').first
            image.wait_for()
            image_before = image.get_attribute("src")
            for key, label in LABELS.items():
                box = page.get_by_label(label, exact=True)
                box.fill(str(INPUTS[key]))
                box.press("Tab")
            page.get_by_role("button", name="Compute").click()
            # Streamlit redraws the metrics one at a time: wait until every one of them has
            # left its old value and the app is no longer running (one metric updated while the
            # next still showed its old value made this test flaky).
            # ... and until the plot is the new one (its image source changes with the inputs)
            page.wait_for_function(
                """([labels, before, imageBefore]) => {
                    if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
                    const img = document.querySelector('[data-testid="stImage"] img');
                    if (!img || img.getAttribute('src') === imageBefore) return false;
                    const ms = [...document.querySelectorAll('[data-testid="stMetric"]')];
                    return labels.every((label, i) => {
                        const m = ms.find(e => e.innerText.includes(label));
                        if (!m) return false;
                        const v = m.querySelector('[data-testid="stMetricValue"]').innerText.trim();
                        return v !== before[i];
                    });
                }""", arg=[labels, before, image_before], timeout=60_000)
            shown, count, finite = (v.inner_text().strip() for v in values)
            image_after = image.get_attribute("src")
            drawn = page.request.get(urllib.parse.urljoin(page.url, image_after)).body()
            page.screenshot(path=str(ARTIFACTS / "app_plan_from_numbers.png"), full_page=True)
        finally:
            browser.close()
    got = float(shown)
    print(f"browser critical mass {got!r} vs acakit plan --json {expected['critical_mass']!r}")
    assert abs(got - expected["critical_mass"]) <= 1e-6
    assert int(count.replace(",", "")) == expected["critical_count"]
    assert int(finite.replace(",", "")) == expected["finite_critical_count"]
    assert (ARTIFACTS / "app_plan_from_numbers.png").stat().st_size > 10_000
    assert image_after != image_before
    # the plot is the one of the new inputs, byte for byte (not the defaults' plot under the new
    # metrics): the PNG the page serves equals the one drawn here from the same numbers
    from functools import partial

    from acakit.analyses.planning import plot_plan
    from acakit.app import logic

    plan = logic.plan_from_numbers(INPUTS["N"], INPUTS["xi"], INPUTS["gap"], INPUTS["target"],
                                   INPUTS["epsilon"], INPUTS["delta"])
    assert drawn == logic.plot_png(partial(plot_plan, plan), "plan")
    defaults = logic.plan_from_numbers(100_000, 0.001, 0.3, 0.9, 0.0, 0.05)
    assert drawn != logic.plot_png(partial(plot_plan, defaults), "plan")
