"""Pieces of ``everest_model.py``: per-glacier figures, the tuned forest, calibrator choice, variants table.

* :func:`glacier_figures`: the predicted mask over the whole frame, split by the RGI 6.0 outlines,
  per glacier: area deviation against RGI, debris fraction, inside the clean-ice band (±5 % area) and
  inside the literature band (±5 % clean ... ±30 % debris-covered, Paul et al. 2013), with each
  glacier's majority split (train / val / test / buffer).
* :func:`debris_fractions`: a debris proxy from the optical bands and the DEM (RGI 6.0 has no debris
  attribute).
* :func:`tuned_forest`: the random-forest baseline with its hyper-parameters chosen on the validation
  blocks (fitted on the training blocks), on the same inputs as the model.
* :func:`choose_calibrator`: the calibration method chosen by leave-one-block-out ECE over the
  validation blocks (never on the test blocks).
* :func:`variants_table`: the committed table of every variant tried (``everest_variants.json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS = Path(__file__).resolve().with_name("everest_variants.json")
RGI = "everest_landsat7_exploradores_aster/15_rgi60_glacier_outlines.gpkg"
#: Debris proxy: a reference pixel is debris-covered when its mean RGB DN is below this and, where the
#: DEM has data, its slope is below DEBRIS_SLOPE (dark steep faces are shadow or rock, not debris).
#: The rows of every figures table (method names of the metrics file).
ROWS = ("model", "random_forest", "ratio_threshold", "all_glacier")
DEBRIS_DN = 150.0
DEBRIS_SLOPE = 25.0
#: Forest hyper-parameters tried on the validation blocks (fitted on the training blocks).
FOREST_GRID = (
    {"min_samples_leaf": 1, "max_features": "sqrt"},
    {"min_samples_leaf": 5, "max_features": "sqrt"},
    {"min_samples_leaf": 20, "max_features": "sqrt"},
    {"min_samples_leaf": 5, "max_features": 0.5},
    {"min_samples_leaf": 20, "max_features": 0.5},
)


def rgi_outlines(seed_dir: Path) -> Any:
    """The 86 RGI 6.0 outlines of the Everest frame (GeoDataFrame, with their attributes)."""
    import geopandas as gpd

    return gpd.read_file(seed_dir / RGI)


def mask_dataarray(mask: np.ndarray, like: Any) -> Any:
    """A (y, x) uint8 mask on ``like``'s grid (CRS and transform written)."""
    import xarray as xr

    da = xr.DataArray(mask.astype(np.uint8), coords={"y": like["y"], "x": like["x"]}, dims=("y", "x"))
    return da.rio.write_crs(like.rio.crs).rio.write_transform(like.rio.transform())


def glacier_zones(rgi: Any, like: Any) -> tuple[np.ndarray, list[str]]:
    """(H, W) int32 zone per pixel (0 = none, i = i-th RGIId) and the ids, larger glaciers on top."""
    from rasterio.features import rasterize

    g = rgi.to_crs(like.rio.crs)
    g = g.iloc[np.argsort(g.geometry.area.to_numpy())]  # small first, larger drawn over them
    ids = list(g["RGIId"])
    shape = (like.sizes["y"], like.sizes["x"])
    zones = rasterize(
        zip(g.geometry, range(1, len(ids) + 1), strict=True),
        out_shape=shape,
        transform=like.rio.transform(),
        dtype="int32",
    )
    return zones, ids


def debris_fractions(stack: Any, rgi: Any) -> dict[str, float]:
    """Share of each glacier's reference pixels that the proxy calls debris-covered (0-1).

    Proxy: mean RGB DN < :data:`DEBRIS_DN` (clean ice and snow are bright in the 8-bit stretched
    Landsat bands) and, where the DEM has data, slope < :data:`DEBRIS_SLOPE` degrees (debris tongues
    are gentle; dark steep pixels are shadowed or rocky walls). It over-counts shadowed ice where the
    DEM is missing; it is a proxy, not a debris map.
    """
    rgb = np.asarray(stack["optical"].sel(optical_band=["red", "green", "blue"]).values, np.float32)
    slope = np.asarray(stack["dem"].sel(dem_band="slope").values, np.float32)
    dark = rgb.mean(axis=0) < DEBRIS_DN
    gentle = ~np.isfinite(slope) | (slope < DEBRIS_SLOPE)
    zones, ids = glacier_zones(rgi, stack["reference"])
    n = np.bincount(zones.ravel(), minlength=len(ids) + 1)
    d = np.bincount(zones.ravel(), weights=(dark & gentle).ravel(), minlength=len(ids) + 1)
    return {rid: float(d[i + 1] / n[i + 1]) if n[i + 1] else 0.0 for i, rid in enumerate(ids)}


def majority_split(split: Any, rgi: Any, like: Any) -> dict[str, str]:
    """Per glacier, the split holding most of its reference pixels (train, val, test or buffer)."""
    zones, ids = glacier_zones(rgi, like)
    pm = split.pixel_map()
    names = {0: "train", 1: "val", 2: "test", -1: "buffer"}
    out = {}
    for i, rid in enumerate(ids):
        codes = pm[zones == i + 1]
        if codes.size == 0:
            out[rid] = "none"
            continue
        vals, counts = np.unique(codes, return_counts=True)
        out[rid] = names[int(vals[np.argmax(counts)])]
    return out


def glacier_figures(
    mask: np.ndarray, like: Any, rgi: Any, debris: Mapping[str, float], splits: Mapping[str, str]
) -> dict[str, Any]:
    """Per-glacier comparison of a whole-frame mask with RGI 6.0 and the expert bands.

    Args:
        mask: (H, W) bool or 0/1 predicted glacier mask over the whole frame.
        like: The reference DataArray (grid, CRS).
        rgi: RGI outlines.
        debris: RGIId -> debris fraction (0-1).
        splits: RGIId -> majority split.

    Returns:
        ``clean_band`` (share of glaciers with |area deviation| <= 5 %), ``literature_band`` (share
        inside ±5 % clean ... ±30 % debris by debris fraction), ``median_abs_dev``, the same per
        majority split, and ``table`` (one row per glacier, largest first).
    """
    from glacierlab.analysis.regional import judge_glaciers
    from glacierlab.outlines.expert import judge_against_band, literature_band

    da = mask_dataarray(np.asarray(mask) == 1, like)
    clean = judge_glaciers(da, rgi, debris=None)
    lit = judge_against_band(clean, literature_band(), debris=dict(debris))
    rows = []
    for rid in clean.sort_values("area_a_km2", ascending=False).index:
        rows.append(
            {
                "RGIId": rid,
                "split": splits.get(rid, "none"),
                "area_rgi_km2": round(float(clean.loc[rid, "area_a_km2"]), 4),
                "area_model_km2": round(float(clean.loc[rid, "area_b_km2"]), 4),
                "dev": round(float(clean.loc[rid, "area_dev_rel"]), 4),
                "debris": round(float(lit.loc[rid, "debris_fraction"]), 3),
                "tolerance": round(float(lit.loc[rid, "area_tolerance_rel"]), 4),
                "inside_clean": bool(clean.loc[rid, "inside_band"]),
                "inside_literature": bool(lit.loc[rid, "inside_band"]),
            }
        )
    out: dict[str, Any] = {
        "glaciers": len(rows),
        "clean_band": float(np.mean([r["inside_clean"] for r in rows])),
        "literature_band": float(np.mean([r["inside_literature"] for r in rows])),
        "median_abs_dev": float(np.median([abs(r["dev"]) for r in rows])),
        "by_split": {},
        "table": rows,
    }
    for s in ("train", "val", "test", "buffer"):
        sub = [r for r in rows if r["split"] == s]
        if sub:
            out["by_split"][s] = {
                "glaciers": len(sub),
                "clean_band": float(np.mean([r["inside_clean"] for r in sub])),
                "literature_band": float(np.mean([r["inside_literature"] for r in sub])),
                "median_abs_dev": float(np.median([abs(r["dev"]) for r in sub])),
            }
    return out


def tuned_forest(scene: Any, ref: np.ndarray, areas: Mapping[str, np.ndarray], seed: int) -> dict[str, Any]:
    """Random forest fitted on training blocks, hyper-parameters chosen by validation glacier IoU.

    Returns:
        ``prediction`` ((H, W) uint8 of the chosen forest), ``params``, ``val_iou`` per grid entry.
    """
    from glacierlab.metrics import heldout_counts
    from glacierlab.training.baselines import fit_random_forest, predict_random_forest

    best, tried = None, []
    for params in FOREST_GRID:
        forest = fit_random_forest(scene.inputs, scene.bands, ref, areas["train"], seed=seed, **params)
        pred = predict_random_forest(forest, scene.inputs, scene.bands)
        iou = heldout_counts(pred, ref, areas["val"]).iou
        tried.append({**params, "val_iou": round(float(iou), 4)})
        if best is None or iou > best[0]:
            best = (iou, params, pred)
    assert best is not None
    return {"prediction": best[2], "params": dict(best[1]), "val_iou": float(best[0]), "tried": tried}


def block_areas(split: Any, name: str) -> list[np.ndarray]:
    """The pixels of each block of ``name`` (buffer excluded), one boolean mask per block."""
    pm = split.pixel_map()
    code = ("train", "val", "test").index(name)
    out = []
    bs = split.block_size
    for i, j in zip(*np.nonzero(split.blocks == code), strict=True):
        m = np.zeros(split.shape, bool)
        m[i * bs : (i + 1) * bs, j * bs : (j + 1) * bs] = True
        m &= pm == code
        if m.any():
            out.append(m)
    return out


def choose_calibrator(prob: np.ndarray, ref: np.ndarray, split: Any, methods: Sequence[str]) -> dict[str, Any]:
    """Calibration method with the lowest leave-one-validation-block-out ECE (pixel-weighted mean).

    Each validation block in turn is scored with calibrators fitted on the other validation blocks;
    the test blocks play no part.
    """
    from glacierlab.analysis.evaluate import calibration_ece

    blocks = block_areas(split, "val")
    totals = {m: 0.0 for m in methods}
    per_block: dict[str, list[float]] = {m: [] for m in methods}
    n_total = 0
    for k, held in enumerate(blocks):
        fit = np.zeros_like(held)
        for j, b in enumerate(blocks):
            if j != k:
                fit |= b
        rep = calibration_ece(prob, ref, fit, held, methods=methods)
        for m in methods:
            totals[m] += rep.ece_calibrated[m] * rep.pixels_eval
            per_block[m].append(round(float(rep.ece_calibrated[m]), 4))
        n_total += rep.pixels_eval
    cv = {m: totals[m] / max(n_total, 1) for m in methods}
    best = min(cv, key=cv.get)
    return {"method": best, "cv_ece": cv, "blocks": len(blocks), "per_block": per_block[best]}


def load_variants() -> list[dict[str, Any]]:
    """The committed variant rows (empty list when the file does not exist yet)."""
    return json.loads(VARIANTS.read_text())["variants"] if VARIANTS.exists() else []


def record_variant(row: Mapping[str, Any]) -> None:
    """Add (or replace, by name) one variant row in ``everest_variants.json``."""
    rows = [r for r in load_variants() if r["name"] != row["name"]] + [dict(row)]
    text = {
        "about": "Every Everest variant tried for issue 15, scored by benchmarks/everest_model.py on the "
        "test blocks of the shipped split (same blocks and labels for all); training on CPU, 1 thread.",
        "variants": rows,
    }
    VARIANTS.write_text(json.dumps(text, indent=1) + "\n")


def variant_row(name: str, m: Mapping[str, Any], description: str) -> dict[str, Any]:
    """The table row of one scored checkpoint (figures from the benchmark's metrics dict)."""
    t, c, g = m["test"], m["calibration"], m["glaciers"]
    return {
        "name": name,
        "description": description,
        "iou": round(t["model"]["iou"], 4),
        "mean_iou": round(t["model"]["mean_iou"], 4),
        "rf_iou": round(t["random_forest"]["iou"], 4),
        "rf_mean_iou": round(t["random_forest"]["mean_iou"], 4),
        "clean_band": round(g["model"]["clean_band"], 4),
        "rf_clean_band": round(g["random_forest"]["clean_band"], 4),
        "literature_band": round(g["model"]["literature_band"], 4),
        "ece": round(c["ece_chosen"], 4),
        "calibrator": c["chosen"]["method"],
        "val_pixel_iou": round(m["val_model"]["iou"], 4),
        "train_minutes": m.get("train_minutes"),
        "predict_seconds": m.get("predict_seconds"),
        "window": m["window"],
        "stride": m["stride"],
        "tta": m.get("tta", False),
        "recipe": m.get("recipe"),
    }


def variants_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown table of the variants (the benchmark prints it; the model card embeds it)."""
    head = [
        "| variant | test IoU | mIoU | RF IoU / mIoU | clean band (RF) | lit. band | ECE (calibrator) "
        "| val IoU | train min | description |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines = []
    for r in rows:
        tm = "?" if r.get("train_minutes") is None else f"{r['train_minutes']:.0f}"
        lines.append(
            f"| {r['name']} | {r['iou']:.3f} | {r['mean_iou']:.3f} | {r['rf_iou']:.3f} / "
            f"{r['rf_mean_iou']:.3f} | {100 * r['clean_band']:.0f} % ({100 * r['rf_clean_band']:.0f} %) "
            f"| {100 * r['literature_band']:.0f} % | {r['ece']:.4f} ({r['calibrator']}) "
            f"| {r['val_pixel_iou']:.3f} | {tm} | {r['description']} |"
        )
    return head + lines
