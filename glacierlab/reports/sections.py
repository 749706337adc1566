"""Renderers of the regional report: each takes the analysis result and returns the items to display.

A renderer computes nothing: it reads a part of the frozen
:class:`~glacierlab.analysis.result.AnalysisResult` (:func:`glacierlab.analysis.run_analysis`) and
returns Markdown, figures and tables in order, with its own heading only when the part applies.

The notebook ``regional_report.ipynb`` calls them one per cell (``for x in sections.area(result): display(x)``).
Figures are followed by one sentence saying what to look at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.outlines.area_error import z_of
from glacierlab.reports import tables
from glacierlab.reports.display import Md, Png
from glacierlab.reports.escape import md_code, md_text

if TYPE_CHECKING:
    from glacierlab.analysis.result import AnalysisResult

DOCS = "docs/area_uncertainty.md"


def caption(text: str) -> Md:
    """The sentence under a figure."""
    return Md(f"*{text}*")


def header(res: AnalysisResult) -> list[Any]:
    """Title and what the report covers."""
    inp, level = res.inputs, res.params.level
    if inp.stack is not None:
        grid = f"grid {inp.stack.sizes['y']} × {inp.stack.sizes['x']} pixels, main scene {md_text(inp.main_label)}"
    else:
        grid = "outlines only (no raster for this scene)"
    no_map = f"no model map ({md_text(inp.no_model.rstrip('.'))})"
    model = f"model {md_code(inp.checkpoint.name)}" if inp.checkpoint else no_map
    pct = f"{level * 100:.0f} %"
    return [
        Md(
            f"# {md_text(inp.region.name)}\n\nRegion {md_code(res.params.region)}, {grid}; {model}.\n\n"
            f"**Every interval and every ± in this report is {pct}** (normal, z = {z_of(level):.2f}); a change is "
            f"called established only when it exceeds its {pct} uncertainty, that uncertainty holds for the data "
            "involved, and no source change lies between the two dates."
        ),
        *failures(res),
    ]


def failures(res: AnalysisResult) -> list[Any]:
    """The steps that failed (the parts they feed are missing from the report), or nothing."""
    if not res.failures:
        return []
    items = "\n".join(f"- {md_text(f.step)}: {md_text(f.message)}" for f in res.failures)
    return [Md(f"**Parts of this report could not be computed** (the sections they feed are left out):\n\n{items}")]


def inputs(res: AnalysisResult) -> list[Any]:
    """Overview figure of the inputs and the data table."""
    stack = res.inputs.stack
    if stack is None:
        return []  # outline-only report: the outline series is the whole report
    from glacierlab.reports.plot import region_overview
    from glacierlab.reports.runner import region_summary

    fig = region_overview(stack, title=f"{res.inputs.region.name}: inputs on one grid")
    summary = region_summary(stack).set_index("quantity")
    look = (
        "Look at whether the image is cloud- and snow-free and whether the reference outlines (right) cover "
        "the ice you see: the model is judged against them."
        if "optical" in stack
        else "Look at where the reference ice (right) lies in the terrain (left); there is no image to map here."
    )
    return [
        Md(
            "## Inputs on one grid\n\n"
            + ("Optical image, elevation" if "optical" in stack else "Elevation")
            + " and the reference glacier outlines, resampled to one grid."
        ),
        Png(fig),
        caption(look),
        tables.html(summary, "Inputs of the main scene (sources and licences in full in provenance.json)."),
    ]


def model_map(res: AnalysisResult) -> list[Any]:
    """The four-panel figure of the main scene's map and the whole-frame scores."""
    mm, stack = res.model_map, res.inputs.stack
    if mm is None or stack is None:
        return []  # the header says why there is no model map
    from glacierlab.reports.plot import prediction_figure

    fig = prediction_figure(stack, mm.prediction, title=f"{res.inputs.region.name}: model vs reference")
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
    if mm.scores is not None:
        out.append(
            tables.html(
                tables.scores_table(dict(mm.scores)),
                "Scores over the whole frame (for the shipped Everest model this includes its training blocks; "
                "held-out figures: glacierlab/weights/MODEL_CARD.md).",
            )
        )
    return out


def area(res: AnalysisResult) -> list[Any]:
    """Glacier area with its interval, per region and per glacier, and the measured coverage."""
    ar, ck, level = res.areas, res.inputs.checkpoint, res.params.level
    if ar is None or ck is None:
        return []  # no model map (or its area failed: the header lists it); the outline areas are below
    out: list[Any] = [
        Md(
            "## Glacier area with uncertainty\n\nThe expected area sums the calibrated glacier probabilities; its "
            "interval comes from an error model whose spatial correlation was fitted on the checkpoint's validation "
            f"blocks and whose coverage was measured on its test blocks (method and assumptions: `{DOCS}`)."
        )
    ]
    if ar.check is None or ar.region_area is None:
        return out + [
            Md(
                f"{md_code(ck.name)} stores no held-out spatial split, so the area error model cannot be "
                "fitted or checked: only the model mask's area is reported (no interval)."
            )
        ]
    ra = ar.region_area
    text = (
        f"**Glacier area of the mapped frame: {ra['expected_km2']:.1f} km², interval "
        f"\\[{ra['low_km2']:.1f}, {ra['high_km2']:.1f}\\] km²** (expected area from the calibrated probabilities; the "
        f"p > 0.5 mask covers {ar.mask_km2:.1f} km²"
    )
    if ar.reference_km2 is not None:
        text += f"; the reference {ar.reference_km2:.1f} km²"
    out.append(Md(text + ")."))
    g = res.glaciers
    if g is not None and g.areas is not None:
        inside = g.judged["inside_band"].mean() * 100
        out.append(
            tables.html(
                tables.glacier_table(g.judged, g.areas, g.source_dates),
                f"The 15 largest of {len(g.judged)} glaciers ({inside:.0f} % inside the expert band: area within "
                "±5 % of the reference, Paul et al. 2013, clean-ice band for every glacier without a debris map). "
                "Expected area: calibrated probabilities summed over the glacier's zone (its outline plus 300 m). "
                "All glaciers: export/glaciers.csv.",
            )
        )
    m = ar.check.model
    out.append(
        Md(
            f"**How far to trust the interval.** Residuals are modelled as correlated over L = {m.length_px:.1f} px "
            f"({m.length_px * np.sqrt(ar.pixel_km2) * 1000:.0f} m), fitted on {md_text(m.fitted_on)} ({DOCS}). "
            + md_text(ar.check.sentence(level))
            + _coverage_verdict(res)
        )
    )
    out.append(
        tables.html(
            tables.coverage_table(ar.check),
            "Measured on the checkpoint's held-out test blocks against RGI 6.0; printed by "
            "benchmarks/area_uncertainty.py.",
        )
    )
    return out


def _coverage_verdict(res: AnalysisResult) -> str:
    assert res.areas is not None and res.areas.check is not None
    level = res.params.level
    rows = res.areas.check.at(level)
    low = rows[rows["coverage"] < level - 0.05]
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
