"""The "change over time" section of the regional report (see :mod:`glacierlab.reports.sections`).

Three sources of dates, each shown when the region has it:

1. the inventory's outlines grouped by their source date against the model's main map;
2. the model on every other date with imagery (:func:`glacierlab.analysis.timeline.other_dates`), with
   per-glacier gained / lost / stable ice and the area change ± its uncertainty, or the reason a scene
   was not mapped;
3. the region's outline series (GLIMS analyses, inventories, reconstructed extents:
   :mod:`glacierlab.analysis.series`).

Each renders a part of the analysis result; the numbers come from :mod:`glacierlab.analysis.pipeline`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from glacierlab.reports import tables
from glacierlab.reports.display import Md, Png
from glacierlab.reports.escape import md_text
from glacierlab.reports.plot import change_figure, rgb_image
from glacierlab.reports.sections import caption

if TYPE_CHECKING:
    from glacierlab.analysis.result import AnalysisResult


def change_over_time(res: AnalysisResult) -> list[Any]:
    """All three parts."""
    out: list[Any] = []
    out += _reference_dates(res)
    out += _model_dates(res)
    out += _outline_series(res)
    if not out:
        out.append(Md("This region has a single date: no change over time can be shown."))
    return [Md("## Change over time"), *out]


def _reference_dates(res: AnalysisResult) -> list[Any]:
    g = res.glaciers.date_groups if res.glaciers is not None else None
    if g is None or len(g) < 2:
        return []
    lines = [
        f"{md_text(d)}: model {r['difference_km2']:+.1f} km² against {r['reference_km2']:.1f} km² of reference "
        f"({'within' if r['within_uncertainty'] else '**outside**'} the combined uncertainty)"
        for d, r in g.iterrows()
    ]
    return [
        Md(f"### Reference outlines by source date against the model's {md_text(res.inputs.main_date)} map"),
        tables.html(
            tables.date_groups_table(g, res.inputs.main_date),
            "Areas on the report grid (pixels of each group's "
            "glacier zones); ± combines the model's interval and a 5 % (1 sigma) expert uncertainty of the "
            "manual outlines, combined.",
        ),
        Md(
            "The inventory was drawn from images of several dates. " + "; ".join(lines) + ". A difference mixes "
            "the years between the image dates with the difference between the model and the analysts, so it "
            "is not a measured change."
        ),
    ]


def _model_dates(res: AnalysisResult) -> list[Any]:
    from glacierlab.analysis.timeline import change_statement

    if not res.other_dates:
        return []
    inp, mm = res.inputs, res.model_map
    main = f"main map: {md_text(inp.main_label)}" if mm is not None else "no main map in this report"
    out: list[Any] = [Md(f"### The model on other dates with imagery ({main})")]
    refused = [m for m in res.other_dates if m.refused]
    if refused:
        reasons: dict[str, list[str]] = {}
        for m in refused:
            reasons.setdefault(_reason(m.refused), []).append(f"{m.region} {m.scene}")
        items = (f"- {md_text(', '.join(s))}: {md_text(r)}" for r, s in reasons.items())
        out.append(Md("Not mapped:\n\n" + "\n".join(items)))
    for m in res.other_dates:
        ch = m.change
        if ch is None or m.p is None or mm is None or inp.stack is None:
            continue
        a, b = inp.main_date, m.date
        statement = change_statement(
            ch.loc["all glaciers"],
            md_text(f"{a} ({inp.main_label})"),
            md_text(f"{b} ({m.label})"),
            [md_text(c) for c in m.caveats],
            validated=not m.caveats,
        )
        rgb = rgb_image(m.optical) if m.optical is not None else None
        out += [
            Md(f"**{md_text(m.label)}.** " + statement),
            Png(change_figure(inp.stack, mm.p, m.p, rgb, inp.main_label, m.label)),
            caption(
                "Compare the two images first (snow, clouds, shadows): where they differ for reasons other than "
                "ice, the blue (gained) and red (lost) patches on the right are imagery, not glacier change."
            ),
            tables.html(
                tables.change_table(ch, a, b, validated=not m.caveats),
                "Expected areas over the pixels seen on both dates; gained / "
                "lost / stable from the p > 0.5 masks; the two dates' errors are taken as independent.",
            ),
        ]
    return out


def _reason(text: str) -> str:
    """A refusal message without the scene-specific part, so equal reasons group."""
    import re

    return re.sub(r"\(\w+ G\d{6}E\d{5}N\)", "", re.sub(r"scene \([^)]*\)", "scene", text)).strip()


def _outline_series(res: AnalysisResult) -> list[Any]:
    from glacierlab.outlines.area_error import z_of
    from glacierlab.reports.plot import series_figure

    series = res.series
    if series is None:
        return []
    ch, areas = series.changes, series.areas
    z = z_of(res.params.level)
    fig = series_figure(areas, title=f"{res.inputs.region.name}: glacier area per outline", z=z)
    last = ch.iloc[-1]
    est = ch[ch["established"]]
    flagged = ch[ch["source_change"]]
    verdict = "an **established** change" if last["established"] else "**not** an established change"
    text = (
        f"From {md_text(last['from_date'])} to {md_text(last['to_date'])} ({md_text(last['from'])} → "
        f"{md_text(last['to'])}) the outlined area changes by "
        f"{last['change_km2']:+.2f} ± {z * last['change_sd_km2']:.2f} km²: {verdict}"
        + (f" ({md_text(last['note'])})" if last["note"] else "")
        + f". {len(est)} of {len(ch)} steps in the table are established"
        + (
            ": " + ", ".join(md_text(f"{r['from_date']} → {r['to_date']}") for _, r in est.iterrows())
            if len(est)
            else ""
        )
        + "."
    )
    if len(flagged):
        text += (
            " **Source changes** ("
            + ", ".join(md_text(f"{r['from_date']} → {r['to_date']}") for _, r in flagged.iterrows())
            + ") compare outlines of different sources or grids: their differences are not ice change."
        )
    if (ch["inconsistent_km2"] > 0.005).any():
        text += (
            " Where a reconstructed surface lies more than 1 m below the bed the source is wrong there (ice cannot "
            "be thinner than nothing): such gains or losses are source artefacts, listed per step in the table "
            "above; a step is established only if it stays beyond its uncertainty without them."
        )
    return [
        Md("### Outlines over time"),
        Png(fig),
        caption(
            "Error bars are each date's own area uncertainty. Between two dates of one source on one grid most of "
            "it is shared and cancels, so overlapping bars do not decide a change: the change ± in the table does. "
            "Between colours the source changes."
        ),
        tables.html(tables.series_area_table(areas, z), "Area of each dated outline in the window."),
        tables.html(
            tables.series_change_table(ch, z),
            "Consecutive outlines and first → last of one source. Between two outlines of one source on one grid "
            "the uncertainty comes from the boundary where they differ (their errors are correlated where the "
            "boundaries coincide: docs/area_uncertainty.md).",
        ),
        Md(text),
    ]
