"""The last sections of the regional report: the offline interactive map, the export bundle, provenance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from glacierlab.reports import tables
from glacierlab.reports.context import Md, Report
from glacierlab.reports.sections import caption

if TYPE_CHECKING:
    import geopandas as gpd
    import xarray as xr

#: Colours of reference outline groups (by source date) and of the model.
PALETTE = ("#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
MODEL = "#d62728"


def _grid_array(rep: Report, arr: np.ndarray) -> xr.DataArray:
    import xarray as xr

    from glacierlab.geo import georeference, rio_transform

    assert rep.stack is not None
    dims = ("band", "y", "x") if arr.ndim == 3 else ("y", "x")
    da = xr.DataArray(arr, dims=dims, coords={"y": rep.stack["y"].values, "x": rep.stack["x"].values})
    return georeference(da, rep.stack.rio.crs, rio_transform(rep.stack))


def _mask_polygons(rep: Report, p: np.ndarray) -> gpd.GeoDataFrame:
    from glacierlab.geo import rio_transform
    from glacierlab.outlines.polygons import mask_to_polygons

    assert rep.stack is not None
    return mask_to_polygons(np.nan_to_num(p) > 0.5, rio_transform(rep.stack), rep.stack.rio.crs, min_area_m2=1e4)


def _reference_groups(rep: Report) -> dict[str, gpd.GeoDataFrame]:
    from glacierlab.reports.timeline import source_dates

    if rep.inventory is None or not rep.id_col:
        return {}
    dates = source_dates(rep.inventory, rep.id_col)
    inv = rep.inventory.assign(source_date=dates.reindex(rep.inventory[rep.id_col].astype(str)).to_numpy())
    if rep.stack is not None:  # the part inside the report's frame
        inv = inv.to_crs(rep.stack.rio.crs).clip(rep.stack.rio.bounds())
        inv = inv[~inv.geometry.is_empty]
    return {str(d): g for d, g in inv.groupby("source_date", sort=True)}


def interactive_map(rep: Report) -> list[Any]:
    """The optical images, probabilities and outlines as zoomable, toggleable layers (works offline)."""
    from glacierlab.reports import webmap
    from glacierlab.reports.plot import rgb_image

    layers: list[webmap.Layer] = []
    legend = []
    if rep.stack is not None and "optical" in rep.stack:
        from glacierlab.data.stack import group

        rgb = np.moveaxis(rgb_image(group(rep.stack, "optical")), -1, 0)
        layers.append(webmap.image_layer(_grid_array(rep, rgb), f"image {rep.main_label}", base=True, opacity=1))
        for m in rep.other:
            if m.rgb is not None:
                layers.append(
                    webmap.image_layer(
                        _grid_array(rep, np.moveaxis(m.rgb, -1, 0)), f"image {m.label}", base=True, opacity=1
                    )
                )
    elif rep.stack is not None and "dem" in rep.stack:
        from glacierlab.data.stack import group

        elev = group(rep.stack, "dem").sel(band="elevation").values
        lo, hi = np.nanpercentile(elev, [2, 98])
        layers.append(
            webmap.image_layer(
                _grid_array(rep, elev), "elevation", cmap="terrain", vmin=lo, vmax=hi, base=True, opacity=1
            )
        )
        legend.append(webmap.ramp("terrain", "elevation (m)", f"{lo:.0f}", f"{hi:.0f}"))
    if rep.p is not None:
        layers.append(
            webmap.image_layer(
                _grid_array(rep, rep.p), f"glacier probability {rep.main_date}", cmap="Blues", opacity=0.8
            )
        )
        legend.append(webmap.ramp("Blues", "calibrated glacier probability"))
    for m in rep.other:
        if m.p is not None:
            layers.append(
                webmap.image_layer(_grid_array(rep, m.p), f"glacier probability {m.date}", cmap="Blues", opacity=0.8)
            )
    for i, (d, g) in enumerate(_reference_groups(rep).items()):
        colour = PALETTE[i % len(PALETTE)]
        layers.append(webmap.vector_layer(g, f"reference outlines ({d})", color=colour, properties=[rep.id_col]))
        legend.append(webmap.swatch(colour, f"reference {d}", line=True))
    if rep.model_polygons is not None:
        poly = _model_export_layer(rep)
        props = [c for c in ("glacier", "area_km2", "expected_km2", "low_km2", "high_km2", "iou") if c in poly]
        layers.append(
            webmap.vector_layer(poly, f"model outlines {rep.main_date}", color=MODEL, weight=2, properties=props)
        )
        legend.append(webmap.swatch(MODEL, f"model {rep.main_date}", line=True))
    for m in rep.other:
        if m.p is not None:
            layers.append(
                webmap.vector_layer(
                    _mask_polygons(rep, m.p),
                    f"model outlines {m.date}",
                    color="#1f77b4",
                    visible=False,
                    properties=["area_km2"],
                )
            )
    for i, e in enumerate(rep.series):
        colour = PALETTE[i % len(PALETTE)] if i not in (0, len(rep.series) - 1) else ("#2ca02c" if i else "#d62728")
        layers.append(
            webmap.vector_layer(
                e.outlines, e.label, color=colour, visible=i in (0, len(rep.series) - 1), simplify_m=2.0
            )
        )
    if not layers:
        return [Md("Nothing to map for this region.")]
    images = "one image at a time, overlays toggled" if any(ly.kind == "base" for ly in layers) else "outlines toggled"
    note = (
        f"Layer control (top right): {images}; click an outline for its figures. Everything is inside this "
        "page: it works offline."
    )
    return [
        Md("## Interactive map"),
        webmap.leaflet_map(layers, note=note),
        caption(
            "Zoom into a glacier and toggle the probability and the outlines of each date: where the model's "
            "outline (red) leaves the reference, check the image for debris, snow or shadow."
            if rep.p is not None
            else "Zoom in and toggle the dated outlines: the first (red) and last (green) are shown; the change "
            "between them is in the tables above."
        ),
    ]


def _model_export_layer(rep: Report) -> gpd.GeoDataFrame:
    from glacierlab.reports.export import model_layer

    assert rep.model_polygons is not None
    return model_layer(rep.model_polygons, rep.id_col, date=rep.main_date, areas=rep.areas, judged=rep.judged)


def _glaciers_csv(rep: Report) -> pd.DataFrame:
    assert rep.judged is not None
    t = rep.judged.rename(columns={"area_a_km2": "reference_area_km2", "area_b_km2": "model_area_km2"})
    if rep.areas is not None:
        t = t.join(rep.areas.rename(columns=lambda c: f"expected_{c}" if c != "expected_km2" else c))
    t.index.name = rep.id_col
    return t


def export_bundle(rep: Report) -> list[Any]:
    """Write ``outlines.gpkg``, the CSV tables and ``item.json`` (STAC) into ``<region>/export``."""
    if rep.export is None:
        return [Md("No export bundle (`out_dir` is empty: the report runs without writing files).")]
    from glacierlab.reports.export import bundle_assets, layer_name, stac_item, write_csv, write_geopackage
    from glacierlab.reports.series import series_areas

    layers: dict[str, Any] = {}
    csvs: dict[str, pd.DataFrame] = {}
    if rep.model_polygons is not None:
        layers[layer_name("model", rep.main_date)] = _model_export_layer(rep)
        csvs["glaciers"] = _glaciers_csv(rep)
    for d, g in _reference_groups(rep).items():
        layers[layer_name("reference", d)] = g.rename(columns={rep.id_col: "glacier"})[
            ["glacier", "source_date", "geometry"]
        ]
    for m in rep.other:
        if m.p is not None:
            layers[layer_name("model", m.date)] = _mask_polygons(rep, m.p).assign(date=m.date)
    for label, ch in rep.changes.items():
        csvs[f"change_{layer_name(rep.main_date, 'to', label.split(' ')[0])}"] = ch
    for e in rep.series:
        layers[layer_name("outlines", e.label.replace("#", ""))] = e.outlines.assign(date=e.date_text)
    if rep.date_groups is not None:
        csvs["reference_date_groups"] = rep.date_groups
    if rep.series:
        csvs["outline_areas"] = series_areas(rep.series).set_index("outline")
    if rep.series_changes is not None:
        csvs["outline_changes"] = rep.series_changes.set_index("from")  # with to, from_date, to_date
    if rep.check is not None:
        csvs["area_coverage_heldout"] = rep.check.coverage.set_index("kind")
    if rep.region_area is not None:
        csvs["region_area"] = pd.DataFrame([rep.region_area], index=pd.Index([rep.main_date], name="date"))
    written = []
    if layers:
        rep.files["outlines"] = write_geopackage(layers, rep.export / "outlines.gpkg")
        written.append(f"`outlines.gpkg` ({len(layers)} layers: {', '.join(layers)})")
    for name, t in csvs.items():
        rep.files[name] = write_csv(t, rep.export / f"{name}.csv")
    written += [f"`{n}.csv`" for n in csvs]
    cogs = sorted(p.name for p in rep.export.glob("*.tif"))
    written += [f"`{c}`" for c in cogs]
    dates = [rep.main_date] + [m.date for m in rep.other if m.p is not None]
    dates += [e.date_text.split("–")[0] for e in rep.series]  # an inventory's span: its first year
    extra = {
        "report": ("../report.html", "the report", ["overview"]),
        "provenance": ("../provenance.json", "provenance", ["metadata"]),
    }
    from glacierlab import __version__

    props = {
        "glacierlab:version": __version__,
        "glacierlab:region": rep.region,
        "glacierlab:checkpoint": rep.ck_path.name if rep.ck_path else None,
    }
    rep.files["stac"] = stac_item(
        rep.export,
        item_id=f"glacierlab-{rep.region}",
        grid=rep.stack,
        bbox=None if rep.stack is not None else _series_bbox(rep),
        dates=[d for d in dates if d],
        assets=bundle_assets(rep.export, extra=extra),
        properties=props,
    )
    written.append("`item.json` (STAC Item describing these files)")
    return [Md("## Export bundle\n\nIn `export/` next to this report: " + ", ".join(written) + ".")]


def _series_bbox(rep: Report) -> list[float]:
    """Lon/lat bounds of the outline series (the region's bbox when there is none)."""
    import shapely

    if rep.series:
        geoms = [shapely.union_all(e.outlines.to_crs(4326).geometry.to_numpy()) for e in rep.series]
        return [float(v) for v in shapely.union_all(geoms).bounds]
    assert rep.reg is not None
    return list(rep.reg.bbox)


def provenance(rep: Report) -> list[Any]:
    """Provenance table; writes ``provenance.json`` and the index summary when the report writes files."""
    from glacierlab.reports.index import write_summary
    from glacierlab.reports.provenance import provenance as record
    from glacierlab.reports.provenance import provenance_table, write_provenance

    extra = {}
    if rep.error_model is not None:
        extra["area_error_model"] = rep.error_model.to_dict()
    rec = record(
        region=rep.region,
        parameters=rep.parameters,
        started=rep.started,
        checkpoint=rep.ck_path,
        sources=sorted(s for s in rep.sources if s),
        extra=extra,
    )
    out: list[Any] = [Md("## Provenance")]
    if rep.out_dir:
        write_provenance(rec, rep.out_dir)
        links = {
            "report": "report.html",
            "provenance": "provenance.json",
            "STAC item": "export/item.json",
            "outlines.gpkg": "export/outlines.gpkg",
        }
        write_summary(rep.out_dir, {**rep.summary, "level": rep.level, "links": links})
        out.append(Md("Also in `provenance.json` next to this report (with every input file's full sha256)."))
    out.append(tables.html(provenance_table(rec), "What made these numbers."))
    return out
