"""Report outputs: export bundle (GeoPackage layers, CSV, STAC item), provenance, index page, tables, web map."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import xarray as xr
from affine import Affine

from glacierlab.reports.export import layer_name, model_layer, stac_item, write_geopackage
from glacierlab.reports.index import cause, write_index, write_summary
from glacierlab.reports.provenance import provenance_record, provenance_table, write_provenance
from glacierlab.reports.tables import change_table, glacier_table, html
from glacierlab.reports.webmap import ASSETS, image_layer, leaflet_assets, leaflet_map, vector_layer


def _grid() -> xr.DataArray:
    import rioxarray  # noqa: F401

    t = Affine(30.0, 0, 480_000.0, 0, -30.0, 3_100_000.0)
    da = xr.DataArray(
        np.linspace(0, 1, 40 * 50).reshape(40, 50).astype("float32"),
        dims=("y", "x"),
        coords={"y": 3_100_000.0 - 30 * (np.arange(40) + 0.5), "x": 480_000.0 + 30 * (np.arange(50) + 0.5)},
    )
    return da.rio.write_crs("EPSG:32645").rio.write_transform(t)


def _polygons() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"RGIId": ["RGI60-15.1", "RGI60-15.2"]},
        geometry=[
            shapely.box(480_100, 3_099_000, 480_600, 3_099_500),
            shapely.box(481_000, 3_099_000, 481_300, 3_099_300),
        ],
        crs="EPSG:32645",
    )


def test_geopackage_layers_and_model_attributes(tmp_path: Path) -> None:
    import pyogrio

    areas = pd.DataFrame(
        {"expected_km2": [0.24, 0.1], "sd_km2": [0.01, 0.02], "low_km2": [0.22, 0.07], "high_km2": [0.26, 0.13]},
        index=pd.Index(["RGI60-15.1", "RGI60-15.2"], name="RGIId"),
    )
    areas.attrs["level"] = 0.9
    judged = pd.DataFrame({"iou": [0.8, 0.5], "inside_band": [True, False]}, index=areas.index)
    model = model_layer(_polygons(), "RGIId", date="2000-10-30", areas=areas, judged=judged)
    assert {"glacier", "date", "area_km2", "expected_km2", "low_km2", "high_km2", "iou", "inside_band"} <= set(model)
    assert model["area_km2"].tolist() == pytest.approx([0.25, 0.09])
    ref = _polygons().rename(columns={"RGIId": "glacier"}).assign(source_date="2010-04-09")
    path = write_geopackage(
        {layer_name("model", "2000-10-30"): model, layer_name("reference", "2010-04-09"): ref}, tmp_path / "o.gpkg"
    )
    names = [n for n, _ in pyogrio.list_layers(path)]
    assert names == ["model_2000-10-30", "reference_2010-04-09"]
    back = gpd.read_file(path, layer="model_2000-10-30")
    assert back["inside_band"].tolist() == [True, False] and back["iou"].tolist() == [0.8, 0.5]
    assert layer_name("outlines", "ALETSCH mask (2003)") == "outlines_ALETSCH-mask-2003"
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_stac_item_describes_the_bundle_with_relative_assets(tmp_path: Path) -> None:
    import pystac

    export = tmp_path / "everest" / "export"
    export.mkdir(parents=True)
    (export / "outlines.gpkg").write_bytes(b"x")
    (export / "glaciers.csv").write_text("a\n1\n")
    (export / "2000-10-30_mask.tif").write_bytes(b"x")
    path = stac_item(
        export,
        item_id="glacierlab-everest",
        grid=_grid(),
        dates=["2000-10-30", "2020-04-07"],
        assets={
            "outlines": ("outlines.gpkg", "outlines", ["data"]),
            "glaciers": ("glaciers.csv", "table", ["metadata"]),
            "report": ("../report.html", "report", ["overview"]),
            "mask": ("2000-10-30_mask.tif", "mask", ["data"]),
        },
        properties={"glacierlab:version": "0"},
    )
    item = pystac.Item.from_file(str(path))
    assert item.id == "glacierlab-everest" and item.properties["proj:code"] == "EPSG:32645"
    assert item.properties["start_datetime"].startswith("2000-10-30")
    assert item.assets["outlines"].media_type == "application/geopackage+sqlite3"
    raw = json.loads(path.read_text())
    assert raw["assets"]["report"]["href"] == "../report.html" and 86.7 < raw["bbox"][0] < 86.9
    classes = raw["assets"]["mask"]["classification:classes"]
    assert [c["value"] for c in classes] == [0, 1, 255] and classes[1]["name"] == "glacier"
    assert any("classification" in e for e in raw["stac_extensions"])
    assert "classification:classes" not in raw["assets"]["glaciers"]
    with pytest.raises(Exception, match="leaves its folder|relative"):
        stac_item(export, item_id="x", grid=_grid(), dates=["2000"], assets={"bad": ("../../etc/passwd", "", [])})


def test_provenance_records_code_checkpoint_inputs_and_machine(tmp_path: Path, shared_data: Path) -> None:
    import datetime as dt

    from glacierlab.weights import shipped_checkpoint_path

    ck = shipped_checkpoint_path()
    rec = provenance_record(
        region="everest",
        parameters={"region": "everest", "bbox": None},
        started=dt.datetime.now(dt.UTC),
        checkpoint=ck,
        sources=["everest_rgi60_outlines", ""],
    )
    assert rec["checkpoint"]["sha256"] == hashlib.sha256(ck.read_bytes()).hexdigest()
    assert rec["glacierlab"]["version"] and rec["glacierlab"]["commit"]
    files = {f["file"]: f for f in rec["inputs"]}
    assert files["15_rgi60_glacier_outlines.gpkg"]["matches"]
    assert files["15_rgi60_glacier_outlines.gpkg"]["sha256"] == (
        "d1a5bcd4bd4731a24c2398c016a6f5a8064160fedd5bab10609adacda9ba41ef"
    )
    assert rec["packages"]["numpy"] == np.__version__ and rec["machine"]["cpus"] >= 1
    path = write_provenance(rec, tmp_path)
    assert json.loads(path.read_text())["region"] == "everest"
    table = provenance_table(rec)
    assert "checkpoint" in table.index and ck.name in table.loc["checkpoint", "value"]


def test_index_groups_failures_by_cause_and_shows_area_and_change(tmp_path: Path) -> None:
    for r in ("a", "b", "c", "d"):
        (tmp_path / r).mkdir()
    write_summary(
        tmp_path / "a",
        {
            "area": "238.5 [229.4, 247.7]",
            "change": "2000 → 2020: +32 ± 8 km²",
            "level": 0.95,
            "links": {"STAC item": "export/item.json"},
        },
    )
    (tmp_path / "a" / "export").mkdir()
    (tmp_path / "a" / "export" / "item.json").write_text("{}")
    (tmp_path / "e").mkdir()
    write_summary(tmp_path / "e", {"area": "1.0 ± 0.1", "failed_steps": ["other dates <b>"], "level": 0.95})
    (tmp_path / "b" / "notebook.ipynb").write_text("{}")
    (tmp_path / "c" / "notebook.ipynb").write_text("{}")
    err = (
        "ReportExecutionError: region '{r}': cell [7] raised GridError: CRS EPSG:4326 is not projected "
        "(executed notebook kept at /x)"
    )
    table = pd.DataFrame(
        {
            "region": ["a", "b", "c", "d", "e"],
            "status": ["ok", "failed", "failed", "failed", "ok"],
            "seconds": [12.3, 2.0, 3.0, 1.0, 1.0],
            "error": ["", err.format(r="b"), err.format(r="c"), "DataNotFoundError: file x missing", ""],
            "traceback": ["", "tb", "tb", "tb", ""],
            "notebook": ["", str(tmp_path / "b" / "notebook.ipynb"), str(tmp_path / "c" / "notebook.ipynb"), "", ""],
            "report": [str(tmp_path / "a" / "report.html"), "", "", "", str(tmp_path / "e" / "report.html")],
        }
    )
    page = write_index(table, tmp_path).read_text()
    assert "5 regions: 3 failed, 2 ok." in page and "Skipped regions" not in page  # no note without skips
    assert "incomplete: other dates &lt;b&gt; (see the report)" in page  # a report with a failed step says so
    assert page.count("95 %") == 1  # the interval level, stated once
    assert "238.5 [229.4, 247.7]" in page and "+32 ± 8 km²" in page and 'href="a/export/item.json"' in page
    assert "<h3>GridError (2 regions)</h3>" in page and "<h3>DataNotFoundError (1 region)</h3>" in page
    assert page.index("GridError (2") < page.index("DataNotFoundError (1")  # largest group first
    assert 'href="b/notebook.ipynb"' in page and "CRS EPSG:4326 is not projected" in page
    assert "executed notebook kept" not in page  # the one-line error only
    assert cause(err.format(r="b")) == ("GridError", "CRS EPSG:4326 is not projected")


def test_display_tables_label_units_and_do_not_overflow() -> None:
    judged = pd.DataFrame(
        {
            "area_a_km2": [58.3312, 2.1234],
            "area_b_km2": [55.2301, 1.9],
            "area_dev_rel": [-0.0531, -0.105],
            "iou": [0.7712, 0.6],
            "mean_boundary_distance_m": [133.04, 50.2],
            "inside_band": [False, True],
        },
        index=pd.Index(["RGI60-15.09991", "RGI60-15.09965"], name="RGIId"),
    )
    areas = pd.DataFrame(
        {"expected_km2": [51.48, 1.6], "low_km2": [47.97, 1.0], "high_km2": [54.99, 2.2]}, index=judged.index
    )
    areas.attrs["level"] = 0.9
    t = glacier_table(judged, areas, pd.Series({"RGI60-15.09991": "2010-04-09"}))
    assert all("area_a" not in c and "area_b" not in c for c in t.columns)
    # the level is stated once in the report's header, not in every column
    assert "reference area (km²)" in t.columns and "expected area [interval] (km²)" in t.columns
    assert t.iloc[0]["expected area [interval] (km²)"] == "51.5 [48.0, 55.0]"
    page = str(html(t, "caption"))
    assert "overflow-x:auto" in page and "inside expert band" in page and ">no<" in page
    ch = pd.DataFrame(
        {
            "covered": [1.0, 0.5],
            "area_a_km2": [2.0, 3.0],
            "area_b_km2": [2.5, 3.1],
            "change_km2": [0.5, 0.1],
            "change_sd_km2": [0.1, 0.2],
            "gained_km2": [0.6, 0.3],
            "lost_km2": [0.1, 0.2],
            "stable_km2": [1.9, 2.8],
            "exceeds_uncertainty": [True, False],
        },
        index=pd.Index(["g", "all glaciers"], name="RGIId"),
    )
    c = change_table(ch, "2000", "2020")
    assert list(c.index) == ["g", "all glaciers"] and c.loc["g", "change ± (km²)"] == "+0.50 ± 0.20"
    assert 'class="gl-yes"' in str(html(c))  # validated: an established change may be green
    unvalidated = change_table(ch, "2000", "2020", validated=False)
    assert 'class="gl-yes"' not in str(html(unvalidated))  # never green for a change whose uncertainty is not validated
    assert list(unvalidated.iloc[:, -1]) == ["formally", "no"]
    # one column, one precision: 2.00 next to 2.12, not "2.0"; integers with a thin space; missing as a dash
    mixed = pd.DataFrame(
        {"area (km²)": [187.6, 172.14, np.nan], "n": [1200.0, 56.0, 3.0], "d (m)": pd.array([5, None, 7], "Int64")},
        index=pd.Index(["a", "b", "c"], name="glacier"),
    )
    cells = re.findall(r"<td>([^<]*)</td>", str(html(mixed)))
    assert cells == ["187.60", "1 200", "5", "172.14", "56", "–", "–", "3", "7"]


def test_leaflet_is_vendored_pinned_and_inlined_without_requests() -> None:
    js = (ASSETS / "leaflet.js").read_bytes()
    assert hashlib.sha256(js).hexdigest() == "db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a"
    assert "BSD 2-Clause" in (ASSETS / "LICENSE").read_text()
    js_text, css = leaflet_assets()
    assert "sourceMappingURL" not in js_text and "url(images/" not in css and "data:image/png;base64" in css
    layers = [
        image_layer(_grid(), "probability", cmap="Blues", visible=True),
        vector_layer(_polygons(), "outlines", properties=["RGIId"]),
    ]
    page = str(leaflet_map(layers))
    assert page.count("<script>") == 2 and "L.control.layers" in page and "RGI60-15.1" in page
    for tag in re.findall(r"<(?:script|link|img)\b[^>]*>", page):
        assert not re.search(r"(src|href)=", tag), tag  # everything inline
    assert "url(http" not in page and "@import" not in page


def test_map_popups_read_as_words_and_the_layer_control_shows_colours() -> None:
    gdf = _polygons().assign(area_km2=[0.25, 0.09], low_km2=[0.2, 0.05])
    layer = vector_layer(gdf, "model outlines", color="#d62728", properties=["RGIId", "area_km2", "low_km2"])
    props = json.loads(layer.data)["features"][0]["properties"]
    assert set(props) == {"RGIId", "area (km²)", "interval low (km²)"}  # no raw column names in popups
    page = str(leaflet_map([image_layer(_grid(), "probability", cmap="Blues"), layer]))
    assert "border:2px solid #d62728" in page and "linear-gradient" in page  # swatches next to the names


def test_map_panels_name_a_custom_crs_briefly(shared_data: Path) -> None:
    """OGGM's local transverse Mercator once put its whole WKT under every panel (a 4000 px wide figure)."""
    from glacierlab.data.stack import stack_region
    from glacierlab.geo import crs_label
    from glacierlab.reports.plot import region_overview

    stack = stack_region("columbia")
    assert stack.rio.crs.to_epsg() is None  # the case: a CRS without an EPSG code
    assert crs_label(stack.rio.crs) == "Local transverse Mercator"
    assert crs_label("EPSG:32645") == "EPSG:32645" and crs_label(None) == "no CRS"
    fig = region_overview(stack, title="columbia")
    labels = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
    assert labels and all(len(label) < 60 for label in labels), labels


def test_renderers_show_and_publish_an_outline_only_result_without_a_kernel(tmp_path: Path, shared_data: Path) -> None:
    import json

    import matplotlib

    matplotlib.use("agg")
    from glacierlab.analysis import RunParams, run_analysis
    from glacierlab.reports import sections, sections_out, sections_time

    out = tmp_path / "hochalmkees"
    res = run_analysis(RunParams("hochalmkees", out_dir=str(out)))
    items = [
        *sections.header(res),
        *sections.inputs(res),
        *sections.model_map(res),
        *sections.area(res),
        *sections_time.change_over_time(res),
        *sections_out.interactive_map(res),
        *sections_out.export_bundle(res),
        *sections_out.provenance(res),
    ]
    text = "\n".join(str(x) for x in items if isinstance(x, str))
    assert "# Hochalmkees" in text and "outlines only" in text and "### Outlines over time" in text
    assert "## Inputs on one grid" not in text and "## Glacier map from the model" not in text  # do not apply
    assert "could not be computed" not in text and "## Export bundle" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["change"] == res.summary["change"] and summary["level"] == 0.95
    assert (out / "export" / "outline_changes.csv").is_file() and (out / "export" / "item.json").is_file()
