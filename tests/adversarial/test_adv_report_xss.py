"""Stored XSS: hostile text from a catalog, an outline file or a parameter never becomes markup or script.

Payloads go into every field that reaches a report page (region name, citation, licence, outline attribute
names and values, layer names, legend labels, error messages, parameters, index summaries). Every page
part is parsed with :mod:`html.parser` and must hold no element, attribute or link the payload brought, and
the payload must still be shown as text. One real report (papermill, the shipped template, the outline-only
region ``hochalmkees`` from a catalog copy with a hostile region name, citation and licence) is checked the
same way, and in Chromium no dialog opens and no injected element exists.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(2)>",
    "[click me](javascript:alert(3))",
    "<a href='javascript:alert(4)'>x</a>",
    "</script><script>alert(5)</script>",
    '"><img src=x onerror=alert(6)>',
    "<javascript:alert(7)>",
    "<!--<script>alert(8)</script>-->",
    "![i](x onerror=alert(9))",
    "$<img src=x onerror=alert(11)>$",  # Markdown math mode
]
ALL = " ".join(PAYLOADS)


class Page(HTMLParser):
    """Elements, attributes, script blocks and visible text of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        self.text: list[str] = []
        self._script: dict[str, str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a))
        if tag == "script":
            self._script = a
            self.scripts.append((a, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts[-1] = (self.scripts[-1][0], self.scripts[-1][1] + data)
        else:
            self.text.append(data)

    def injected(self) -> list[str]:
        """What the payloads could have brought: event handlers, ``javascript:`` links, foreign elements."""
        found = []
        for tag, attrs in self.elements:
            for k, v in attrs.items():
                if k.startswith("on"):
                    found.append(f"<{tag} {k}={v!r}>")
                if k in ("href", "src", "action", "xlink:href") and re.sub(r"\s", "", v).lower().startswith(
                    "javascript:"
                ):
                    found.append(f"<{tag} {k}={v!r}>")
            if tag in ("svg", "iframe", "object", "embed") or (tag == "img" and attrs.get("src") in ("x", "")):
                found.append(f"<{tag} {attrs}>")
        code = [body for a, body in self.scripts if a.get("type", "text/javascript") in ("text/javascript", "module")]
        found += [f"script {body[:80]!r}" for body in code if "alert(" in body]  # data blocks do not run
        return found

    def shows(self, payload: str) -> bool:
        """The payload is on the page as readable text (whitespace collapsed)."""
        return " ".join(payload.split()) in " ".join("".join(self.text).split())


def markdown_html(md: str) -> str:
    """Markdown as nbconvert renders a ``text/markdown`` output into the report page."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(md)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_text_from_data_stays_text(payload: str) -> None:
    from glacierlab.reports.escape import md_code, md_text

    page = Page(markdown_html(f"# {md_text(payload)}\n\nRegion {md_code(payload)}: **{md_text(payload)}**."))
    assert page.injected() == []
    assert page.shows(payload), "the text must be shown, not dropped"


def test_report_header_and_refusal_escape_catalog_name_and_messages() -> None:
    from glacierlab.analysis.params import RunParams
    from glacierlab.analysis.result import AnalysisResult, Failure, Inputs
    from glacierlab.reports import sections

    region = SimpleNamespace(name=ALL)
    inputs = Inputs(region, None, None, f"checkpoint {ALL} refused", None, "", "")  # type: ignore[arg-type]
    res = AnalysisResult(RunParams("hochalmkees"), inputs, failures=(Failure(ALL, f"InputError: {ALL}"),))
    items = sections.header(res) + sections.model_map(res) + sections.area(res)
    page = Page("".join(markdown_html(str(x)) for x in items))
    assert page.injected() == []
    assert page.shows(ALL)


def test_web_map_data_cannot_end_its_block_and_popups_are_text() -> None:
    import geopandas as gpd
    from shapely.geometry import box

    from glacierlab.reports import webmap

    gdf = gpd.GeoDataFrame(
        {p: [p] for p in PAYLOADS[:4]} | {"glacier": [ALL]}, geometry=[box(86.9, 27.95, 86.91, 27.96)], crs=4326
    )
    layer = webmap.vector_layer(gdf, f"outlines {ALL}", properties=[*PAYLOADS[:4], "glacier"], legend="")
    legend = webmap.swatch("#d62728", f"reference {ALL}", line=True) + webmap.ramp("Blues", ALL, ALL, ALL)
    layer.legend = legend
    block = webmap.leaflet_map([layer], note=f"note {ALL}")
    page = Page(block)
    assert page.injected() == []
    kinds = [a.get("type", "") for a, _ in page.scripts]
    assert kinds == ["", "application/json", ""], "a payload opened or closed a script block"
    data = json.loads(page.scripts[1][1])  # the whole data block parses: it did not end early
    props = data["layers"][0]["geojson"]["features"][0]["properties"]
    assert props == {p: p for p in PAYLOADS[:4]} | {"glacier": ALL}  # names and values intact, as data
    assert data["layers"][0]["name"] == f"outlines {ALL}"
    assert not re.search(r"<|>|&(?!&)", page.scripts[1][1].replace("&&", "")), "raw < > & in the JSON block"
    assert "innerHTML = \"<" not in block and "bindPopup(\"<" not in block  # popups are built from text nodes
    assert page.shows(f"note {ALL}")
    legend_page = Page(data["legend"])  # the legend is markup we built: its labels are text
    assert legend_page.injected() == [] and legend_page.shows(f"reference {ALL}")


def test_figure_titles_from_data_are_not_parsed_as_mathtext() -> None:
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    from glacierlab.reports.display import Png

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_title("Glacier $\\notacommand$: inputs")  # mathtext would raise ValueError at savefig
    ax.plot([0, 1], [0, 1], label="$x^$")
    ax.legend()
    assert Png(fig).data.startswith(b"\x89PNG")


def test_tables_escape_index_columns_cells_and_caption() -> None:
    from glacierlab.reports import tables

    df = pd.DataFrame({ALL: [ALL, 1.5]}, index=pd.Index([ALL, "b"], name=ALL))
    page = Page(tables.html(df, caption=ALL))
    assert page.injected() == []
    assert page.shows(ALL)


def test_provenance_table_escapes_parameters() -> None:
    from glacierlab.reports import tables
    from glacierlab.reports.provenance import provenance_table

    record = {
        "glacierlab": {"version": ALL, "commit": ALL, "dirty": False},
        "checkpoint": {"name": ALL, "sha256": "0" * 64},
        "inputs": [{"catalog_id": ALL, "file": ALL, "sha256": "1" * 64, "matches": False}],
        "parameters": {"date": ALL, "bbox": None},
        "packages": {"numpy": ALL},
        "run": {"started_utc": ALL, "finished_utc": ALL, "seconds": 1.0},
        "machine": {"platform": ALL, "python": "3", "cpus": 2},
    }
    page = Page(tables.html(provenance_table(record), ALL))
    assert page.injected() == []


def test_index_escapes_summaries_errors_and_refuses_script_links(tmp_path: Path) -> None:
    from glacierlab.reports.index import write_index, write_summary

    region = tmp_path / "alpha"
    region.mkdir()
    (region / "javascript:alert(10)").write_text("a file whose name is a script link")
    write_summary(region, {"area": ALL, "change": ALL, "links": {ALL: "javascript:alert(10)"}})
    table = pd.DataFrame(
        {
            "region": ["alpha", "beta"],
            "status": ["ok", "failed"],
            "seconds": [1.0, 2.0],
            "error": ["", f"ReportExecutionError: region 'beta': cell [3] raised ValueError: {ALL}"],
            "traceback": ["", ALL],
            "notebook": ["", ""],
            "report": [str(region / "report.html"), ""],
        }
    )
    page = Page(write_index(table, tmp_path).read_text(encoding="utf-8"))
    assert page.injected() == []
    assert page.shows(ALL)
    hrefs = [a["href"] for t, a in page.elements if t == "a"]
    assert "alpha/javascript%3Aalert%2810%29" in hrefs  # a relative, percent-encoded link: no scheme


# ------------------------------------------------------------------ one real report with a hostile catalog


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Path]:
    """``hochalmkees`` (outlines only, ~1 min) run by the real runner with a hostile name, citation, licence."""
    pytest.importorskip("papermill", reason="report tests need the notebooks extra: pip install -e '.[notebooks]'")
    import yaml

    from glacierlab.data.catalog import DEFAULT_CATALOG
    from glacierlab.reports.runner import run_reports

    root = tmp_path_factory.mktemp("hostile_report")
    cat = yaml.safe_load(DEFAULT_CATALOG.read_text(encoding="utf-8"))
    cat["regions"]["hochalmkees"]["name"] = ALL + " $\\notacommand$"  # also in figure titles (mathtext)
    cat["regions"]["hochalmkees"]["notes"] = ALL
    for src in cat["sources"]:
        if src["id"] == "hochalmkees_glims_outlines":
            src.update(citation=ALL, licence=ALL, notes=ALL)
    (root / "catalog.yaml").write_text(yaml.safe_dump(cat, sort_keys=False), encoding="utf-8")
    saved = {k: os.environ.get(k) for k in ("GLACIERLAB_CATALOG", "GLACIERLAB_CACHE_DIR")}
    os.environ["GLACIERLAB_CATALOG"] = str(root / "catalog.yaml")  # the kernel inherits both
    os.environ["GLACIERLAB_CACHE_DIR"] = str(root / "cache")
    try:
        table = run_reports(["hochalmkees"], root / "out", progress=False, timeout=600)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert table["status"].tolist() == ["ok"], table["error"].tolist()
    yield root / "out"


@pytest.mark.slow
def test_real_report_keeps_hostile_catalog_text_as_text(hostile_report: Path) -> None:
    report = hostile_report / "hochalmkees" / "report.html"
    page = Page(report.read_text(encoding="utf-8"))
    assert page.injected() == []
    assert page.shows(ALL), "the hostile region name is shown as text in the heading"
    title = re.search(r"<title>(.*?)</title>", report.read_text(encoding="utf-8"), re.S)
    assert title and "<" not in title.group(1)
    index = Page((hostile_report / "index.html").read_text(encoding="utf-8"))
    assert index.injected() == []
    for name in ("provenance.json", "summary.json", "export/item.json", "_done.json"):
        bare: list[str] = []
        json.loads((hostile_report / "hochalmkees" / name).read_text(encoding="utf-8"), parse_constant=bare.append)
        assert bare == [], f"{name} holds bare {bare}: not strict JSON"


#: Elements a payload could have brought into the live DOM (event handlers, ``x`` images, script links).
INJECTED_JS = """() => Array.from(document.querySelectorAll('*')).filter(e =>
     Array.from(e.attributes).some(a => a.name.startsWith('on')) ||
     (e.tagName === 'IMG' && e.getAttribute('src') === 'x') ||
     (e.tagName === 'A' && /^\\s*javascript:/i.test(e.getAttribute('href') || ''))
   ).map(e => e.outerHTML.slice(0, 120))"""


@pytest.fixture
def chromium_page() -> Iterator[tuple[object, list[str]]]:
    """A Chromium page (playwright, ``/usr/bin/chromium``) and the messages of every dialog it opened."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip(f"{chromium} is missing: run `bash tools/install_browser.sh` (apt-installs Debian chromium)")
    pytest.importorskip("playwright", reason="pip install 'glacierlab[dev]' (playwright==1.65.2)")
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as p:
        flags = ["--no-sandbox", "--disable-gpu"]
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=flags)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 700})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            yield page, dialogs
        finally:
            browser.close()


@pytest.mark.browser
def test_web_map_popup_in_chromium_shows_hostile_attributes_as_text(chromium_page, tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    from glacierlab.reports import webmap

    page, dialogs = chromium_page
    gdf = gpd.GeoDataFrame({PAYLOADS[0]: [PAYLOADS[4]], "glacier": [ALL]}, geometry=[box(13.0, 47.0, 13.1, 47.1)])
    layer = webmap.vector_layer(gdf.set_crs(4326), f"outlines {ALL}", properties=[PAYLOADS[0], "glacier"])
    html = tmp_path / "map.html"
    html.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{webmap.leaflet_map([layer])}"
                    "</body></html>", encoding="utf-8")
    page.goto(html.as_uri())
    page.wait_for_selector(".leaflet-interactive", timeout=30_000)
    bb = page.query_selector(".leaflet-interactive").bounding_box()
    page.mouse.click(bb["x"] + bb["width"] / 2, bb["y"] + bb["height"] / 2)  # inside the outline
    page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
    popup = page.inner_text(".leaflet-popup-content")
    control = page.inner_text(".leaflet-control-layers")
    assert PAYLOADS[0] in popup and PAYLOADS[4] in popup and "<img src=x onerror=alert(1)>" in popup
    assert f"outlines {PAYLOADS[0]}" in control  # the layer name is shown as text
    assert page.evaluate(INJECTED_JS) == [] and dialogs == []


@pytest.mark.slow
@pytest.mark.browser
def test_real_report_in_chromium_runs_no_payload(hostile_report: Path, chromium_page) -> None:
    page, dialogs = chromium_page
    page.goto((hostile_report / "hochalmkees" / "report.html").as_uri())
    page.wait_for_selector(".leaflet-container", timeout=60_000)
    page.wait_for_timeout(1500)
    bad = page.evaluate(INJECTED_JS)
    heading = page.inner_text("h1")
    layers = page.inner_text(".leaflet-control-layers")
    assert dialogs == [] and bad == []
    assert "<img src=x onerror=alert(1)>" in heading  # shown as text
    assert "GLIMS" in layers
