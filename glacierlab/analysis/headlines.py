"""The short headlines of one analysis for the index page (area and change), each with its caveats."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from glacierlab.outlines.area_error import z_of

if TYPE_CHECKING:
    from glacierlab.analysis.result import AnalysisResult


def headlines(result: AnalysisResult) -> dict[str, str]:
    """``area`` and ``change`` headlines (plain text; the index escapes them).

    The area is the model's interval of the main map, else the last outline's area; the change is the
    outline series' last step (its verdict and note), else the model's first other date (coverage and
    caveats included: a change the uncertainty model was not checked for is NOT established).
    """
    out: dict[str, str] = {}
    ra = result.areas.region_area if result.areas is not None else None
    if ra is not None:
        out["area"] = (
            f"{ra['expected_km2']:.1f} [{ra['low_km2']:.1f}, {ra['high_km2']:.1f}] (model, {result.inputs.main_date})"
        )
    for m in result.other_dates:
        if m.change is not None:
            out["change"] = model_headline(m.change.loc["all glaciers"], result.inputs.main_date, m.date, m.caveats)
            break
    s = result.series
    if s is not None:
        z = z_of(result.params.level)
        last_area = s.areas.iloc[-1]
        out.setdefault(
            "area", f"{last_area['area_km2']:.2f} ± {z * last_area['sd_km2']:.2f} (outline {last_area['outline']})"
        )
        last = s.changes.iloc[-1]
        out["change"] = (
            f"{last['from_date']} → {last['to_date']}: {last['change_km2']:+.2f} ± "
            f"{z * last['change_sd_km2']:.2f} km² "
            f"(outlines; {'established' if last['established'] else 'NOT established'}"
            + (f"; {last['note']}" if last["note"] else "")
            + ")"
        )
    return out


def model_headline(row: Any, a: str, b: str, caveats: tuple[str, ...] | list[str]) -> str:
    """The index headline of a model change, with what limits it (coverage, caveats) and its verdict."""
    ch, sd = float(row["change_km2"]), float(row["change_sd_km2"])
    verdict = "established" if row["exceeds_uncertainty"] and not caveats else "NOT established"
    limits = [f"over {float(row['covered']) * 100:.0f} % of the glacier zones", *caveats]
    return f"{a} → {b}: {ch:+.1f} ± {1.96 * sd:.1f} km² (model, {verdict}; {'; '.join(limits)})"
