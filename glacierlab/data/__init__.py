"""Data: the catalog, hashed fetching, rasters and outlines, model-ready stacks, STAC search.

Importing this package is cheap; names load their module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.data.catalog import Catalog, Region, Scene, Source, load_catalog, validate_catalog
    from glacierlab.data.contents import region_contents, regions_for
    from glacierlab.data.download import fetch
    from glacierlab.data.labels import rasterize_outlines
    from glacierlab.data.normalise import normalise_group
    from glacierlab.data.rasters import load_netcdf, load_raster, open_raster
    from glacierlab.data.stac import glacier_bbox, stack_bbox
    from glacierlab.data.stac_search import search_scenes
    from glacierlab.data.stack import group, stack_from_arrays, stack_region
    from glacierlab.data.terrain import slope_degrees
    from glacierlab.data.user_files import stack_from_files
    from glacierlab.data.vectors import find_glacier, load_outlines, read_outlines

_EXPORTS = {
    "Catalog": "catalog",
    "Region": "catalog",
    "Scene": "catalog",
    "Source": "catalog",
    "load_catalog": "catalog",
    "validate_catalog": "catalog",
    "fetch": "download",
    "region_contents": "contents",
    "regions_for": "contents",
    "stack_from_files": "user_files",
    "open_raster": "rasters",
    "load_raster": "rasters",
    "load_netcdf": "rasters",
    "read_outlines": "vectors",
    "load_outlines": "vectors",
    "find_glacier": "vectors",
    "stack_region": "stack",
    "stack_from_arrays": "stack",
    "group": "stack",
    "rasterize_outlines": "labels",
    "slope_degrees": "terrain",
    "normalise_group": "normalise",
    "stack_bbox": "stac",
    "search_scenes": "stac_search",
    "glacier_bbox": "stac",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
