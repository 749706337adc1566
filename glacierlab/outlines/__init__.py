"""Outlines: mask to polygons, per-glacier split by an inventory, change between dates, expert bands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.data.geometry import repair_geometries, require_crs
    from glacierlab.outlines.area_error import (
        AreaErrorModel,
        area_table,
        fit_length,
        glacier_probability,
        glacier_zones,
        region_area,
    )
    from glacierlab.outlines.change import (
        area_time_series,
        boundary_distances,
        change_polygons,
        compare_outlines,
        mask_stack,
        plot_area_time_series,
        rasterize_stack,
        stack_to_outlines,
    )
    from glacierlab.outlines.expert import (
        ExpertBand,
        analyst_pairs,
        band_from_pairs,
        fraction_inside,
        judge_against_band,
        literature_band,
    )
    from glacierlab.outlines.polygons import (
        area_km2,
        mask_to_polygons,
        metric_crs,
        partition_inventory,
        split_by_inventory,
        write_outlines,
    )

_EXPORTS = {
    "AreaErrorModel": "area_error",
    "area_table": "area_error",
    "fit_length": "area_error",
    "glacier_probability": "area_error",
    "glacier_zones": "area_error",
    "region_area": "area_error",
    "mask_to_polygons": "polygons",
    "split_by_inventory": "polygons",
    "partition_inventory": "polygons",
    "area_km2": "polygons",
    "write_outlines": "polygons",
    "repair_geometries": "glacierlab.data.geometry",
    "metric_crs": "polygons",
    "require_crs": "glacierlab.data.geometry",
    "compare_outlines": "change",
    "change_polygons": "change",
    "area_time_series": "change",
    "plot_area_time_series": "change",
    "boundary_distances": "change",
    "mask_stack": "change",
    "rasterize_stack": "change",
    "stack_to_outlines": "change",
    "ExpertBand": "expert",
    "literature_band": "expert",
    "analyst_pairs": "expert",
    "band_from_pairs": "expert",
    "judge_against_band": "expert",
    "fraction_inside": "expert",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
