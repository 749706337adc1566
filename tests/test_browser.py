"""Real browser: Debian Chromium driven by playwright against a Jupyter server with Voilà (loopback only).

Opens ``notebooks/compare_outlines.ipynb`` through Voilà's server extension (``/voila/render/...``,
the mode Binder uses), checks that the leaflet map and the widgets render, changes the B dropdown and
sees the status line change, then screenshots a static report HTML (an executed notebook converted by
``glacierlab.reports.runner.notebook_to_html``). Needs ``/usr/bin/chromium`` (``tools/install_browser.sh``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# playwright adds --headless and a fresh temporary profile (--user-data-dir) itself
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(
            f"{CHROMIUM} is missing: run `bash tools/install_browser.sh` (apt-installs Debian chromium)"
        )
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright is missing: pip install 'glacierlab[dev]' (playwright==1.65.2)")
    if missing:
        msg = "; ".join(missing)
        if os.environ.get("CI") and not os.environ.get("GLACIERLAB_SKIP_BROWSER"):
            pytest.fail(msg)
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[str]:
    """A Jupyter server (voila extension) on 127.0.0.1 serving a copy of notebooks/."""
    _need_browser()
    root = tmp_path_factory.mktemp("nbroot")
    for nb in (REPO / "notebooks").glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    port = _free_port()
    log = open(root / "server.log", "w")  # noqa: SIM115  (closed below)
    jupyter = Path(sys.executable).with_name("jupyter")
    proc = subprocess.Popen(
        [
            str(jupyter),
            "server",
            "--allow-root",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "GLACIERLAB_SEED_DIR": str(shared_data),
            "GLACIERLAB_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail(f"jupyter server did not start: {(root / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
        print((root / "server.log").read_text()[-3000:])  # shown by pytest when a test fails
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield b
        b.close()


def test_voila_map_and_widgets_react(server: str, browser, tmp_path: Path) -> None:  # noqa: ANN001
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    page.goto(f"{server}/voila/render/compare_outlines.ipynb", timeout=120_000)
    try:
        page.wait_for_selector(".leaflet-container", timeout=90_000)
    except Exception:
        page.screenshot(path=str(tmp_path / "voila_failed.png"), full_page=True)
        pytest.fail(f"no map rendered; page text: {page.inner_text('body')[-1500:]}")
    page.wait_for_selector(".widget-dropdown select", timeout=30_000)
    page.wait_for_selector("path.leaflet-interactive", timeout=30_000)  # outlines drawn as vectors
    table = page.locator(".widget-html-content", has_text="area_b_km2").first  # the per-glacier table widget
    before = table.inner_text(timeout=30_000)
    page.locator(".widget-dropdown select").nth(1).select_option("1969")  # B: 2016-08-27 -> 1969
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-html-content')]"
        ".some(e => e.innerText.includes('1850 -> 1969'))",
        timeout=60_000,
    )
    from playwright.sync_api import expect

    expect(table).not_to_have_text(before, timeout=30_000)  # the table widget updates after the status line
    page.screenshot(path=str(tmp_path / "voila.png"), full_page=True)
    assert (tmp_path / "voila.png").stat().st_size > 10_000


def test_report_html_screenshot(browser, tmp_path: Path, shared_data: Path) -> None:  # noqa: ANN001
    import papermill as pm

    from glacierlab.reports.runner import notebook_to_html

    executed = tmp_path / "compare_outlines.ipynb"
    pm.execute_notebook(
        str(REPO / "notebooks" / "compare_outlines.ipynb"),
        str(executed),
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    html = tmp_path / "report.html"
    notebook_to_html(executed, html)
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(html.as_uri())
    page.wait_for_selector("table", timeout=30_000)  # the per-glacier change table
    assert "G013332E47020N" in page.content()
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_map_works_offline(browser, everest_report, tmp_path: Path) -> None:  # noqa: ANN001
    """The regional report from file:// with the network off: no request leaves the page, the map renders."""
    out, table = everest_report
    report = Path(table.iloc[0]["report"])
    assert table.iloc[0]["status"] == "ok", table.iloc[0]["traceback"]
    context = browser.new_context(offline=True, viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    attempted: list[str] = []
    failed: list[str] = []
    errors: list[str] = []

    def route(r) -> None:  # noqa: ANN001
        url = r.request.url
        if url.startswith(("file://", "data:")):
            r.continue_()
        else:
            attempted.append(url)
            r.abort()

    context.route("**/*", route)
    page.on("requestfailed", lambda r: failed.append(f"{r.url[:120]} {r.failure}"))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(report.as_uri())
    page.wait_for_selector(".leaflet-container", timeout=30_000)
    page.wait_for_function(
        "() => { const im = [...document.querySelectorAll('img.leaflet-image-layer')];"
        " return im.length >= 1 && im.every(i => i.complete && i.naturalWidth > 0); }",
        timeout=30_000,
    )
    assert page.locator("path.leaflet-interactive").count() > 10  # reference and model outlines drawn
    layers_before = page.locator("img.leaflet-image-layer").count()
    page.locator(".leaflet-control-layers-overlays label", has_text="glacier probability 2000-10-30").click()
    page.wait_for_function(f"() => document.querySelectorAll('img.leaflet-image-layer').length > {layers_before}")
    page.locator(".leaflet-control-zoom-in").click()
    page.screenshot(path=str(tmp_path / "report_map.png"), full_page=False)
    index = context.new_page()
    index.goto((out / "index.html").as_uri())
    index.wait_for_selector("table")
    assert attempted == [], attempted
    assert failed == [], failed
    assert errors == [], errors
    context.close()
