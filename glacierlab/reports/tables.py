"""Readable report tables: labelled columns with units, sensible rounding, no overflow on the page.

Each ``*_table`` function turns a computed table (full precision, machine column names, also written to
CSV) into a display table; :func:`html` renders one as a compact HTML block (an object with
``_repr_html_``, so notebooks show it and nbconvert keeps it) that wraps long headers and scrolls
sideways inside its own box instead of running off the page.
"""

from __future__ import annotations

import html as _html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from glacierlab.analysis.heldout_area import HeldoutAreaCheck

_CSS = (
    "<style>.gl-wrap{max-width:100%;overflow-x:auto;margin:0.4em 0 1em 0}"
    ".gl-table{border-collapse:collapse;font-size:12.5px;line-height:1.3}"
    ".gl-table th{background:#f0f0f0;font-weight:600;text-align:center;vertical-align:bottom;"
    "max-width:9em;white-space:normal;padding:4px 6px;border-bottom:1px solid #999}"
    ".gl-table td{padding:3px 6px;border-bottom:1px solid #e3e3e3;text-align:right;white-space:nowrap}"
    ".gl-table td.gl-text{text-align:left;white-space:normal;max-width:32em;overflow-wrap:anywhere}"
    ".gl-table td.gl-idx{text-align:left;font-weight:600;white-space:nowrap}"
    ".gl-table caption{caption-side:bottom;text-align:left;font-size:11.5px;color:#555;padding-top:4px}"
    ".gl-no{color:#b00020}.gl-yes{color:#176117}</style>"
)


class HtmlBlock(str):
    """A string of HTML that notebooks display as HTML."""

    def _repr_html_(self) -> str:
        return str(self)


def _decimals(col: pd.Series) -> int | None:
    """Decimals that show every (already rounded) float of a column exactly, at most 4; None if not floats."""
    if not pd.api.types.is_float_dtype(col.dtype):
        return None
    vals = col.to_numpy(dtype=float)
    vals = vals[np.isfinite(vals)]
    return next((k for k in range(5) if np.allclose(np.round(vals, k), vals, rtol=0, atol=1e-9)), 4)


def _cell(v: Any, decimals: int | None = None) -> tuple[str, str]:
    if isinstance(v, bool | np.bool_):
        return ("yes", "gl-yes") if v else ("no", "gl-no")
    if v is None or v is pd.NA or (isinstance(v, float | np.floating) and np.isnan(v)):
        return "–", ""
    if isinstance(v, float | np.floating) and np.isfinite(v) and decimals:  # one column, one precision: 2.00, 2.12
        return f"{float(v):.{decimals}f}", ""
    if isinstance(v, float | np.floating) and np.isfinite(v) and float(v).is_integer() and abs(float(v)) >= 10:
        return f"{int(v):,}".replace(",", " "), ""
    if isinstance(v, float | np.floating) and np.isfinite(v) and decimals == 0:
        return f"{float(v):.0f}", ""
    if isinstance(v, str) and any(ch.isalpha() for ch in v):
        return _html.escape(v), "gl-text"
    return _html.escape(str(v)), ""


def html(df: pd.DataFrame, caption: str = "", *, index: bool = True) -> HtmlBlock:
    """Render a display table (already rounded / formatted) as a compact, non-overflowing HTML block."""
    cols = ([df.index.name or ""] if index else []) + [str(c) for c in df.columns]
    head = "".join(f"<th>{_html.escape(c)}</th>" for c in cols)
    body = []
    decimals = [_decimals(df.iloc[:, i]) for i in range(df.shape[1])]
    for idx, row in df.iterrows():
        cells = [f'<td class="gl-idx">{_html.escape(str(idx))}</td>'] if index else []
        for v, dec in zip(row.to_numpy(), decimals, strict=True):
            text, cls = _cell(v, dec)
            cells.append(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{_html.escape(caption)}</caption>" if caption else ""
    return HtmlBlock(
        f'{_CSS}<div class="gl-wrap"><table class="gl-table">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def interval_text(expected: float, low: float, high: float, digits: int = 2) -> str:
    """``"51.48 [47.97, 54.99]"``."""
    return f"{expected:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def pm_text(value: float, sd: float, digits: int = 2, z: float = 1.96) -> str:
    """``"+1.23 ± 0.45"`` with the ± at ``z`` sigma (95 % by default)."""
    return f"{value:+.{digits}f} ± {z * sd:.{digits}f}"


def digits_for(values: Any) -> int:
    """Decimals that keep about three significant figures for the typical magnitude of ``values``."""
    a = np.abs(np.asarray(values, dtype=float))
    a = a[np.isfinite(a) & (a > 0)]
    if not a.size:
        return 2
    m = float(np.median(a))
    return int(np.clip(2 - np.floor(np.log10(m)), 0, 4))


def scores_table(scores: Mapping[str, float]) -> pd.DataFrame:
    """Whole-frame scores of a map against its reference as a one-row display table."""
    names = {
        "iou": "glacier IoU",
        "precision": "precision",
        "recall": "recall",
        "f1": "F1",
        "background_iou": "background IoU",
        "mean_iou": "mean IoU",
    }
    row: dict[str, Any] = {v: round(float(scores[k]), 3) for k, v in names.items() if k in scores}
    row["pixels scored"] = f"{int(scores.get('pixels', 0)):,}"
    return pd.DataFrame([row], index=pd.Index(["model vs reference"], name=""))


def glacier_table(
    judged: pd.DataFrame, areas: pd.DataFrame, dates: pd.Series | None = None, *, top: int | None = 15
) -> pd.DataFrame:
    """Per-glacier display table: reference vs model area, expected area with interval, IoU, expert band.

    Args:
        judged: :func:`glacierlab.analysis.regional.judge_glaciers` output (A = reference, B = model).
        areas: :func:`glacierlab.outlines.area_error.area_table` of the same glaciers (``level`` in attrs).
        dates: Optional glacier id -> reference source date.
        top: Keep the largest ``top`` glaciers by reference area (None: all).
    """
    t = judged.sort_values("area_a_km2", ascending=False)
    t = t.head(top) if top else t
    a = areas.reindex(t.index)
    d = digits_for(t["area_a_km2"])
    out = pd.DataFrame(index=t.index)
    if dates is not None:
        out["reference date"] = [dates.get(str(i), "") for i in t.index]
    out["reference area (km²)"] = t["area_a_km2"].round(d)
    out["model area, p > 0.5 (km²)"] = t["area_b_km2"].round(d)
    out["expected area [interval] (km²)"] = [
        interval_text(e, lo, hi, d) if np.isfinite(e) else "–"
        for e, lo, hi in zip(a["expected_km2"], a["low_km2"], a["high_km2"], strict=True)
    ]
    out["area deviation (%)"] = (t["area_dev_rel"] * 100).round(1)
    out["IoU"] = t["iou"].round(2)
    out["mean boundary distance (m)"] = t["mean_boundary_distance_m"].round(0).astype("Int64")
    out["inside expert band"] = t["inside_band"].astype(bool)
    out.index.name = "glacier"
    return out


def change_table(change: pd.DataFrame, a: str, b: str, *, top: int | None = 15, validated: bool = True) -> pd.DataFrame:
    """Display table of :func:`glacierlab.analysis.timeline.model_change` (largest glaciers first, total last).

    ``validated=False`` (the error model was not checked on date B's kind of imagery) labels the last
    column as the formal test it then is.
    """
    body = change.drop(index="all glaciers", errors="ignore").sort_values("area_a_km2", ascending=False)
    body = body.head(top) if top else body
    t = pd.concat([body, change.loc[["all glaciers"]]]) if "all glaciers" in change.index else body
    d = digits_for(t["area_a_km2"])
    out = pd.DataFrame(index=t.index)
    out["seen on both dates (%)"] = (t["covered"] * 100).round(0).astype(int)
    out[f"area {a} (km²)"] = t["area_a_km2"].round(d)
    out[f"area {b} (km²)"] = t["area_b_km2"].round(d)
    out["change ± (km²)"] = [pm_text(c, s, d) for c, s in zip(t["change_km2"], t["change_sd_km2"], strict=True)]
    out["gained (km²)"] = t["gained_km2"].round(d)
    out["lost (km²)"] = t["lost_km2"].round(d)
    out["stable (km²)"] = t["stable_km2"].round(d)
    if validated:
        out["change established"] = t["exceeds_uncertainty"].astype(bool)
    else:  # a formal test on an unvalidated uncertainty: text, never the green "yes"
        out["beyond the modelled uncertainty (not validated here: not established)"] = [
            "formally" if x else "no" for x in t["exceeds_uncertainty"].astype(bool)
        ]
    out.index.name = "glacier"
    return out


def date_groups_table(groups: pd.DataFrame, model_label: str) -> pd.DataFrame:
    """Display table of :func:`glacierlab.analysis.timeline.reference_date_groups`."""
    out = pd.DataFrame(index=groups.index)
    out["glaciers"] = groups["glaciers"]
    out["reference area (km²)"] = groups["reference_km2"].round(2)
    out[f"model {model_label}, p > 0.5 (km²)"] = groups["model_mask_km2"].round(2)
    out[f"model {model_label}, expected ± (km²)"] = [
        f"{e:.2f} ± {1.96 * s:.2f}" for e, s in zip(groups["model_expected_km2"], groups["model_sd_km2"], strict=True)
    ]
    out["model − reference ± (km²)"] = [
        pm_text(c, s) for c, s in zip(groups["difference_km2"], groups["difference_sd_km2"], strict=True)
    ]
    out["IoU"] = groups["iou"].round(2)
    out["difference within uncertainty"] = groups["within_uncertainty"].astype(bool)
    out.index.name = "reference source date"
    return out


def series_area_table(areas: pd.DataFrame, z: float = 1.96) -> pd.DataFrame:
    """Display table of :func:`glacierlab.analysis.series.series_areas` (± at ``z`` sigma)."""
    d = digits_for(areas["area_km2"])
    out = pd.DataFrame(index=pd.Index(areas["outline"], name="outline"))
    out["date"] = areas["recorded"].to_numpy()
    out["source"] = areas["source"].to_numpy()
    out["area (km²)"] = areas["area_km2"].round(d).to_numpy()
    out["± (km²)"] = (z * areas["sd_km2"]).round(d).to_numpy()
    out["uncertainty from"] = areas["uncertainty"].to_numpy()
    return out


def series_change_table(changes: pd.DataFrame, z: float = 1.96) -> pd.DataFrame:
    """Display table of :func:`glacierlab.analysis.series.series_changes` (± at ``z`` sigma)."""
    d = digits_for(changes["area_from_km2"])
    out = pd.DataFrame(
        index=pd.Index(
            [f"{a} → {b}" for a, b in zip(changes["from_date"], changes["to_date"], strict=True)], name="from → to"
        )
    )
    out["area from (km²)"] = changes["area_from_km2"].round(d).to_numpy()
    out["area to (km²)"] = changes["area_to_km2"].round(d).to_numpy()
    out["change ± (km²)"] = [
        pm_text(c, s, d, z) for c, s in zip(changes["change_km2"], changes["change_sd_km2"], strict=True)
    ]
    out["gained (km²)"] = changes["gained_km2"].round(d).to_numpy()
    out["lost (km²)"] = changes["lost_km2"].round(d).to_numpy()
    out["change established"] = changes["established"].astype(bool).to_numpy()
    out["flags"] = [n or "–" for n in changes["note"]]
    return out


def coverage_table(check: HeldoutAreaCheck) -> pd.DataFrame:
    """Display table of the held-out coverage (fitted error model): one row per unit kind."""
    c = check.coverage[check.coverage["model"] == "fitted L"]
    rows = {}
    for kind, g in c.groupby("kind", sort=False):
        g = g.set_index("level")
        rows[kind] = {
            "units": str(int(g["units"].iloc[0])),
            **{
                f"coverage of the {int(round(lv * 100))} % interval (%)": str(round(g.loc[lv, "coverage"] * 100))
                for lv in g.index
            },
            "median |z| (0.67 expected)": round(float(g["median_abs_z"].iloc[0]), 2),
            "bias, expected − RGI (%)": round(float(g["bias_rel"].iloc[0]) * 100, 1),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "test-block units"
    return out
