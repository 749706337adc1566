"""Everest: predicted glacier outlines vs RGI 6.0, per glacier, judged against expert uncertainty bands.

Prints the per-glacier table (reference and model area, relative deviation, IoU, distances, debris
fraction, tolerance, inside/outside) and the fraction of glaciers inside (a) the Paul et al. (2013)
literature band and (b) the inter-analyst band measured on the Hochalmkees GLIMS pairs.

Commands (from the repository root):

    .venv/bin/python benchmarks/outlines_vs_rgi.py --mask PATH.tif           # a predicted mask GeoTIFF
    .venv/bin/python benchmarks/outlines_vs_rgi.py                           # the shipped model
    # self-check: the RGI mask against its own outlines (nearly all inside), then a 2-pixel erosion
    .venv/bin/python benchmarks/outlines_vs_rgi.py \
        --mask ../shared/data/everest_landsat7_exploradores_aster/DERIVED_everest_rgi60_mask_30m.tif \
        [--erode 2]

The debris fraction per glacier is a proxy: the share of the glacier's reference pixels whose mean
Landsat RGB value is below ``--debris-dn`` (dark = debris or shadow; clean ice/snow is bright).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from rasterio.features import rasterize
from scipy import ndimage

from glacierlab.outlines.change import compare_outlines
from glacierlab.outlines.expert import (
    analyst_pairs,
    band_from_pairs,
    fraction_inside,
    judge_against_band,
    literature_band,
)
from glacierlab.outlines.polygons import mask_to_polygons, partition_inventory, rio_transform, split_by_inventory

EVEREST = "everest_landsat7_exploradores_aster"


def data_dir() -> Path:
    env = os.environ.get("GLACIERLAB_SEED_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def model_mask() -> tuple[np.ndarray, object, object]:
    """Predict the Everest scene with the shipped model (needs glacierlab.data.stack/predict and weights)."""
    try:
        from glacierlab.data.stack import stack_region
        from glacierlab.inference.predict import predict_scene
    except ImportError as err:
        sys.exit(
            f"no --mask given and the model pipeline is not available yet ({err}); "
            "pass --mask PATH.tif with a predicted glacier mask (1 = glacier)."
        )
    weights = sorted((Path(__file__).resolve().parents[1] / "glacierlab" / "weights").glob("*.safetensors"))
    if not weights:
        sys.exit("no shipped weights under glacierlab/weights/*.safetensors; pass --mask PATH.tif instead.")
    stack = stack_region("everest")
    result = predict_scene(weights[0], stack, progress=False)
    mask = result["mask"]
    return np.asarray(mask.values), rio_transform(mask), mask.rio.crs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mask", type=Path, help="predicted mask GeoTIFF (1 = glacier); default: run the model")
    ap.add_argument("--erode", type=int, default=0, help="erode the mask by N pixels (perturbation test)")
    ap.add_argument("--spacing", type=float, default=30.0, help="boundary sampling step (m)")
    ap.add_argument(
        "--debris-dn", type=float, default=150.0, help="RGB mean below which a pixel counts as debris"
    )
    ap.add_argument(
        "--min-area-km2", type=float, default=0.0, help="skip reference glaciers smaller than this"
    )
    ap.add_argument("--rows", type=int, default=100, help="table rows to print")
    args = ap.parse_args(argv)
    folder = data_dir() / EVEREST
    t0 = time.perf_counter()
    if args.mask is not None:
        with rasterio.open(args.mask) as src:
            mask, transform, crs = src.read(1), src.transform, src.crs
    else:
        mask, transform, crs = model_mask()
    glacier = mask == 1
    if args.erode:
        glacier = ndimage.binary_erosion(glacier, iterations=args.erode)
    h, w = glacier.shape
    bounds = rasterio.transform.array_bounds(h, w, transform)

    rgi = gpd.read_file(folder / "15_rgi60_glacier_outlines.gpkg").to_crs(crs)
    ref = rgi[["RGIId", "geometry"]].clip(bounds)
    ref = ref[ref.geometry.area / 1e6 >= max(args.min_area_km2, 1e-9)]
    ref = partition_inventory(
        ref, "RGIId"
    )  # RGI polygons overlap slightly: the larger glacier keeps the overlap
    pred = mask_to_polygons(glacier, transform, crs)
    pieces = split_by_inventory(pred, ref, id_col="RGIId", crs=crs)
    assigned = pieces[pieces["RGIId"].notna()]
    table = compare_outlines(ref, assigned, id_col="RGIId", spacing_m=args.spacing, crs=crs).loc[ref["RGIId"]]

    ids = {rid: i + 1 for i, rid in enumerate(ref["RGIId"])}
    zones = rasterize(
        zip(ref.geometry, ids.values(), strict=True), out_shape=(h, w), transform=transform, dtype="int32"
    )
    with rasterio.open(folder / "LE71400412000304SGS00_RGB.tif") as src:
        dark = src.read().astype(np.float32).mean(axis=0) < args.debris_dn
    n_pix = np.bincount(zones.ravel(), minlength=len(ids) + 1)
    n_dark = np.bincount(zones.ravel(), weights=dark.ravel(), minlength=len(ids) + 1)
    debris = {rid: float(n_dark[i] / n_pix[i]) if n_pix[i] else 0.0 for rid, i in ids.items()}

    glims = gpd.read_file(data_dir() / "hochalmkees_glims_multidate" / "glims_polygons.shp")
    pairs = analyst_pairs(glims, analysis_col="anlys_id", date_col="src_date", spacing_m=10.0)
    bands = {
        "literature (Paul 2013)": literature_band(),
        "inter-analyst (Hochalmkees)": band_from_pairs(pairs),
    }
    judged = {name: judge_against_band(table, band, debris=debris) for name, band in bands.items()}
    elapsed = time.perf_counter() - t0

    lit = judged["literature (Paul 2013)"]
    show = pd.DataFrame(
        {
            "A_ref_km2": lit["area_a_km2"],
            "A_model_km2": lit["area_b_km2"],
            "dev_%": 100 * lit["area_dev_rel"],
            "IoU": lit["iou"],
            "mean_dist_m": lit["mean_boundary_distance_m"],
            "hausdorff_m": lit["hausdorff_m"],
            "symdiff_dist_m": lit["symdiff_distance_m"],
            "debris": lit["debris_fraction"],
            "tol_%": 100 * lit["area_tolerance_rel"],
            "inside_lit": lit["inside_band"],
            "inside_analyst": judged["inter-analyst (Hochalmkees)"]["inside_band"],
        }
    ).sort_values("A_ref_km2", ascending=False)
    with pd.option_context(
        "display.width", 200, "display.max_rows", args.rows, "display.float_format", "{:.3f}".format
    ):
        print(show.head(args.rows).to_string())
    print(
        f"\nmask: {args.mask or 'shipped model'} (erode {args.erode} px); "
        f"{len(table)} RGI 6.0 glaciers in the footprint"
    )
    print(
        f"total area: reference {table['area_a_km2'].sum():.2f} km², "
        f"model {table['area_b_km2'].sum():.2f} km²; "
        f"unassigned model pieces {pieces.attrs['unassigned_km2']:.3f} km²"
    )
    for name, band in bands.items():
        dist = (
            f", mean boundary distance <= {band.boundary_distance_m:.1f} m"
            if band.boundary_distance_m
            else ""
        )
        print(
            f"{name}: area ±{100 * band.clean_rel_area:.1f} % clean ... "
            f"±{100 * band.debris_rel_area:.1f} % debris"
            f"{dist} -> inside: {100 * fraction_inside(judged[name]):.1f} % of glaciers "
            f"(area test alone {100 * fraction_inside(judged[name], column='inside_area_band'):.1f} %)"
        )
    print(f"elapsed: {elapsed:.1f} s")


if __name__ == "__main__":
    main()
