"""Real browser: Debian Chromium driven by playwright against a Jupyter server with Voilà (loopback only).

Opens notebooks through Voilà's server extension (``/voila/render/...``, the mode Binder uses), one page per
notebook, driven through a user's session: ``compare_outlines`` (the map and widgets render; B dropdown ->
status and table; the slider), ``map_glaciers`` (layer switch with its legend, the opacity slider, a click
reading the values, Run with another checkpoint replacing the tiles on screen, a region switch whose Date
dropdown shows the scene the kernel uses, and Run on a scene the model does not fit, which ends in one red
line instead of "running..."), ``explore_region`` (region switches, your own files) and
``reliability_calibration``. Then screenshots static report HTML (an executed notebook converted by
``glacierlab.reports.runner.notebook_to_html``; the regional report offline). Needs ``/usr/bin/chromium``
(``tools/install_browser.sh``).
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
REPO = Path(__file__).resolve().parents[2]
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


_LOGS: dict[str, Path] = {}


def _log(server: str) -> str:
    """The last lines of the Jupyter server's log (Voila kernels' errors land there), for a failure message."""
    return "server log:\n" + _LOGS[server].read_text()[-3000:] if server in _LOGS else ""


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
            "GLACIERLAB_WORKSPACE": str(tmp_path_factory.mktemp("workspace")),
            "OMP_NUM_THREADS": "1",
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
        _LOGS[url] = root / "server.log"
        yield url
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


@pytest.fixture(autouse=True)
def _pages_closed(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test's pages are closed when it ends: Voila then shuts that page's kernel down, and no idle map
    keeps a renderer and a kernel busy while the next session runs."""
    yield
    if "browser" in request.fixturenames:
        for context in request.getfixturevalue("browser").contexts:
            for page in context.pages:
                page.close()


def test_voila_map_and_widgets_react(server: str, browser, tmp_path: Path) -> None:  # noqa: ANN001
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(f"{server}/voila/render/compare_outlines.ipynb", timeout=120_000)
    try:
        page.wait_for_selector(".leaflet-container", timeout=90_000)
    except Exception:
        page.screenshot(path=str(tmp_path / "voila_failed.png"), full_page=True)
        pytest.fail(f"no map rendered; page text: {page.inner_text('body')[-1500:]}")
    page.wait_for_selector(".widget-dropdown select", timeout=30_000)
    page.wait_for_selector("path.leaflet-interactive", timeout=30_000)  # outlines drawn as vectors
    table = page.locator(".widget-html-content", has_text="area B (km²)").first  # the per-glacier table widget
    before = table.inner_text(timeout=30_000)
    page.locator(".widget-dropdown select").nth(1).select_option("1969")  # B: 2016-08-27 -> 1969
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-html-content')]"
        ".some(e => e.innerText.includes('1850 -> 1969'))",
        timeout=60_000,
    )
    from playwright.sync_api import expect

    expect(table).not_to_have_text(before, timeout=30_000)  # the table widget updates after the status line
    # the map has a legend naming both dates; the table has one header row with units and is not cut off
    legend = page.locator(".glacierlab-legend").first
    expect(legend).to_contain_text("A: 1850", timeout=30_000)
    expect(legend).to_contain_text("B: 1969")
    assert "area A (km²)" in table.inner_text() and table.locator("thead tr").count() == 1
    scroller = table.locator("div").first
    assert scroller.evaluate("e => getComputedStyle(e).overflowX") == "auto"
    # the slider steps B: the dropdowns, the status and the legend follow it
    slider = _widget(page, "slider", "Show").locator(".noUi-handle").first
    slider.focus()
    page.keyboard.press("ArrowRight")  # one step after 1969
    page.wait_for_function(
        "() => { const s = document.querySelectorAll('.widget-dropdown select')[1];"
        " return s && s.selectedOptions[0].text !== '1969'; }",
        timeout=60_000,
    )
    b = page.locator(".widget-dropdown select").nth(1).evaluate("s => s.selectedOptions[0].text")
    expect(legend).to_contain_text(f"B: {b}", timeout=30_000)
    expect(page.locator(".widget-html-content", has_text=f"1850 -> {b}: ").first).to_be_visible(timeout=30_000)
    page.screenshot(path=str(tmp_path / "voila.png"), full_page=True)
    assert (tmp_path / "voila.png").stat().st_size > 10_000


def _widget(page, kind: str, label: str):  # noqa: ANN001, ANN202
    """The ipywidgets control of class ``widget-<kind>`` whose description is ``label``."""
    return page.locator(f".widget-{kind}", has=page.locator("label", has_text=label)).first


def test_voila_map_glaciers_session(server: str, browser, tmp_path: Path, tiny_checkpoint: Path) -> None:  # noqa: ANN001
    """One user's session on map_glaciers in Voila (the notebook maps the Everest scene once, on load):

    layer switch with its legend; the opacity slider; a click reads every layer's values; Run with another
    checkpoint replaces the mask tiles at the zoom already viewed (new URLs, new pixels: without a new URL per
    run the browser would reuse the first run's images from its cache); a region switch shows the scene the
    kernel uses; Run on a scene the model does not fit ends in one red line, not "running...".
    """
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1300, "height": 1600})
    page.goto(f"{server}/voila/render/map_glaciers.ipynb", timeout=180_000)
    try:  # Voila runs every cell first (the shipped model maps the Everest scene)
        page.wait_for_selector(".widget-toggle-buttons button", timeout=300_000)
    except Exception:
        page.screenshot(path=str(tmp_path / "voila_map_failed.png"), full_page=True)
        pytest.fail(f"no layer switcher rendered; page text: {page.inner_text('body')[-2000:]}\n{_log(server)}")
    legend = page.locator(".glacierlab-legend").first
    expect(legend).to_contain_text("glacier probability", timeout=30_000)  # one layer shown, with its legend
    status = page.locator(".widget-html-content", has_text="done in").first
    assert "glavitu_lite_everest" in status.inner_text()

    # layer switch: the legend follows, and exactly one result overlay is visible
    page.locator(".widget-toggle-buttons button", has_text="mask").first.click()
    expect(legend).to_contain_text("model mask", timeout=30_000)
    expect(legend).to_contain_text("ice-free")
    first = _tiles(page)
    assert first and any(t["opaque"] for t in first.values()), first

    # slider: opacity 0.80 -> 0.65 with the keyboard; the kernel applies it to the layers (the mask is
    # tiled from its COG, the float layers are image overlays) and hidden layers stay hidden
    opacity = _widget(page, "slider", "Opacity")
    opacity.locator(".noUi-handle").first.focus()
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    expect(opacity.locator(".widget-readout")).to_have_text("0.65", timeout=30_000)
    layers_js = "[...document.querySelectorAll('.leaflet-layer, img.leaflet-image-layer')]"
    page.wait_for_function(
        f"() => {layers_js}.some(i => Math.abs(parseFloat(getComputedStyle(i).opacity) - 0.65) < 0.01)",
        timeout=30_000,
    )

    # click the map: the values of every layer at that point (once Voila has run the last cell, the split
    # view: the kernel reads the click only between cells)
    page.wait_for_function(
        "() => document.body.innerText.includes('A: optical | B: mask')", timeout=300_000
    )
    where = page.locator(".leaflet-container").first.bounding_box()
    page.mouse.click(where["x"] + where["width"] * 0.5, where["y"] + where["height"] * 0.55)
    # the click may wait in the kernel's queue while Voila still runs cells (busy CI)
    _wait_for_text(page, server, tmp_path, "probability:", " N, ", timeout=180_000)
    page.screenshot(path=str(tmp_path / "voila_map_run1.png"), full_page=True)

    # Run with another checkpoint: at the zoom already viewed, the mask tiles get new URLs and new pixels
    box = _widget(page, "text", "Checkpoint").locator("input")
    shipped = box.input_value()
    box.fill(str(tiny_checkpoint))
    box.press("Enter")
    expect(page.locator(".widget-html-content", has_text="checkpoint tiny.safetensors").first).to_be_visible(
        timeout=60_000
    )
    page.locator("button", has_text="Run").first.click()
    done = page.locator(".widget-html-content", has_text="tiny.safetensors on everest")
    expect(done.first).to_contain_text("done in", timeout=400_000)
    version = [t["src"] for t in first.values()][0].split("glacierlab_data=")[1][:16]
    page.wait_for_function(
        "(old) => [...document.querySelectorAll('img.leaflet-tile')].some(i => i.src.includes('glacierlab_data=')"
        " && !i.src.includes(old))",
        arg=version,
        timeout=60_000,
    )
    second = _tiles(page)
    page.screenshot(path=str(tmp_path / "voila_map_run2.png"), full_page=True)
    same_place = sorted(set(first) & set(second))  # the same z/x/y: the zoom level already viewed
    assert same_place, (list(first), list(second))
    assert all(first[k]["src"] != second[k]["src"] for k in same_place)
    changed = [k for k in same_place if first[k]["hash"] != second[k]["hash"]]
    assert changed, "the second run's mask tiles show the same pixels as the first run's"
    expect(legend).to_contain_text("model mask")  # the layer the user chose stays the one shown, with its legend

    # region switch: the Date dropdown shows the scene the kernel now uses
    from glacierlab.data.catalog import load_catalog

    khumbu = f"{load_catalog().region('khumbu').name} (khumbu)"  # the dropdown's label for that region
    _widget(page, "dropdown", "Region").locator("select").select_option(label=khumbu)
    date = _widget(page, "dropdown", "Date").locator("select")
    page.wait_for_function(
        "(s) => s.selectedOptions.length && s.selectedOptions[0].text.startsWith('G086917E27925N')",
        arg=date.element_handle(),
        timeout=60_000,
    )
    expect(page.locator(".widget-html-content", has_text="Khumbu glaciers").first).to_be_visible(timeout=30_000)

    # Run on that scene with the shipped model (8-bit numbers; it does not fit reflectance): one red line
    box.fill(shipped)
    box.press("Enter")
    expect(page.locator(".widget-html-content", has_text="checkpoint glavitu_lite_everest").first).to_be_visible(
        timeout=60_000
    )
    page.locator("button", has_text="Run").first.click()
    _wait_for_text(page, server, tmp_path, "InputError:", "8-bit", timeout=180_000)
    status = page.locator(".widget-html-content", has_text="InputError:").first
    assert "running" not in status.inner_text() and "train_your_region" in status.inner_text()
    page.screenshot(path=str(tmp_path / "voila_map.png"), full_page=True)
    assert (tmp_path / "voila_map.png").stat().st_size > 10_000


def _wait_for_text(page, server: str, tmp_path: Path, *parts: str, timeout: int) -> None:  # noqa: ANN001
    """Wait until one widget's text holds every part; on failure say what the widgets show, with the log."""
    try:
        page.wait_for_function(
            "(parts) => [...document.querySelectorAll('.widget-html-content')]"
            ".some(e => parts.every(p => e.innerText.includes(p)))",
            arg=list(parts),
            timeout=timeout,
        )
    except Exception:
        page.screenshot(path=str(tmp_path / "voila_wait_failed.png"), full_page=True)
        texts = page.locator(".widget-html-content").all_inner_texts()
        pytest.fail(f"no widget says {parts} after {timeout / 1000:.0f} s; widget texts: {texts}\n{_log(server)}")


_TILE_PIXELS_JS = """() => Object.fromEntries([...document.querySelectorAll('img.leaflet-tile')]
    .filter(i => i.src.includes('glacierlab_data=') && i.complete && i.naturalWidth > 0
                 && getComputedStyle(i.closest('.leaflet-layer')).display !== 'none'
                 && i.closest('.leaflet-layer').style.visibility !== 'hidden')
    .map(i => {
        const c = document.createElement('canvas');
        c.width = i.naturalWidth; c.height = i.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(i, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let h = 0, opaque = 0;
        for (let k = 0; k < d.length; k += 4) { h = (h * 31 + d[k] + 7 * d[k + 1] + 13 * d[k + 2] + d[k + 3]) >>> 0;
                                                 opaque += d[k + 3] > 0 ? 1 : 0; }
        const u = new URL(i.src);
        return [u.pathname.replace(/^.*\\/tiles\\//, ''), {src: i.src, hash: h, opaque: opaque}];
    }))"""


def _tiles(page, expect_in_src: str = "") -> dict:  # noqa: ANN001
    """The model's loaded, shown tiles: z/x/y -> src and a hash of the pixels the browser drew."""
    page.wait_for_function(
        "(want) => { const im = [...document.querySelectorAll('img.leaflet-tile')]"
        ".filter(i => i.src.includes('glacierlab_data=') && i.src.includes(want));"
        " return im.length > 0 && im.every(i => i.complete); }",
        arg=expect_in_src,
        timeout=120_000,
    )
    page.wait_for_timeout(1500)  # let Leaflet finish swapping tile levels
    return page.evaluate(_TILE_PIXELS_JS)


def test_voila_explore_region_session(  # noqa: ANN001
    server: str, browser, tmp_path: Path, shared_data: Path
) -> None:
    """One user's session on explore_region in Voila (the notebook draws Everest once, on load).

    A region switch draws the new region at once, with one legend, and the TOA advice says to train first.
    Your own files: no default Values, an 8-bit file called reflectance is refused, then drawn in its frame;
    a TOA clip: the Region dropdown shows none (not the last region), the status line says no catalog region
    is in use, and Next says to train first, as for a TOA catalog scene.
    """
    from playwright.sync_api import expect

    from glacierlab.data.catalog import load_catalog

    page = browser.new_page(viewport={"width": 1300, "height": 1500})
    page.goto(f"{server}/voila/render/explore_region.ipynb", timeout=180_000)
    region = _widget(page, "dropdown", "Region").locator("select")
    try:
        page.wait_for_selector(".widget-toggle-buttons button", timeout=240_000)
        expect(page.locator(".widget-html-content", has_text="everest 2000-10-30: grid").first).to_be_visible(
            timeout=60_000
        )
    except Exception:
        page.screenshot(path=str(tmp_path / "voila_explore_failed.png"), full_page=True)
        pytest.fail(f"the picker did not render; page text: {page.inner_text('body')[-2000:]}\n{_log(server)}")
    assert region.evaluate("s => s.selectedOptions[0].text").endswith("(everest)")
    for rid in ("khumbu", "swiss_alps", "khumbu"):
        region.select_option(label=f"{load_catalog().region(rid).name} ({rid})")
        expect(page.locator(".widget-html-content", has_text=f"{rid} ").filter(has_text="grid").first).to_be_visible(
            timeout=120_000
        )
    assert page.locator(".glacierlab-legend").count() == 1  # not one per region visited
    expect(page.locator(".widget-html-content", has_text="Train a model on this region first").first).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.leaflet-image-layer')].some(i => i.complete && i.naturalWidth > 0)",
        timeout=60_000,
    )
    page.screenshot(path=str(tmp_path / "explore_switch.png"), full_page=True)

    # your own files: no default Values, an 8-bit file called reflectance is refused, then drawn in its frame
    d = shared_data / "everest_landsat7_exploradores_aster"
    page.locator(".lm-AccordionPanel-title, .p-Collapse-header, .jupyter-widget-Collapse-header").filter(
        has_text="Your own files"
    ).first.click()
    _widget(page, "text", "Optical").locator("input").fill(
        f"{d / 'LE71400412000304SGS00_RGB_test.tif'}, {d / 'LE71400412000304SGS00_B4_test.tif'}"
    )
    _widget(page, "text", "Bands").locator("input").fill("red, green, blue, nir")
    values = _widget(page, "dropdown", "Values").locator("select")
    assert values.evaluate("s => s.value") == "" or "choose" in values.evaluate("s => s.selectedOptions[0].text")
    use = page.locator("button", has_text="Use these files").first
    use.click()
    expect(page.locator(".widget-html-content", has_text="choose under Values").first).to_be_visible(timeout=60_000)
    values.select_option(label="surface reflectance 0-1 (L2A / C2 L2)")
    use.click()
    expect(page.locator(".widget-html-content", has_text="an 8-bit file (0-255)").first).to_be_visible(
        timeout=60_000
    )
    values.select_option(label="8-bit numbers 0-255 (the shipped model)")
    use.click()
    expect(page.locator(".widget-html-content", has_text="your files (").filter(has_text="grid").first).to_be_visible(
        timeout=120_000
    )
    assert page.locator(".glacierlab-legend").count() == 1
    page.screenshot(path=str(tmp_path / "explore_files.png"), full_page=True)
    assert region.evaluate("s => s.selectedIndex") == -1  # your files: no region shown, not the last one (khumbu)

    # a TOA clip of Khumbu: no region in use, and Next says to train first
    toa = shared_data / "glacierview_landsat_toa_clips" / "images" / "G086889E27929N.tif"  # a Khumbu TOA clip
    _widget(page, "text", "Optical").locator("input").fill(str(toa))
    _widget(page, "text", "Bands").locator("input").fill("blue, green, red, nir, swir1, -")
    _widget(page, "dropdown", "Values").locator("select").select_option(index=3)  # TOA reflectance
    page.locator("button", has_text="Use these files").first.click()
    expect(page.locator(".widget-html-content", has_text="no catalog region in use").first).to_be_visible(
        timeout=120_000
    )
    next_line = page.locator(".widget-html-content", has_text="Next:").first
    expect(next_line).to_contain_text("Train a model first with train_your_region.ipynb", timeout=120_000)
    expect(next_line).to_contain_text("top-of-atmosphere")
    page.screenshot(path=str(tmp_path / "voila_explore_files.png"), full_page=True)
    if os.environ.get("GLACIERLAB_SHOT_DIR"):  # keep the screenshot for a person to look at
        shutil.copy(tmp_path / "voila_explore_files.png", Path(os.environ["GLACIERLAB_SHOT_DIR"]))
    assert region.evaluate("s => s.selectedIndex") == -1  # still no region shown
    assert _widget(page, "dropdown", "Date").locator("select").is_disabled()




def test_voila_reliability_titles_and_help(server: str, browser, tmp_path: Path) -> None:  # noqa: ANN001
    """The status gives ECE over the bins of the slider; the page explains how to read the diagram."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1300, "height": 1500})
    page.goto(f"{server}/voila/render/reliability_calibration.ipynb", timeout=180_000)
    status = page.locator(".widget-html-content", has_text="ECE over").first
    expect(status).to_contain_text("ECE over 10 bins", timeout=300_000)
    _widget(page, "dropdown", "Calibration").locator("select").select_option("isotonic")
    expect(status).to_contain_text("-> isotonic", timeout=60_000)
    expect(page.locator(".widget-html-content", has_text="How to read these diagrams").first).to_be_visible()
    assert "of entropy" not in page.inner_text("body") and "{'method'" not in page.inner_text("body")
    page.screenshot(path=str(tmp_path / "reliability.png"), full_page=True)


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
    page.wait_for_function("() => document.body.innerText.includes('1850 -> ')", timeout=30_000)
    text = page.inner_text("body")
    # the notebook ends on its printed summary (not a bare Python string); the table lives in the widget
    assert "1850 -> 2013: 1 glacier, " in text and "'showing" not in text
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
