"""Expert uncertainty of glacier outlines and whether a model-reference difference lies inside it.

Two kinds of expert band (docs/GLAVITU_SPEC.md §7.2, "expert-level" delineation):

* inter-analyst spread measured on real same-date outline pairs, e.g. the two 2003 and two 2016
  analyses of Hochalmkees in GLIMS (:func:`analyst_pairs` -> :func:`band_from_pairs`);
* literature bands: Paul et al. (2013, Annals of Glaciology 54(63), doi:10.3189/2013AoG63A296) found
  multi-analyst area differences of about ±5 % for clean ice and up to ±30 % for debris-covered ice
  (:func:`literature_band`).

A glacier is inside the band when ``|A_model - A_ref| / A_ref`` is at most the band's relative area
tolerance for its debris fraction (linear between the clean and the debris value) and, when the band has
a distance, its mean boundary distance is at most that distance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from glacierlab.errors import ConfigError, InputError, unknown_name
from glacierlab.outlines.change import compare_outlines

#: Debris class names accepted by :func:`judge_against_band` and their debris fraction.
DEBRIS_CLASSES = {"clean": 0.0, "partly": 0.5, "debris": 1.0}


@dataclass(frozen=True)
class ExpertBand:
    """Tolerances within which two expert outlines of the same glacier typically differ.

    Attributes:
        clean_rel_area: Relative area tolerance for clean ice (fraction, e.g. 0.05 = ±5 %), >= 0.
        debris_rel_area: Relative area tolerance for fully debris-covered ice (fraction), >= clean_rel_area.
        boundary_distance_m: Largest acceptable mean boundary distance (m), or None for no distance test.
        source: Where the numbers come from (citation or measurement).
    """

    clean_rel_area: float
    debris_rel_area: float
    boundary_distance_m: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not (0 <= self.clean_rel_area <= self.debris_rel_area):
            raise ConfigError(
                "need 0 <= clean_rel_area <= debris_rel_area; "
                f"got {self.clean_rel_area}, {self.debris_rel_area}; "
                "give the debris tolerance as the larger one."
            )
        if self.boundary_distance_m is not None and self.boundary_distance_m < 0:
            raise ConfigError(f"boundary_distance_m must be >= 0 or None; got {self.boundary_distance_m}.")

    def area_tolerance(self, debris_fraction: float | np.ndarray) -> np.ndarray:
        """Relative area tolerance for debris fractions in [0, 1] (linear between clean and debris)."""
        f = np.clip(np.asarray(debris_fraction, dtype=float), 0.0, 1.0)
        return self.clean_rel_area + f * (self.debris_rel_area - self.clean_rel_area)


def literature_band(clean: float = 0.05, debris: float = 0.30) -> ExpertBand:
    """The Paul et al. (2013) multi-analyst band: ±5 % area for clean ice, up to ±30 % with debris cover."""
    return ExpertBand(clean, debris, None, "Paul et al. 2013, Ann. Glaciol. 54(63): multi-analyst digitising")


def analyst_pairs(
    outlines: gpd.GeoDataFrame,
    *,
    analysis_col: str,
    date_col: str,
    max_days_apart: int = 10,
    spacing_m: float = 10.0,
) -> pd.DataFrame:
    """Compare every pair of analyses of the same glacier made for (nearly) the same date.

    Args:
        outlines: Polygons of one glacier from several analyses (e.g. a GLIMS download); the polygons of
            one analysis are merged.
        analysis_col: Column identifying an analysis (GLIMS ``anlys_id``).
        date_col: Column with the source-image date of each analysis.
        max_days_apart: Analyses whose dates differ by at most this many days count as the same date.
        spacing_m: Boundary sampling step for the distances (m).

    Returns:
        One row per pair: ``analysis_a``, ``analysis_b``, ``date_a``, ``date_b``, ``area_a_km2``,
        ``area_b_km2``, ``rel_spread`` = |A - B| / mean(A, B), ``iou``, ``hausdorff_m``,
        ``mean_boundary_distance_m``, ``symdiff_distance_m``. Empty when no pair exists.
    """
    for col in (analysis_col, date_col):
        if col not in outlines.columns:
            raise unknown_name("column", col, [str(c) for c in outlines.columns])
    dates = outlines.groupby(analysis_col)[date_col].first().map(pd.Timestamp).sort_values()
    rows = []
    keys = list(dates.index)
    for i, ka in enumerate(keys):
        for kb in keys[i + 1 :]:
            if abs((dates[kb] - dates[ka]).days) > max_days_apart:
                continue
            t = compare_outlines(
                outlines[outlines[analysis_col] == ka],
                outlines[outlines[analysis_col] == kb],
                spacing_m=spacing_m,
            ).iloc[0]
            mean_area = 0.5 * (t["area_a_km2"] + t["area_b_km2"])
            rows.append(
                {
                    "analysis_a": ka,
                    "analysis_b": kb,
                    "date_a": dates[ka],
                    "date_b": dates[kb],
                    "area_a_km2": t["area_a_km2"],
                    "area_b_km2": t["area_b_km2"],
                    "rel_spread": abs(t["change_km2"]) / mean_area if mean_area > 0 else np.nan,
                    "iou": t["iou"],
                    "hausdorff_m": t["hausdorff_m"],
                    "mean_boundary_distance_m": t["mean_boundary_distance_m"],
                    "symdiff_distance_m": t["symdiff_distance_m"],
                }
            )
    cols = [
        "analysis_a",
        "analysis_b",
        "date_a",
        "date_b",
        "area_a_km2",
        "area_b_km2",
        "rel_spread",
        "iou",
        "hausdorff_m",
        "mean_boundary_distance_m",
        "symdiff_distance_m",
    ]
    return pd.DataFrame(rows, columns=cols)


def band_from_pairs(
    pairs: pd.DataFrame, *, statistic: str = "max", debris_rel_area: float = 0.30
) -> ExpertBand:
    """An expert band from measured inter-analyst spreads (output of :func:`analyst_pairs`).

    Args:
        pairs: Same-date analyst pairs with ``rel_spread`` and ``mean_boundary_distance_m``.
        statistic: "max" (the widest disagreement seen) or "mean".
        debris_rel_area: Tolerance for debris-covered ice; pairs on clean ice cannot measure it, so the
            literature value is used unless given (raised to the measured spread if that is larger).

    Returns:
        ExpertBand with the measured relative area spread and mean boundary distance.
    """
    if pairs.empty:
        raise InputError("no same-date analyst pairs; widen max_days_apart or use literature_band().")
    funcs: dict[str, Callable[[Any], Any]] = {"max": np.nanmax, "mean": np.nanmean}
    if statistic not in funcs:
        raise unknown_name("statistic", statistic, funcs)
    spread = float(funcs[statistic](pairs["rel_spread"]))
    dist = float(funcs[statistic](pairs["mean_boundary_distance_m"]))
    return ExpertBand(
        spread, max(spread, debris_rel_area), dist, f"inter-analyst {statistic} over {len(pairs)} pairs"
    )


def _debris_fractions(index: pd.Index, debris: Any) -> np.ndarray:
    if debris is None:
        return np.zeros(len(index))
    if isinstance(debris, int | float | str):
        debris = dict.fromkeys(index, debris)
    if not isinstance(debris, Mapping | pd.Series):
        raise InputError(
            "debris must be None, one value, a mapping or a Series of glacier id -> fraction/class."
        )
    series = pd.Series(debris).reindex(index)
    missing = series[series.isna()].index.tolist()
    if missing:
        raise InputError(f"no debris fraction/class for glaciers {missing[:5]}...; give one per glacier id.")
    out = []
    for v in series:
        if isinstance(v, str):
            if v not in DEBRIS_CLASSES:
                raise unknown_name("debris class", v, DEBRIS_CLASSES)
            out.append(DEBRIS_CLASSES[v])
        elif not 0.0 <= float(v) <= 1.0:
            raise InputError(f"debris fraction must be in [0, 1]; got {v!r}.")
        else:
            out.append(float(v))
    return np.asarray(out, dtype=float)


def judge_against_band(table: pd.DataFrame, band: ExpertBand, *, debris: Any = None) -> pd.DataFrame:
    """Per glacier: does the model-reference difference lie inside the expert band?

    Args:
        table: Output of :func:`glacierlab.outlines.change.compare_outlines` with A = reference, B = model.
        band: The expert band (:func:`literature_band`, :func:`band_from_pairs`).
        debris: Debris fraction in [0, 1] or class ("clean", "partly", "debris") per glacier: one value
            for all, or a mapping/Series glacier id -> value. None treats every glacier as clean ice.

    Returns:
        A copy of ``table`` with ``debris_fraction``, ``area_dev_rel`` = (B - A) / A, ``area_tolerance_rel``,
        ``inside_area_band``, ``inside_distance_band`` (True when the band has no distance) and
        ``inside_band``. Glaciers missing from the model (B = 0) are outside the band.
    """
    needed = {"area_a_km2", "area_b_km2", "mean_boundary_distance_m"}
    if not needed <= set(table.columns):
        raise InputError(
            f"table lacks columns {sorted(needed - set(table.columns))}; pass compare_outlines() output."
        )
    out = table.copy()
    out["debris_fraction"] = _debris_fractions(out.index, debris)
    a = out["area_a_km2"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["area_dev_rel"] = np.where(a > 0, (out["area_b_km2"].to_numpy() - a) / a, np.nan)
    out["area_tolerance_rel"] = band.area_tolerance(out["debris_fraction"].to_numpy())
    out["inside_area_band"] = (out["area_dev_rel"].abs() <= out["area_tolerance_rel"]).to_numpy()
    if band.boundary_distance_m is None:
        out["inside_distance_band"] = True
    else:
        out["inside_distance_band"] = (out["mean_boundary_distance_m"] <= band.boundary_distance_m).to_numpy()
    out["inside_band"] = out["inside_area_band"] & out["inside_distance_band"]
    out.attrs.update(table.attrs, band=band)
    return out


def fraction_inside(judged: pd.DataFrame, *, column: str = "inside_band") -> float:
    """Fraction (0-1) of glaciers inside the band, from the output of :func:`judge_against_band`."""
    if column not in judged.columns:
        raise unknown_name("column", column, [c for c in judged.columns if c.startswith("inside")])
    return float(judged[column].mean()) if len(judged) else float("nan")
