"""Regional mapping steps used by the report notebook and benchmarks: predict, score, compare per glacier.

Each function is a thin composition of library functions (``predict``, ``outlines``, ``change``,
``uncertainty``), so that notebooks stay free of logic and the same steps are tested once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.errors import InputError
from glacierlab.vocabulary import NODATA

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import xarray as xr


def map_stack(
    stack: xr.Dataset | Mapping[str, Any],
    checkpoint: str | Path,
    *,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
    **kwargs: Any,
) -> xr.Dataset:
    """Predict a stacked region with a checkpoint and the inference options stored in it.

    Args:
        stack: Model inputs (``stack_region`` format, or group -> DataArray as ``model_inputs`` returns).
        checkpoint: Checkpoint path.
        out_dir: Write COGs there (see :func:`glacierlab.inference.predict.predict_scene`); None keeps results
            in memory.
        overwrite: Replace existing outputs.
        progress: Show a tqdm bar.
        **kwargs: Passed to ``predict_scene``: option overrides (``window``, ``stride``, ``tta``,
            ``mc_samples``...; None keeps the checkpoint's) or ``options=PredictOptions(...)``.

    Returns:
        ``probability`` (0-1), ``mask`` (0/1, 255 no data) and ``confidence`` (0-1) on the stack's grid.
    """
    from glacierlab.inference.predict import predict_scene
    from glacierlab.models import load_checkpoint

    ck = load_checkpoint(checkpoint)
    return predict_scene(ck, stack, out_dir=out_dir, overwrite=overwrite, progress=progress, **kwargs)


def score_against_reference(
    prediction: xr.Dataset, stack: xr.Dataset, area: np.ndarray | None = None
) -> dict[str, float]:
    """Glacier IoU, precision, recall, F1, background IoU and mean IoU against the stack's reference.

    Args:
        prediction: Output of :func:`map_stack` (``mask``: 1 glacier, 0 ice-free, 255 no data).
        stack: The inputs, with ``reference`` (1 glacier, 0 ice-free, 255 no data).
        area: Optional boolean (y, x) mask of the pixels to score (e.g. held-out blocks).

    Returns:
        Dict of scores in [0, 1] plus ``pixels`` (count scored), see :meth:`glacierlab.metrics.ConfusionCounts.scores`.
    """
    from glacierlab.metrics import confusion_counts

    if "reference" not in stack:
        raise InputError("the stack has no `reference` layer to score against; use a region with outlines.")
    pred = np.asarray(prediction["mask"].values)
    ref = np.asarray(stack["reference"].values)
    valid = (pred != NODATA) & (ref != NODATA)
    if area is not None:
        valid &= np.asarray(area, dtype=bool)
    return confusion_counts(pred == 1, ref == 1, valid).scores()


def judge_glaciers(
    mask: xr.DataArray,
    inventory: gpd.GeoDataFrame,
    *,
    id_col: str = "RGIId",
    spacing_m: float = 30.0,
    debris: Mapping[Any, float] | None = None,
) -> pd.DataFrame:
    """Per-glacier comparison of a predicted mask with inventory outlines, judged against expert bands.

    The mask is polygonised, split by the inventory (each piece goes to the glacier it overlaps most),
    compared per glacier (areas in km², IoU, Hausdorff / mean boundary distance in m) and judged against
    the literature band of Paul et al. (2013): ±5 % area for clean ice up to ±30 % for debris-covered ice.

    Args:
        mask: Predicted (y, x) mask, 1 = glacier, with CRS and transform (rioxarray).
        inventory: Reference outlines with an ``id_col`` column, any CRS.
        id_col: Glacier id column.
        spacing_m: Boundary sampling step for distances (m).
        debris: Optional debris fraction (0-1) per glacier id; None treats every glacier as clean ice.

    Returns:
        The judged table (see :func:`glacierlab.outlines.expert.judge_against_band`), one row per glacier.
    """
    return compare_glaciers(mask, inventory, id_col=id_col, spacing_m=spacing_m, debris=debris)[0]


def compare_glaciers(
    mask: xr.DataArray,
    inventory: gpd.GeoDataFrame,
    *,
    id_col: str = "RGIId",
    spacing_m: float = 30.0,
    debris: Mapping[Any, float] | None = None,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """:func:`judge_glaciers` and the model's glacier polygons split by the inventory (id, area, geometry)."""
    from glacierlab.outlines.change import compare_outlines
    from glacierlab.outlines.expert import judge_against_band, literature_band
    from glacierlab.outlines.polygons import mask_to_polygons, partition_inventory, rio_transform, split_by_inventory

    crs = mask.rio.crs
    if crs is None:
        raise InputError("the mask has no CRS; write one with mask.rio.write_crs(...).")
    left, bottom, right, top = mask.rio.bounds()
    ref = inventory[[id_col, "geometry"]].to_crs(crs).clip((left, bottom, right, top))
    ref = ref[ref.geometry.area > 0]
    ref = partition_inventory(ref, id_col)
    pred = mask_to_polygons(np.asarray(mask.values) == 1, rio_transform(mask), crs)
    pieces = split_by_inventory(pred, ref, id_col=id_col, crs=crs)
    assigned = pieces[pieces[id_col].notna()]
    table = compare_outlines(ref, assigned, id_col=id_col, spacing_m=spacing_m, crs=crs)
    return judge_against_band(table.loc[ref[id_col]], literature_band(), debris=debris), assigned


def glacier_id_column(outlines: gpd.GeoDataFrame) -> str:
    """The glacier id column of an inventory (RGI ``RGIId``/``rgi_id``, GLIMS ``glac_id``, SGI ``SGI``)."""
    from glacierlab.data.vectors import GLACIER_ID_COLUMNS
    from glacierlab.errors import unknown_name

    for col in GLACIER_ID_COLUMNS:
        if col in outlines.columns:
            return col
    raise unknown_name(
        "glacier id column",
        "?",
        [str(c) for c in outlines.columns],
        f"Expected one of {', '.join(GLACIER_ID_COLUMNS)}.",
    )


def has_optical(region_id: str) -> bool:
    """Whether any scene of a catalog region has optical imagery (so the model can map it)."""
    from glacierlab.data.catalog import load_catalog

    return any(s.optical for s in load_catalog().region(region_id).scenes)


def outline_history(region_id: str) -> pd.DataFrame | None:
    """Area per date from a region's multi-date outline source (e.g. GLIMS Hochalmkees 1850-2016).

    Returns:
        A table with ``date``, ``analysis`` when the source has analysis ids, ``area_km2``, ``n_polygons``
        (drawn by :func:`glacierlab.reports.plot.area_history_figure`), or None when the region has no
        vector outlines at two or more dates.
    """
    from glacierlab.data.catalog import load_catalog
    from glacierlab.data.vectors import load_outlines
    from glacierlab.outlines.change import area_time_series

    cat = load_catalog()
    reg = cat.region(region_id)
    vector_ids = {s for sc in reg.scenes for s in sc.reference if cat.source(s).kind == "vector"}
    multi = [s for s in vector_ids if sum(s in sc.reference for sc in reg.scenes) >= 2]
    if not multi:
        return None
    gdf = load_outlines(sorted(multi)[0])
    if "date" not in gdf.columns:  # one outline set reused by several scenes, not a multi-date source
        return None
    analysis = "anlys_id" if "anlys_id" in gdf.columns else None
    return area_time_series(gdf, date_col="date", analysis_col=analysis)
