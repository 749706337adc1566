"""Sections of the regional report, each returning the items to display (Markdown, figures, tables) in order.

Each takes the :class:`~glacierlab.reports.context.Report`, computes with library functions and stores
what later sections need.

The notebook ``regional_report.ipynb`` calls them one per cell (``for x in sections.area(rep): display(x)``).
Figures are followed by one sentence saying what to look at.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glacierlab.reports import tables
from glacierlab.reports.context import Md, Png, Report
from glacierlab.reports.escape import md_code, md_text
from glacierlab.reports.series import z_of

DOCS = "docs/area_uncertainty.md"


def caption(text: str) -> Md:
    """The sentence under a figure."""
    return Md(f"*{text}*")


def header(rep: Report) -> list[Any]:
    """Title and what the report covers."""
    assert rep.reg is not None
    if rep.stack is not None:
        grid = f"grid {rep.stack.sizes['y']} × {rep.stack.sizes['x']} pixels, main scene {md_text(rep.main_label)}"
    else:
        grid = "outlines only (no raster for this scene)"
    no_map = f"no model map ({md_text(rep.no_model.rstrip('.'))})"
    model = f"model {md_code(rep.ck_path.name)}" if rep.ck_path else no_map
    pct = f"{rep.level * 100:.0f} %"
    return [
        Md(
            f"# {md_text(rep.reg.name)}\n\nRegion {md_code(rep.region)}, {grid}; {model}.\n\n**Every interval and "
            f"every ± in this report is {pct}** (normal, z = {z_of(rep.level):.2f}); a change is called established "
            f"only when it exceeds its {pct} uncertainty, that uncertainty holds for the data involved, and no source "
            "change lies between the two dates."
        )
    ]


def inputs(rep: Report) -> list[Any]:
    """Overview figure of the inputs and the data table."""
    if rep.stack is None:
        return []  # outline-only report: the outline series is the whole report
    from glacierlab.reports.plot import region_overview
    from glacierlab.reports.runner import region_summary

    assert rep.reg is not None
    fig = region_overview(rep.stack, title=f"{rep.reg.name}: inputs on one grid")
    summary = region_summary(rep.stack).set_index("quantity")
    look = (
        "Look at whether the image is cloud- and snow-free and whether the reference outlines (right) cover "
        "the ice you see: the model is judged against them."
        if "optical" in rep.stack
        else "Look at where the reference ice (right) lies in the terrain (left); there is no image to map here."
    )
    return [
        Md(
            "## Inputs on one grid\n\n"
            + ("Optical image, elevation" if "optical" in rep.stack else "Elevation")
            + " and the reference glacier outlines, resampled to one grid."
        ),
        Png(fig),
        caption(look),
        tables.html(summary, "Inputs of the main scene (sources and licences in full in provenance.json)."),
    ]


def model_map(rep: Report, **predict: Any) -> list[Any]:
    """Predict the main scene, show the four-panel figure and the whole-frame scores."""
    if rep.ck_path is None or rep.stack is None:
        return []  # the header says why there is no model map
    from glacierlab.files import safe_name
    from glacierlab.reports import regional
    from glacierlab.reports.timeline import calibrated_probability

    assert rep.reg is not None
    prefix = safe_name(f"{rep.main_date}_".replace("/", "-"), "scene date") if rep.export else ""
    rep.predict = dict(predict)
    rep.prediction = regional.map_stack(
        rep.stack, rep.ck_path, out_dir=rep.export, overwrite=True, prefix=prefix, **predict
    )
    valid = np.isfinite(rep.stack["optical"].values).any(axis=0)
    rep.p = calibrated_probability(rep.prediction, rep.ck_path, valid)
    from glacierlab.reports.plot import prediction_figure

    fig = prediction_figure(rep.stack, rep.prediction, title=f"{rep.reg.name}: model vs reference")
    out: list[Any] = [
        Md(
            "## Glacier map from the model\n\nThe model named at the top predicts a glacier probability per pixel; "
            "the mask is probability > 0.5 and the confidence is the calibrated probability that the map is right "
            "there. A model is only run on imagery of the kind it was trained on (bands and product level)."
        ),
        Png(fig),
        caption(
            "Look at the third panel: red is ice the model adds to the reference, orange is reference ice it "
            "misses; the last panel shows where the model is unsure (dark)."
        ),
    ]
    if "reference" in rep.stack:
        out.append(
            tables.html(
                tables.scores_table(regional.score(rep.prediction, rep.stack)),
                "Scores over the whole frame (for the shipped Everest model this includes its training blocks; "
                "held-out figures: glacierlab/weights/MODEL_CARD.md).",
            )
        )
    return out


def area(rep: Report) -> list[Any]:
    """Glacier area with its interval, per region and per glacier, and the measured coverage."""
    if rep.p is None or rep.stack is None or rep.ck_path is None:
        return []  # no model map: the outline areas are in the change section
    from glacierlab.data.contents import scene_outlines
    from glacierlab.errors import GridError
    from glacierlab.outlines.area_error import area_table, glacier_zones, pixel_area_km2, region_area
    from glacierlab.reports import regional
    from glacierlab.reports.heldout_area import heldout_area_check
    from glacierlab.reports.timeline import source_dates

    assert rep.prediction is not None
    try:
        rep.pixel_km2 = pixel_area_km2(rep.stack)
    except GridError as err:
        return [Md(f"Areas are not computed: {md_text(err)}")]
    default_map = set(rep.predict) <= {"batch_size", "tta"} and not rep.predict.get("tta")
    rep.check = heldout_area_check(
        rep.ck_path, stack=rep.stack, probability=rep.prediction["probability"].values if default_map else None
    )
    out: list[Any] = [
        Md(
            "## Glacier area with uncertainty\n\nThe expected area sums the calibrated glacier probabilities; its "
            "interval comes from an error model whose spatial correlation was fitted on the checkpoint's validation "
            f"blocks and whose coverage was measured on its test blocks (method and assumptions: `{DOCS}`)."
        )
    ]
    if rep.check is None:
        return out + [
            Md(
                f"{md_code(rep.ck_path.name)} stores no held-out spatial split, so the area error model cannot be "
                "fitted or checked: only the model mask's area is reported (no interval)."
            )
        ]
    rep.error_model = rep.check.model
    rep.region_area = region_area(rep.p, rep.error_model, rep.pixel_km2, level=rep.level)
    ra = rep.region_area
    mask_km2 = float((rep.prediction["mask"].values == 1).sum() * rep.pixel_km2)
    text = (
        f"**Glacier area of the mapped frame: {ra['expected_km2']:.1f} km², interval "
        f"\\[{ra['low_km2']:.1f}, {ra['high_km2']:.1f}\\] km²** (expected area from the calibrated probabilities; the "
        f"p > 0.5 mask covers {mask_km2:.1f} km²"
    )
    if "reference" in rep.stack:
        ref = rep.stack["reference"].values
        text += f"; the reference {float((ref == 1).sum() * rep.pixel_km2):.1f} km²"
    out.append(Md(text + ")."))
    rep.summary["area"] = (
        f"{ra['expected_km2']:.1f} [{ra['low_km2']:.1f}, {ra['high_km2']:.1f}] (model, {rep.main_date})"
    )
    rep.inventory = scene_outlines(rep.region, rep.date)
    if rep.inventory is not None:
        rep.sources |= {str(rep.inventory.attrs.get("source", ""))}
        rep.id_col = regional.glacier_id_column(rep.inventory)
        rep.zones, rep.zone_ids = glacier_zones(rep.inventory, rep.stack["reference"], rep.id_col)
        rep.areas = area_table(
            rep.p, rep.zones, rep.zone_ids, rep.error_model, rep.pixel_km2, level=rep.level, index_name=rep.id_col
        )
        rep.judged, rep.model_polygons = regional.compare_glaciers(
            rep.prediction["mask"], rep.inventory, id_col=rep.id_col
        )
        dates = source_dates(rep.inventory, rep.id_col)
        inside = rep.judged["inside_band"].mean() * 100
        out.append(
            tables.html(
                tables.glacier_table(rep.judged, rep.areas, dates),
                f"The 15 largest of {len(rep.judged)} glaciers ({inside:.0f} % inside the expert band: area within "
                "±5 % of the reference, Paul et al. 2013, clean-ice band for every glacier without a debris map). "
                "Expected area: calibrated probabilities summed over the glacier's zone (its outline plus 300 m). "
                "All glaciers: export/glaciers.csv.",
            )
        )
    m = rep.error_model
    out.append(
        Md(
            f"**How far to trust the interval.** Residuals are modelled as correlated over L = {m.length_px:.1f} px "
            f"({m.length_px * np.sqrt(rep.pixel_km2) * 1000:.0f} m), fitted on {md_text(m.fitted_on)} ({DOCS}). "
            + md_text(rep.check.sentence(rep.level))
            + _coverage_verdict(rep)
        )
    )
    out.append(
        tables.html(
            tables.coverage_table(rep.check),
            "Measured on the checkpoint's held-out test blocks against RGI 6.0; printed by "
            "benchmarks/area_uncertainty.py.",
        )
    )
    return out


def _coverage_verdict(rep: Report) -> str:
    assert rep.check is not None
    rows = rep.check.at(rep.level)
    low = rows[rows["coverage"] < rep.level - 0.05]
    bias = rows["bias_rel"].mean() * 100
    text = ""
    if len(low):
        text += (
            f" **Below nominal** for {md_text(', '.join(low.index))}: errors on the test blocks are larger and more "
            "clustered than on the few validation blocks the model was fitted on, so read the intervals as a "
            "lower bound of the uncertainty, most of all for areas of several km² and more."
        )
    if abs(bias) > 5:
        text += (
            f" The expected area is biased by {bias:+.0f} % against RGI on the test blocks (the calibration is "
            "class-agnostic and the RGI outlines are dated 2000-2010), a systematic error the interval does not cover."
        )
    return text
