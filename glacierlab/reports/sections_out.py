"""The last sections of the regional report: the offline interactive map, the export bundle, provenance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from glacierlab.reports import tables
from glacierlab.reports.display import Md
from glacierlab.reports.sections import caption

if TYPE_CHECKING:
    import geopandas as gpd
    import xarray as xr

    from glacierlab.analysis.result import AnalysisResult

#: Colours of reference outline groups (by source date) and of the model.
PALETTE = ("#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
MODEL = "#d62728"


def _grid_array(stack: xr.Dataset, arr: np.ndarray) -> xr.DataArray:
    import xarray as xr

    from glacierlab.geo import georeference, rio_transform

    dims = ("band", "y", "x") if arr.ndim == 3 else ("y", "x")
    da = xr.DataArray(arr, dims=dims, coords={"y": stack["y"].values, "x": stack["x"].values})
    return georeference(da, stack.rio.crs, rio_transform(stack))


def _reference_groups(res: AnalysisResult) -> dict[str, gpd.GeoDataFrame]:
    return dict(res.glaciers.reference_groups) if res.glaciers is not None else {}


def interactive_map(res: AnalysisResult) -> list[Any]:
    """The optical images, probabilities and outlines as zoomable, toggleable layers (works offline)."""
    from glacierlab.reports import webmap
    from glacierlab.reports.plot import rgb_image

    stack, mm, main_date = res.inputs.stack, res.model_map, res.inputs.main_date
    id_col = res.glaciers.id_col if res.glaciers is not None else ""
    layers: list[webmap.Layer] = []
    legend = []
    if stack is not None and "optical" in stack:
        from glacierlab.data.stack import group

        rgb = np.moveaxis(rgb_image(group(stack, "optical")), -1, 0)
        layers.append(
            webmap.image_layer(_grid_array(stack, rgb), f"image {res.inputs.main_label}", base=True, opacity=1)
        )
        for m in res.other_dates:
            if m.optical is not None and m.prediction is not None:
                layers.append(
                    webmap.image_layer(
                        _grid_array(stack, np.moveaxis(rgb_image(m.optical), -1, 0)),
                        f"image {m.label}",
                        base=True,
                        opacity=1,
                    )
                )
    elif stack is not None and "dem" in stack:
        from glacierlab.data.stack import group

        elev = group(stack, "dem").sel(band="elevation").values
        lo, hi = np.nanpercentile(elev, [2, 98])
        layers.append(
            webmap.image_layer(
                _grid_array(stack, elev), "elevation", cmap="terrain", vmin=lo, vmax=hi, base=True, opacity=1
            )
        )
        legend.append(webmap.ramp("terrain", "elevation (m)", f"{lo:.0f}", f"{hi:.0f}"))
    if mm is not None and stack is not None:
        layers.append(
            webmap.image_layer(_grid_array(stack, mm.p), f"glacier probability {main_date}", cmap="Blues", opacity=0.8)
        )
        legend.append(webmap.ramp("Blues", "calibrated glacier probability"))
    for m in res.other_dates:
        if m.p is not None and stack is not None:
            layers.append(
                webmap.image_layer(_grid_array(stack, m.p), f"glacier probability {m.date}", cmap="Blues", opacity=0.8)
            )
    for i, (d, g) in enumerate(_reference_groups(res).items()):
        colour = PALETTE[i % len(PALETTE)]
        layers.append(webmap.vector_layer(g, f"reference outlines ({d})", color=colour, properties=[id_col]))
        legend.append(webmap.swatch(colour, f"reference {d}", line=True))
    if res.glaciers is not None:
        poly = _model_export_layer(res)
        props = [c for c in ("glacier", "area_km2", "expected_km2", "low_km2", "high_km2", "iou") if c in poly]
        layers.append(webmap.vector_layer(poly, f"model outlines {main_date}", color=MODEL, weight=2, properties=props))
        legend.append(webmap.swatch(MODEL, f"model {main_date}", line=True))
    for m in res.other_dates:
        if m.outlines is not None:
            layers.append(
                webmap.vector_layer(
                    m.outlines,
                    f"model outlines {m.date}",
                    color="#1f77b4",
                    visible=False,
                    properties=["area_km2"],
                )
            )
    extents = res.series.extents if res.series is not None else ()
    for i, e in enumerate(extents):
        colour = PALETTE[i % len(PALETTE)] if i not in (0, len(extents) - 1) else ("#2ca02c" if i else "#d62728")
        layers.append(
            webmap.vector_layer(e.outlines, e.label, color=colour, visible=i in (0, len(extents) - 1), simplify_m=2.0)
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
            if mm is not None
            else "Zoom in and toggle the dated outlines: the first (red) and last (green) are shown; the change "
            "between them is in the tables above."
        ),
    ]


def _model_export_layer(res: AnalysisResult) -> gpd.GeoDataFrame:
    from glacierlab.reports.export import model_layer

    g = res.glaciers
    assert g is not None
    return model_layer(g.model_polygons, g.id_col, date=res.inputs.main_date, areas=g.areas, judged=g.judged)


def _glaciers_csv(res: AnalysisResult) -> pd.DataFrame:
    g = res.glaciers
    assert g is not None
    t = g.judged.rename(columns={"area_a_km2": "reference_area_km2", "area_b_km2": "model_area_km2"})
    if g.areas is not None:
        t = t.join(g.areas.rename(columns=lambda c: f"expected_{c}" if c != "expected_km2" else c))
    t.index.name = g.id_col
    return t


def export_bundle(res: AnalysisResult) -> list[Any]:
    """Write ``outlines.gpkg``, the CSV tables, the maps' COGs and ``item.json`` (STAC) into ``<region>/export``."""
    if not res.params.out_dir:
        return [Md("No export bundle (`out_dir` is empty: the report runs without writing files).")]
    from glacierlab.analysis.pipeline import map_files
    from glacierlab.reports.export import (
        bundle_assets,
        copy_file,
        export_folder,
        layer_name,
        stac_item,
        write_csv,
        write_geopackage,
    )

    export = export_folder(res.params.out_dir)
    assert export is not None
    main_date, g, s = res.inputs.main_date, res.glaciers, res.series
    layers: dict[str, Any] = {}
    csvs: dict[str, pd.DataFrame] = {}
    if g is not None:
        layers[layer_name("model", main_date)] = _model_export_layer(res)
        csvs["glaciers"] = _glaciers_csv(res)
        for d, grp in g.reference_groups.items():
            layers[layer_name("reference", d)] = grp.rename(columns={g.id_col: "glacier"})[
                ["glacier", "source_date", "geometry"]
            ]
    for m in res.other_dates:
        if m.outlines is not None:
            layers[layer_name("model", m.date)] = m.outlines.assign(date=m.date)
    for m in res.other_dates:
        if m.change is not None:
            csvs[f"change_{layer_name(main_date, 'to', m.label.split(' ')[0])}"] = m.change
    for e in s.extents if s is not None else ():
        layers[layer_name("outlines", e.label.replace("#", ""))] = e.outlines.assign(date=e.date_text)
    if g is not None and g.date_groups is not None:
        csvs["reference_date_groups"] = g.date_groups
    if s is not None:
        csvs["outline_areas"] = s.areas.set_index("outline")
        csvs["outline_changes"] = s.changes.set_index("from")  # with to, from_date, to_date
    if res.areas is not None and res.areas.check is not None:
        csvs["area_coverage_heldout"] = res.areas.check.coverage.set_index("kind")
    if res.areas is not None and res.areas.region_area is not None:
        csvs["region_area"] = pd.DataFrame([dict(res.areas.region_area)], index=pd.Index([main_date], name="date"))
    written = []
    if layers:
        write_geopackage(layers, export / "outlines.gpkg")
        written.append(f"`outlines.gpkg` ({len(layers)} layers: {', '.join(layers)})")
    for name, t in csvs.items():
        write_csv(t, export / f"{name}.csv")
    written += [f"`{n}.csv`" for n in csvs]
    cogs = [copy_file(f, export / f.name).name for f in map_files(res)]
    written += [f"`{c}`" for c in sorted(cogs)]
    dates = [main_date] + [m.date for m in res.other_dates if m.p is not None]
    dates += [e.date_text.split("–")[0] for e in (s.extents if s is not None else ())]  # a span: its first year
    extra = {
        "report": ("../report.html", "the report", ["overview"]),
        "provenance": ("../provenance.json", "provenance", ["metadata"]),
    }
    from glacierlab import __version__

    ck = res.inputs.checkpoint
    props = {
        "glacierlab:version": __version__,
        "glacierlab:region": res.params.region,
        "glacierlab:checkpoint": ck.name if ck else None,
    }
    stack = res.inputs.stack
    stac_item(
        export,
        item_id=f"glacierlab-{res.params.region}",
        grid=stack,
        bbox=None if stack is not None else _series_bbox(res),
        dates=[d for d in dates if d],
        assets=bundle_assets(export, extra=extra),
        properties=props,
    )
    written.append("`item.json` (STAC Item describing these files)")
    return [Md("## Export bundle\n\nIn `export/` next to this report: " + ", ".join(written) + ".")]


def _series_bbox(res: AnalysisResult) -> list[float]:
    """Lon/lat bounds of the outline series (the region's bbox when there is none)."""
    import shapely

    if res.series is not None:
        geoms = [shapely.union_all(e.outlines.to_crs(4326).geometry.to_numpy()) for e in res.series.extents]
        return [float(v) for v in shapely.union_all(geoms).bounds]
    return list(res.inputs.region.bbox)


def provenance(res: AnalysisResult) -> list[Any]:
    """Provenance table; writes ``provenance.json`` and the index summary when the report writes files."""
    from glacierlab.reports.index import write_summary
    from glacierlab.reports.provenance import provenance_record, provenance_table, write_provenance

    params = res.params
    extra: dict[str, Any] = {}
    if res.areas is not None and res.areas.error_model is not None:
        extra["area_error_model"] = res.areas.error_model.to_dict()
    if res.failures:
        extra["failed_steps"] = [{"step": f.step, "message": f.message} for f in res.failures]
    rec = provenance_record(
        region=params.region,
        parameters=params.parameters,
        started=params.started,
        checkpoint=res.inputs.checkpoint,
        sources=list(res.sources),
        extra=extra,
    )
    out: list[Any] = [Md("## Provenance")]
    if params.out_dir:
        write_provenance(rec, params.out_dir)
        links = {
            "report": "report.html",
            "provenance": "provenance.json",
            "STAC item": "export/item.json",
            "outlines.gpkg": "export/outlines.gpkg",
        }
        failed = {"failed_steps": [f.step for f in res.failures]} if res.failures else {}
        write_summary(params.out_dir, {**res.summary, "level": params.level, "links": links, **failed})
        out.append(Md("Also in `provenance.json` next to this report (with every input file's full sha256)."))
    out.append(tables.html(provenance_table(rec), "What made these numbers."))
    return out
