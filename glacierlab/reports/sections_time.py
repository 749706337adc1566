"""The "change over time" section of the regional report (see :mod:`glacierlab.reports.sections`).

Three sources of dates, each shown when the region has it:

1. the inventory's outlines grouped by their source date against the model's main map;
2. the model on every other date with imagery (:func:`glacierlab.reports.timeline.other_dates`), with
   per-glacier gained / lost / stable ice and the area change ± its uncertainty, or the reason a scene
   was not mapped;
3. the region's outline series (GLIMS analyses, inventories, reconstructed extents:
   :mod:`glacierlab.reports.series`).
"""

from __future__ import annotations

from typing import Any

from glacierlab.reports import tables
from glacierlab.reports.context import Md, Png, Report
from glacierlab.reports.escape import md_text
from glacierlab.reports.plot import change_figure
from glacierlab.reports.sections import caption


def change_over_time(rep: Report, **predict: Any) -> list[Any]:
    """All three parts; also sets ``rep.summary["change"]``."""
    out: list[Any] = []
    out += _reference_dates(rep)
    out += _model_dates(rep, **predict)
    out += _outline_series(rep)
    if not out:
        out.append(Md("This region has a single date: no change over time can be shown."))
    return [Md("## Change over time"), *out]


def _reference_dates(rep: Report) -> list[Any]:
    if rep.p is None or rep.inventory is None or rep.zones is None or rep.error_model is None:
        return []
    from glacierlab.reports.timeline import reference_date_groups

    assert rep.stack is not None
    rep.date_groups = g = reference_date_groups(
        rep.inventory,
        rep.id_col,
        rep.zones,
        rep.zone_ids,
        rep.p,
        rep.stack["reference"].values,
        rep.error_model,
        rep.pixel_km2,
    )
    if len(g) < 2:
        return []
    lines = [
        f"{md_text(d)}: model {r['difference_km2']:+.1f} km² against {r['reference_km2']:.1f} km² of reference "
        f"({'within' if r['within_uncertainty'] else '**outside**'} the combined uncertainty)"
        for d, r in g.iterrows()
    ]
    return [
        Md(f"### Reference outlines by source date against the model's {md_text(rep.main_date)} map"),
        tables.html(
            tables.date_groups_table(g, rep.main_date),
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


def _model_dates(rep: Report, **predict: Any) -> list[Any]:
    from glacierlab.reports.timeline import (
        calibrated_probability,
        change_statement,
        model_change,
        other_dates,
        unmapped_scenes,
    )

    if rep.ck_path is None or rep.stack is None or rep.p is None:
        key = (rep.region, str(rep.stack.attrs.get("scene", ""))) if rep.stack is not None else ("", "")
        checkpoint = rep.checkpoint or _shipped()
        rep.other = [m for m in unmapped_scenes(rep.region, checkpoint) if (m.region, m.scene) != key]
    else:
        rep.other = other_dates(rep.region, rep.stack, rep.ck_path, out_dir=rep.export, **predict)
    if not rep.other:
        return []
    main = f"main map: {md_text(rep.main_label)}" if rep.p is not None else "no main map in this report"
    out: list[Any] = [Md(f"### The model on other dates with imagery ({main})")]
    refused = [m for m in rep.other if m.refused]
    if refused:
        reasons: dict[str, list[str]] = {}
        for m in refused:
            reasons.setdefault(_reason(m.refused), []).append(f"{m.region} {m.scene}")
        items = (f"- {md_text(', '.join(s))}: {md_text(r)}" for r, s in reasons.items())
        out.append(Md("Not mapped:\n\n" + "\n".join(items)))
    for m in rep.other:
        if m.prediction is None or rep.ck_path is None or rep.p is None:
            continue
        rep.sources |= {s for s in m.sources if s}
        p2 = calibrated_probability(m.prediction, rep.ck_path, m.valid)
        m.p = p2
        if rep.zones is None or rep.error_model is None or rep.stack is None:
            continue
        ch = model_change(rep.zones, rep.zone_ids, rep.p, p2, rep.error_model, rep.pixel_km2, index_name=rep.id_col)
        rep.changes[m.label] = ch
        a, b = rep.main_date, m.date
        statement = change_statement(
            ch.loc["all glaciers"],
            md_text(f"{a} ({rep.main_label})"),
            md_text(f"{b} ({m.label})"),
            [md_text(c) for c in m.caveats],
            validated=not m.caveats,
        )
        rep.summary.setdefault("change", _short(ch.loc["all glaciers"], a, b, m.caveats))
        out += [
            Md(f"**{md_text(m.label)}.** " + statement),
            Png(change_figure(rep.stack, rep.p, p2, m.rgb, rep.main_label, m.label)),
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


def _shipped() -> str:
    from glacierlab.weights import shipped_checkpoint_path

    return str(shipped_checkpoint_path())


def _reason(text: str) -> str:
    """A refusal message without the scene-specific part, so equal reasons group."""
    import re

    return re.sub(r"\(\w+ G\d{6}E\d{5}N\)", "", re.sub(r"scene \([^)]*\)", "scene", text)).strip()


def _short(row: Any, a: str, b: str, caveats: list[str]) -> str:
    """The index headline of a model change, with what limits it (coverage, caveats) and its verdict."""
    ch, sd = float(row["change_km2"]), float(row["change_sd_km2"])
    verdict = "established" if row["exceeds_uncertainty"] and not caveats else "NOT established"
    limits = [f"over {float(row['covered']) * 100:.0f} % of the glacier zones", *caveats]
    return f"{a} → {b}: {ch:+.1f} ± {1.96 * sd:.1f} km² (model, {verdict}; {'; '.join(limits)})"


def _outline_series(rep: Report) -> list[Any]:
    from glacierlab.reports.plot import series_figure
    from glacierlab.reports.series import outline_series, series_areas, series_changes, z_of

    bbox = rep.bbox
    if bbox is None and rep.stack is not None and rep.stack.rio.crs is not None:
        from rasterio.warp import transform_bounds

        bbox = tuple(transform_bounds(rep.stack.rio.crs, "EPSG:4326", *rep.stack.rio.bounds()))
    rep.series = outline_series(rep.region, bbox)
    if len(rep.series) < 2:
        return []
    rep.sources |= {e.source for e in rep.series}
    rep.series_areas = series_areas(rep.series)
    rep.series_changes = ch = series_changes(rep.series, level=rep.level)
    assert rep.reg is not None
    z = z_of(rep.level)
    fig = series_figure(rep.series_areas, title=f"{rep.reg.name}: glacier area per outline", z=z)
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
    last_area = rep.series_areas.iloc[-1]
    rep.summary.setdefault(
        "area", f"{last_area['area_km2']:.2f} ± {z * last_area['sd_km2']:.2f} (outline {last_area['outline']})"
    )
    rep.summary["change"] = (
        f"{last['from_date']} → {last['to_date']}: {last['change_km2']:+.2f} ± {z * last['change_sd_km2']:.2f} km² "
        f"(outlines; {'established' if last['established'] else 'NOT established'}"
        + (f"; {last['note']}" if last["note"] else "")
        + ")"
    )
    return [
        Md("### Outlines over time"),
        Png(fig),
        caption(
            "Error bars are each date's own area uncertainty. Between two dates of one source on one grid most of "
            "it is shared and cancels, so overlapping bars do not decide a change: the change ± in the table does. "
            "Between colours the source changes."
        ),
        tables.html(tables.series_area_table(rep.series_areas, z), "Area of each dated outline in the window."),
        tables.html(
            tables.series_change_table(ch, z),
            "Consecutive outlines and first → last of one source. Between two outlines of one source on one grid "
            "the uncertainty comes from the boundary where they differ (their errors are correlated where the "
            "boundaries coincide: docs/area_uncertainty.md).",
        ),
        Md(text),
    ]
