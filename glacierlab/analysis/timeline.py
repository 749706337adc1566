"""The model's glacier map on every date with imagery, change between dates and against dated outlines.

* :func:`other_dates`: every other optical scene of the area (also of overlapping catalog regions) on the
  report's grid, mapped when the checkpoint fits it (:mod:`glacierlab.inference.compat`), else with the reason;
* :func:`model_change`: per glacier, gained / lost / stable ice between two model maps (masks) and the
  change of the expected area with its uncertainty (:mod:`glacierlab.outlines.area_error`; the two dates'
  errors are taken as independent, so sigmas add in quadrature);
* :func:`reference_date_groups`: inventory outlines grouped by source date (RGI ``BgnDate``) against the map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from glacierlab.analysis.series import Z95
from glacierlab.errors import GlacierLabError
from glacierlab.outlines.area_error import AreaErrorModel, area_table

if TYPE_CHECKING:
    import geopandas as gpd
    import xarray as xr


@dataclass(frozen=True)
class ModelDate:
    """One date the model mapped (or refused to map) on the report's grid.

    Attributes:
        label: e.g. "2020-04-07 Sentinel-2 (RGB)"; region, scene, date: its catalog region, scene key, date.
        prediction: ``map_stack`` output on the report grid (None when refused); valid: (H, W) bool pixels
            with optical data on this date; sources: catalog source ids read.
        caveats: Why this date's map (and its uncertainty) is weaker than the main one.
        refused: The reason the model was not applied, or "" when it was.
        optical: The scene's optical bands on the report grid (mapped scenes; renderers draw it).
        p, change, outlines: Set by the pipeline: calibrated glacier probability on the report grid,
            :func:`model_change` from the main map, polygons of the p > 0.5 mask.
    """

    label: str
    region: str
    scene: str
    date: str
    prediction: xr.Dataset | None = None
    valid: np.ndarray | None = field(default=None, repr=False)
    caveats: tuple[str, ...] = ()
    refused: str = ""
    sources: tuple[str, ...] = ()
    optical: xr.DataArray | None = field(default=None, repr=False)
    p: np.ndarray | None = field(default=None, repr=False)
    change: pd.DataFrame | None = field(default=None, repr=False)
    outlines: gpd.GeoDataFrame | None = field(default=None, repr=False)


def _overlapping(region_id: str, area: Sequence[float] | None = None) -> list[tuple[str, Any]]:
    """(region id, scene) of every optical scene whose imagery overlaps ``area`` (default: the region's bbox).

    Scenes of this region and of regions whose bbox overlaps it are candidates; each is kept only when its
    own footprint overlaps (a Swiss Alps clip 100 km from Aletsch is not another date of Aletsch).
    """
    from glacierlab.data.catalog import load_catalog
    from glacierlab.data.contents import scene_footprint
    from glacierlab.geo import BBox

    cat = load_catalog()
    box = BBox.parse(area if area is not None else cat.region(region_id).bbox)
    out, seen = [], set()
    for rid in [region_id, *(r for r in cat.regions if r != region_id and box.intersects(cat.region(r).bbox))]:
        for sc in cat.region(rid).scenes:  # a clip catalogued in two regions is one date, listed once
            if sc.optical and tuple(sc.optical) not in seen:
                foot = scene_footprint(rid, sc.key, cat)
                if foot is None or box.intersects(foot):
                    seen.add(tuple(sc.optical))
                    out.append((rid, sc))
    return out


def _month(date: str) -> int | None:
    parts = date.split("-")
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


def _label(stack: xr.Dataset, region: str, scene: Any) -> str:
    sensor = str(stack.attrs.get("sensor") or "")
    where = "" if region == stack.attrs.get("region") else f" ({region} {scene.key})"
    return f"{scene.date} {sensor}{where}".strip()


def other_dates(
    region_id: str,
    stack: xr.Dataset,
    checkpoint: str | Path,
    *,
    mapper: Callable[[Any, str, str, dict[str, Any]], xr.Dataset] | None = None,
    **predict: Any,
) -> list[ModelDate]:
    """Map every other optical scene of the area on the report's grid, or say why the model does not fit it.

    Args:
        region_id: The report's region.
        stack: The report's main stack (its grid and ``scene`` attribute; that scene is skipped).
        checkpoint: Checkpoint path.
        mapper: ``mapper(model_inputs, prefix, scene_key, options)`` maps a scene (the pipeline's writes COGs
            ``<prefix>probability.tif``... or reads them back); None: ``map_stack`` in memory.
        **predict: Passed to :func:`glacierlab.analysis.regional.map_stack`.

    Returns:
        One :class:`ModelDate` per other scene, mapped or refused, sorted by date.
    """
    from rasterio.warp import transform_bounds

    from glacierlab.analysis.regional import map_stack
    from glacierlab.data.stack import group, stack_region
    from glacierlab.files import safe_name
    from glacierlab.inference.compat import model_inputs, require_product_level_fit
    from glacierlab.models import load_checkpoint

    ck = load_checkpoint(checkpoint)
    main = (stack.attrs.get("region", region_id), str(stack.attrs.get("scene", "")))
    out: list[ModelDate] = []
    grid = stack["reference"] if "reference" in stack else stack["optical"].isel(optical_band=0, drop=True)
    area = transform_bounds(grid.rio.crs, "EPSG:4326", *grid.rio.bounds(), densify_pts=21)
    for rid, scene in _overlapping(region_id, area):
        if (rid, scene.key) == main:
            continue
        label = f"{scene.date} ({rid} {scene.key})"
        sources: list[str] = []
        try:
            s = stack_region(rid, date=scene.key, groups=("optical",), like=grid)  # cheap: refusals first
            label, sources = _label(s, rid, scene), str(s.attrs.get("sources", "")).split(",")
            require_product_level_fit(ck, s, Path(checkpoint).name)
            if set(ck.bands) - {"optical"}:
                s = stack_region(rid, date=scene.key, groups=tuple(ck.bands), like=grid)
                sources = str(s.attrs.get("sources", "")).split(",")
            inputs, filled = model_inputs(s, ck.bands, fill_missing=True)
            valid = np.isfinite(s["optical"].values).any(axis=0)
            optical = group(s, "optical")
            if not valid.any():
                raise GlacierLabError(f"the scene has no optical pixel inside the {region_id} grid")
        except GlacierLabError as err:
            out.append(ModelDate(label, rid, scene.key, scene.date, refused=str(err), sources=tuple(sources)))
            continue
        caveats = [f"{', '.join(bands)} missing ({g}): fed as no data" for g, bands in filled.items() if bands]
        main_sensor = str(stack.attrs.get("sensor") or "")
        if main_sensor and s.attrs.get("sensor") and s.attrs["sensor"] != main_sensor:
            caveats.append(f"another sensor than the main scene ({s.attrs['sensor']} vs {main_sensor})")
        if _month(scene.date) and _month(str(stack.attrs.get("date", ""))) not in (None, _month(scene.date)):
            caveats.append(
                f"another season (month {_month(scene.date)} vs {_month(str(stack.attrs['date']))}): snow cover differs"
            )
        if valid.mean() < 0.999:
            caveats.append(f"covers {valid.mean() * 100:.0f} % of the grid")
        prefix = safe_name(f"{scene.key}_".replace("/", "-"), "scene key")
        opts = {**predict, "nodata": "all"} if any(filled.values()) else predict  # filled bands: no data, not NaN
        prediction, refused = None, ""
        try:
            if mapper is None:
                prediction = map_stack(inputs, checkpoint, **opts)
            else:
                prediction = mapper(inputs, prefix, scene.key, opts)
        except GlacierLabError as err:
            refused = str(err)
        out.append(
            ModelDate(
                label, rid, scene.key, scene.date, prediction, valid, tuple(caveats), refused, tuple(sources), optical
            )
        )
    return sorted(out, key=lambda m: m.date)


def unmapped_scenes(region_id: str, checkpoint: str | Path | None) -> list[ModelDate]:
    """Optical scenes of the area when the report has no main map: each with why it is not mapped here.

    Uses the catalog's product level (no imagery is read): a checkpoint that does not fit the kind of
    imagery says so (:func:`glacierlab.inference.compat.product_level_problem`); one that fits needs a report
    run on that scene (``date=<scene>``) to have a grid to map on.
    """
    from glacierlab.data.catalog import load_catalog
    from glacierlab.inference.compat import product_level_problem
    from glacierlab.models import load_checkpoint

    cat = load_catalog()
    ck = load_checkpoint(checkpoint) if checkpoint else None
    name = Path(checkpoint).name if checkpoint else "the model"
    out = []
    for rid, scene in _overlapping(region_id):
        src = cat.source(scene.optical[0])
        problem = product_level_problem(ck, src.product_level or "", f"{rid} {scene.key}", name) if ck else ""
        refused = problem or (
            f"no main map to compare with in this report; run it with region={rid!r}, date={scene.key!r}."
        )
        out.append(ModelDate(f"{scene.date} {src.sensor}".strip(), rid, scene.key, scene.date, refused=refused))
    return out


def calibrated_probability(
    prediction: xr.Dataset, checkpoint: str | Path, valid: np.ndarray | None = None
) -> np.ndarray:
    """Calibrated glacier probability of a prediction (the calibrator the checkpoint's options select).

    Args:
        prediction: ``map_stack`` output (``probability`` = raw glacier probability, NaN = no data).
        checkpoint: The checkpoint that made it.
        valid: Optional (H, W) bool pixels to keep (e.g. where the date has optical data); others NaN.
    """
    from glacierlab.analysis.heldout_area import checkpoint_calibrator
    from glacierlab.models import load_checkpoint
    from glacierlab.outlines.area_error import glacier_probability

    calibrator = checkpoint_calibrator(load_checkpoint(checkpoint))
    p = glacier_probability(np.asarray(prediction["probability"].values), calibrator)
    return p if valid is None else np.where(valid, p, np.nan)


def model_change(
    zones: np.ndarray,
    ids: Sequence[Any],
    p_a: np.ndarray,
    p_b: np.ndarray,
    model: AreaErrorModel,
    pixel_km2: float,
    *,
    index_name: str = "glacier",
) -> pd.DataFrame:
    """Per glacier zone and for all glaciers: area at A and B with sigma, change, gained / lost / stable.

    Only pixels with data on both dates count; ``covered`` is the share of the zone's pixels with data on
    A that also have data on B.

    Args:
        zones: (H, W) glacier zone labels (:func:`~glacierlab.outlines.area_error.glacier_zones`).
        ids: Zone ids.
        p_a: (H, W) calibrated glacier probability at A (NaN = no data).
        p_b: Same at B.
        model: Error model (the same for both dates).
        pixel_km2: Pixel area (km²).
        index_name: Index name.

    Returns:
        One row per glacier (plus ``all glaciers``) with ``covered`` (0-1), ``area_a_km2``, ``sd_a_km2``,
        ``area_b_km2``, ``sd_b_km2`` (expected areas, 1 sigma), ``change_km2``, ``change_sd_km2``,
        ``gained_km2``, ``lost_km2``, ``stable_km2`` (p > 0.5 masks) and ``exceeds_uncertainty``
        (|change| > 1.96 sigma). Glaciers without common data are dropped.
    """
    common = np.isfinite(p_a) & np.isfinite(p_b)
    z = np.where(common, zones, 0)
    n = len(ids)
    everything = np.where(common & (zones > 0), 1, 0)
    ta = area_table(np.where(common, p_a, np.nan), z, ids, model, pixel_km2, index_name=index_name)
    tb = area_table(np.where(common, p_b, np.nan), z, ids, model, pixel_km2, index_name=index_name)
    alla = area_table(np.where(common, p_a, np.nan), everything, ["all glaciers"], model, pixel_km2)
    allb = area_table(np.where(common, p_b, np.nan), everything, ["all glaciers"], model, pixel_km2)
    ma, mb = p_a > 0.5, p_b > 0.5

    def count(m: np.ndarray) -> np.ndarray:
        c = np.bincount(z[m & common].ravel(), minlength=n + 1)[1:]
        return np.append(c, c.sum()) * pixel_km2

    zone_px = np.bincount(np.where(np.isfinite(p_a), zones, 0).ravel(), minlength=n + 1)[1:]
    common_px = np.bincount(z.ravel(), minlength=n + 1)[1:]
    cov = np.append(common_px / np.maximum(zone_px, 1), common_px.sum() / max(zone_px.sum(), 1))
    a = pd.concat([ta, alla])
    b = pd.concat([tb, allb])
    out = pd.DataFrame(
        {
            "covered": cov,
            "area_a_km2": a["expected_km2"].to_numpy(),
            "sd_a_km2": a["sd_km2"].to_numpy(),
            "area_b_km2": b["expected_km2"].to_numpy(),
            "sd_b_km2": b["sd_km2"].to_numpy(),
            "gained_km2": count(~ma & mb),
            "lost_km2": count(ma & ~mb),
            "stable_km2": count(ma & mb),
        },
        index=pd.Index([*ids, "all glaciers"], name=index_name),
    )
    out["change_km2"] = out["area_b_km2"] - out["area_a_km2"]
    out["change_sd_km2"] = np.hypot(out["sd_a_km2"], out["sd_b_km2"])
    out["exceeds_uncertainty"] = out["change_km2"].abs() > Z95 * out["change_sd_km2"]
    out = out[np.append(common_px > 0, True)]
    return out


def change_statement(row: pd.Series, a: str, b: str, caveats: Sequence[str] = (), *, validated: bool = True) -> str:
    """A plain sentence: the change of the expected area and whether it exceeds its uncertainty.

    Args:
        row: A row of :func:`model_change`.
        a: Label of the first date.
        b: Label of the second date.
        caveats: Why the second date's map is weaker (missing bands, other sensor, partial cover...).
        validated: False when the uncertainty model was not checked on the second date's kind of imagery:
            a formal exceedance is then not taken as an established change.
    """
    ch, sd = float(row["change_km2"]), float(row["change_sd_km2"])
    if not row["exceeds_uncertainty"]:
        verdict = "This does **not** exceed the uncertainty (|change| <= 1.96 sigma): no change is established"
    elif validated:
        verdict = "This exceeds the uncertainty (|change| > 1.96 sigma)"
    else:
        verdict = (
            "This formally exceeds the modelled uncertainty, but that uncertainty was fitted and checked on "
            f"the {a} imagery only and does not hold for {b} (see the caveats): **no change is established**; "
            "the difference is more likely the imagery than the ice"
        )
    text = (
        f"From {a} to {b} the expected glacier area changes by {ch:+.2f} ± {Z95 * sd:.2f} km² over the "
        f"{float(row['covered']) * 100:.0f} % of the glacier zones seen on both dates. {verdict}."
    )
    if caveats:
        text += " Caveats: " + "; ".join(caveats) + "."
    return text


def source_dates(inventory: gpd.GeoDataFrame, id_col: str) -> pd.Series:
    """Source (image) date of each glacier of an inventory: RGI ``BgnDate``, GLIMS ``src_date`` or ``date``.

    RGI writes unknown months/days as 99 and unknown dates as -9999999; those become the year or NaT.

    Returns:
        Series glacier id -> ``YYYY-MM-DD`` / ``YYYY`` string ("unknown" when absent).
    """

    def parse(v: Any) -> str:
        s = str(v).split("T")[0].split(" ")[0].replace("-", "")
        if not s.isdigit() or len(s) != 8 or s.startswith("9999") or int(s) < 0:
            return "unknown"
        y, m, d = s[:4], s[4:6], s[6:]
        return y if m == "99" else (f"{y}-{m}" if d == "99" else f"{y}-{m}-{d}")

    for col in ("BgnDate", "src_date", "date"):
        if col in inventory.columns:
            return pd.Series([parse(v) for v in inventory[col]], index=inventory[id_col].astype(str).to_numpy())
    return pd.Series("unknown", index=inventory[id_col].astype(str).to_numpy())


def reference_date_groups(
    inventory: gpd.GeoDataFrame,
    id_col: str,
    zones: np.ndarray,
    ids: Sequence[Any],
    p: np.ndarray,
    reference: np.ndarray,
    model: AreaErrorModel,
    pixel_km2: float,
    *,
    expert_rel: float = 0.05,
) -> pd.DataFrame:
    """Inventory glaciers grouped by source date against the model's map (areas in km²).

    Args:
        inventory: Outlines with ``id_col`` and a source-date column (see :func:`source_dates`).
        id_col: Glacier id column.
        zones: (H, W) zone labels of ``ids``.
        ids: Zone ids.
        p: (H, W) calibrated glacier probability of the model map (NaN = no data).
        reference: (H, W) rasterised inventory (1 glacier, 0 not, 255 no data) on the same grid.
        model: Error model of ``p``.
        pixel_km2: Pixel area.
        expert_rel: 1-sigma relative uncertainty of a manual outline (Paul et al. 2013: 5 % clean ice).

    Returns:
        One row per source date: ``glaciers``, ``reference_km2``, ``model_mask_km2`` (p > 0.5),
        ``model_expected_km2``, ``model_sd_km2``, ``difference_km2`` (expected - reference),
        ``difference_sd_km2`` (model and expert sigmas in quadrature), ``iou`` (mask vs reference) and
        ``within_uncertainty`` (|difference| <= 1.96 sigma).
    """
    dates = source_dates(inventory, id_col)
    zone_date = np.array(["none", *[dates.get(str(i), "unknown") for i in ids]])
    labels_of = zone_date[zones]
    rows = []
    for when in sorted(set(zone_date[1:])):
        unit = (labels_of == when) & (zones > 0)
        t = area_table(p, unit.astype(np.int32), [when], model, pixel_km2).iloc[0]
        ok = unit & np.isfinite(p) & (reference != 255)
        ref = (reference == 1) & ok
        mask = (p > 0.5) & ok
        ref_km2 = ref.sum() * pixel_km2
        diff = float(t["expected_km2"] - ref_km2)
        sd = float(np.hypot(t["sd_km2"], expert_rel * ref_km2))
        rows.append(
            {
                "source_date": when,
                "glaciers": int(sum(1 for i in ids if dates.get(str(i), "unknown") == when)),
                "reference_km2": ref_km2,
                "model_mask_km2": mask.sum() * pixel_km2,
                "model_expected_km2": float(t["expected_km2"]),
                "model_sd_km2": float(t["sd_km2"]),
                "difference_km2": diff,
                "difference_sd_km2": sd,
                "iou": float((ref & mask).sum() / max((ref | mask).sum(), 1)),
                "within_uncertainty": bool(abs(diff) <= Z95 * sd),
            }
        )
    return pd.DataFrame(rows).set_index("source_date")
