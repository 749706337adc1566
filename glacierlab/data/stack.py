"""Stack a region's inputs on one grid: optical bands, DEM elevation + slope, rasterised reference outlines.

Each group has its own band dimension (``optical_band``, ``dem_band``: one Dataset cannot hold two
different ``band`` coordinates); :func:`group` returns a group as ``(band, y, x)``.

Grid: the scene's optical grid (first optical source; others are resampled onto it). Scenes without
optical data use the first DEM source's grid, then the first reference/mask raster, and scenes of
outlines only a local UTM grid of :data:`OUTLINE_GRID_M` metres over the window; ``like=`` forces a
grid. DEM sources are reprojected onto the grid with bilinear resampling and mosaicked in the scene's
priority order (first valid value wins; gaps no source covers stay NaN). Slope is computed on the
mosaicked DEM **on the target grid** (pixel size in metres from its CRS), so it describes the terrain at
the resolution the model sees and has no seams between strips.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

import geopandas as gpd
import numpy as np
import xarray as xr
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds

from glacierlab.data.catalog import Catalog, Scene, Source, load_catalog
from glacierlab.data.labels import classes_to_reference, rasterize_outlines
from glacierlab.data.mosaic import blank_grid, mosaic_on_grid, to_grid
from glacierlab.data.rasters import bounds_overlap, load_netcdf, load_raster
from glacierlab.data.terrain import slope_degrees
from glacierlab.data.vectors import load_outlines
from glacierlab.errors import GridError, NoDataError, unknown_name
from glacierlab.geo import BBox, on_grid_of
from glacierlab.quiet import quiet_third_party
from glacierlab.vocabulary import (
    AUXILIARY_LAYERS,
    BAND_UNITS,
    DEM_BANDS,
    NODATA,
    OPTICAL_BANDS,
    PRODUCT_LEVEL_UNITS,
    from_stack_dims,
    to_stack_dims,
)

GROUPS = ("optical", "dem", "mask")
#: Pixel size (m) of the grid that outline-only scenes are rasterised on.
OUTLINE_GRID_M = 30.0


def _optical(
    srcs: Sequence[Source], cat: Catalog, bbox: BBox | None
) -> tuple[xr.DataArray, dict[str, xr.DataArray]]:
    """The optical group (model bands, canonical order) and the sources' auxiliary layers (e.g. thermal)."""
    parts: list[xr.DataArray] = []
    aux: dict[str, xr.DataArray] = {}
    alpha = None
    levels = {s.product_level for s in srcs}
    if len(levels) > 1:
        raise GridError(
            f"optical sources {[s.id for s in srcs]} mix product levels {sorted(map(str, levels))}; "
            "list sources of one level per scene (a model is trained on one)."
        )
    for src in srcs:
        da = load_raster(src, bbox=bbox, catalog=cat).astype(np.float32)
        like = parts[0] if parts else da
        if parts and not (da.rio.transform() == like.rio.transform() and da.shape[1:] == like.shape[1:]):
            da = to_grid(da, like, Resampling.bilinear)
        if "alpha" in src.band_names("alpha"):
            a = da.sel(band="alpha").values
            alpha = a == 0 if alpha is None else alpha | (a == 0)
        for name in src.band_names("auxiliary"):
            if name in AUXILIARY_LAYERS and name not in aux:
                aux[name] = da.sel(band=name, drop=True)
        parts.append(da.sel(band=src.band_names("optical")))
    opt = xr.concat(parts, dim="band") if len(parts) > 1 else parts[0]
    names = [str(b) for b in opt["band"].values]
    if len(set(names)) != len(names):
        raise GridError(
            f"optical sources {[s.id for s in srcs]} repeat band names {names}; list each band once."
        )
    opt = opt.sel(band=[b for b in OPTICAL_BANDS if b in names])
    if alpha is not None:
        opt = opt.where(~alpha[None])
    if not np.isfinite(opt.values).any():
        raise NoDataError(
            f"optical sources {[s.id for s in srcs]} have no valid pixel"
            + (f" in bbox {bbox}" if bbox else "")
            + "; choose another window or date."
        )
    opt = on_grid_of(opt, parts[0])
    level = srcs[0].product_level or ""
    opt.attrs = {
        "sources": ",".join(s.id for s in srcs),
        "date": srcs[0].date_label,
        "product_level": level,
        "sensor": " + ".join(dict.fromkeys(s.sensor for s in srcs if s.sensor)),
        "units": PRODUCT_LEVEL_UNITS.get(level, ""),  # reflectance (0-1) or DN (0-255)
    }
    for name, layer in aux.items():
        if alpha is not None:
            layer = layer.where(~alpha)
        layer.attrs = {"sources": opt.attrs["sources"], "units": BAND_UNITS.get(name, ""), "role": "auxiliary"}
        aux[name] = layer.astype(np.float32)
    return opt, aux


def load_layer(src: Source, cat: Catalog, bbox: BBox | None, role: str) -> xr.DataArray:
    """A source's first band of ``role`` as a (1, y, x) array (rasters and netCDF)."""
    band = src.band_names(role)[:1] or src.band_names()[:1]
    if src.kind == "netcdf":
        ds = load_netcdf(src, band, catalog=cat)
        da: xr.DataArray = ds[band[0]].astype(np.float32).expand_dims(band=band).rio.write_crs(ds.rio.crs)
        da.attrs = dict(ds.attrs)
        return da
    return load_raster(src, band, bbox=bbox, catalog=cat)


def _dem(srcs: Sequence[Source], cat: Catalog, like: xr.DataArray | None, bbox: BBox | None) -> xr.DataArray:
    layers = []
    for src in srcs:
        try:
            layers.append(load_layer(src, cat, bbox, "dem"))
        except (GridError, NoDataError):
            continue  # this strip does not reach the window: the mosaic reports a 0 share
    if not layers:
        raise GridError(
            f"no DEM source of {[s.id for s in srcs]} covers the requested area"
            + (f" (bbox {bbox})" if bbox else "")
            + "."
        )
    target = like if like is not None else layers[0]
    elev, shares = mosaic_on_grid(layers, target.isel(band=0) if "band" in target.dims else target)
    return _dem_group(elev, {"shares": ", ".join(f"{k}={v:.3f}" for k, v in shares.items())})


def dem_with_slope(elev: xr.DataArray) -> xr.DataArray:
    """The ``dem`` group from elevations alone: ``(band=[elevation (m), slope (deg)], y, x)`` float32.

    Slope comes from :func:`glacierlab.data.terrain.slope_degrees`, as for every catalog region, so a
    one-band DEM given to ``glacierlab predict`` feeds the model what the notebooks feed it.

    Args:
        elev: ``(y, x)`` or ``(1, y, x)`` elevations in metres with a CRS (NaN = no data).
    """
    if "band" in elev.dims:
        elev = elev.squeeze("band", drop=True)
    return _dem_group(elev, {"sources": str(elev.attrs.get("sources", ""))})


def _dem_group(elev: xr.DataArray, attrs: dict[str, str]) -> xr.DataArray:
    slope = slope_degrees(elev)
    dem = xr.concat(
        [elev.drop_vars("spatial_ref", errors="ignore"), slope.drop_vars("spatial_ref", errors="ignore")],
        dim=xr.DataArray(list(DEM_BANDS), dims="band", name="band"),
    )
    dem.attrs = {
        "valid_fraction": float(np.isfinite(elev.values).mean()),
        "units": "m, deg",
        "sources": elev.attrs.get("sources", ""),
        **attrs,
    }
    return on_grid_of(dem.astype(np.float32), elev)


def _grid_bbox(like: xr.DataArray, pad: float = 0.01) -> BBox:
    """The grid's lon/lat bounds, padded by ``pad`` degrees (to read only that part of large rasters)."""
    x0, y0, x1, y1 = transform_bounds(like.rio.crs, "EPSG:4326", *like.rio.bounds(), densify_pts=21)
    return BBox(max(x0 - pad, -180.0), max(y0 - pad, -90.0), min(x1 + pad, 180.0), min(y1 + pad, 90.0))


def _reference(
    src: Source, cat: Catalog, like: xr.DataArray, scene: Scene, valid: np.ndarray | None
) -> xr.DataArray:
    if src.kind == "vector":
        gdf = load_outlines(src, date=scene.date if src.date_attribute else None, catalog=cat)
        ref = rasterize_outlines(gdf, like, valid)
    else:
        ref = classes_to_reference(
            load_layer(src, cat, _grid_bbox(like), "mask"), like, src.glacier_values, valid
        )
    ok = ref.values != NODATA
    ref.attrs = {
        **src.provenance_attrs(),
        "glacier_fraction": float((ref.values == 1).sum() / max(int(ok.sum()), 1)),
    }
    return ref


@quiet_third_party
def stack_region(
    region_id: str,
    date: str | dt.date | None = None,
    groups: Sequence[str] = ("optical", "dem"),
    bbox: BBox | None = None,
    *,
    like: xr.DataArray | None = None,
    catalog: Catalog | None = None,
) -> xr.Dataset:
    """Put a catalog region's inputs for one date on one grid.

    Args:
        region_id: Catalog region id (e.g. ``"everest"``).
        date: Scene key: its date, or its id for scenes that share a date (default: the region's
            ``default_date``).
        groups: Input groups to include: ``"optical"``, ``"dem"``, ``"mask"`` (derived cross-check raster).
            The reference is always included when the scene has one.
        bbox: Optional window ``(lon_min, lat_min, lon_max, lat_max)`` in EPSG:4326.
        like: Optional grid to use instead of the scene's own (e.g. another stack's ``reference``).
        catalog: Catalog to use (default :func:`load_catalog`).

    Returns:
        Dataset on the grid with data vars (those that apply): ``optical`` (optical_band, y, x) float32,
        NaN = no data, bands in model order (blue, green, red, nir, swir1, swir2); ``dem``
        (dem_band=[elevation (m), slope (deg)], y, x) float32 with ``attrs["valid_fraction"]``;
        ``reference`` and ``mask`` (y, x) uint8 (0 ice-free, 1 glacier, 255 no data); auxiliary layers of
        the optical source such as ``thermal`` (y, x) float32 brightness temperature (K), which no model
        is fed unless its checkpoint asks for that group.
        ``attrs``: region, date, scene (its key), sources, licences, citations and, with optical data,
        ``product_level`` (``toa``, ``surface`` or ``dn8``, see ``vocabulary.PRODUCT_LEVELS``) and
        ``sensor``. CRS via ``ds.rio.crs``.

    Raises:
        UnknownNameError: Unknown region, date or group.
        GridError: Sources do not overlap, or a CRS is missing.
        NoDataError: The window holds no valid optical pixel.
    """
    cat = catalog or load_catalog()
    region = cat.region(region_id)
    scene = region.scene(date)
    bbox = BBox.parse(bbox) if bbox is not None else None
    for g in groups:
        if g not in GROUPS:
            raise unknown_name("group", g, GROUPS)
    src = {role: [cat.source(i) for i in scene.ids(role)] for role in ("optical", "dem", "reference", "mask")}
    data: dict[str, xr.DataArray] = {}
    grid = like
    aux: dict[str, xr.DataArray] = {}
    if scene.optical and (grid is None or "optical" in groups):  # the optical grid is the default grid
        data["optical"], aux = _optical(src["optical"], cat, bbox)
        if grid is None:
            grid = data["optical"]
        else:
            data["optical"] = to_grid(data["optical"], grid)
            aux = {k: to_grid(v, grid) for k, v in aux.items()}
    if scene.dem and (grid is None or "dem" in groups):
        data["dem"] = _dem(src["dem"], cat, grid, bbox)
        grid = data["dem"] if grid is None else grid
    attrs = {"region": region_id, "date": scene.date, "scene": scene.key}
    if grid is None:
        rasters = [s for s in src["reference"] + src["mask"] if s.kind in ("raster", "netcdf")]
        if rasters:
            grid = load_layer(rasters[0], cat, bbox, "mask")
        else:  # outlines only: rasterise them on a local UTM grid over the window
            grid = blank_grid(bbox or region.bbox, OUTLINE_GRID_M)
            attrs["grid"] = f"local UTM, {OUTLINE_GRID_M:g} m (the scene holds no raster)"
    g2 = grid.isel(band=0, drop=True) if "band" in grid.dims else grid
    valid = np.isfinite(data["optical"].values).any(axis=0) if "optical" in data else None
    if src["reference"]:
        data["reference"] = _reference(src["reference"][0], cat, g2, scene, valid)
    if "mask" in groups and src["mask"]:
        data["mask"] = _reference(src["mask"][0], cat, g2, scene, valid).rename("mask")
    if "optical" in groups and "optical" in data:
        data.update(aux)  # auxiliary layers (thermal) travel with the optical bands; models ignore them
        attrs["product_level"] = data["optical"].attrs["product_level"]
        attrs["sensor"] = data["optical"].attrs["sensor"]
    else:
        data.pop("optical", None)
    return _assemble(data, g2, attrs, cat)


@quiet_third_party
def stack_from_arrays(
    optical: xr.DataArray | None = None,
    dem: xr.DataArray | None = None,
    reference: gpd.GeoDataFrame | xr.DataArray | None = None,
    *,
    glacier_values: Sequence[int] = (1,),
) -> xr.Dataset:
    """Stack user arrays (e.g. GeoTIFFs read with :func:`glacierlab.data.rasters.open_raster`) like a region.

    Args:
        optical: ``(band, y, x)`` optical bands named with model band names; defines the grid.
        dem: ``(1, y, x)`` or ``(y, x)`` elevation in metres (any CRS/grid); resampled bilinearly onto the
            grid; slope computed there. Defines the grid when ``optical`` is None.
        reference: Outlines (GeoDataFrame) or a class raster (values in ``glacier_values`` = glacier).
        glacier_values: Class values meaning glacier when ``reference`` is a raster.

    Returns:
        Dataset with the same variables and encodings as :func:`stack_region`.

    Raises:
        GridError: Missing CRS, non-overlapping inputs, or neither ``optical`` nor ``dem`` given.
        UnknownNameError: An optical band name is not a model band name.
    """
    if optical is None and dem is None:
        raise GridError("stack_from_arrays needs optical or dem to define the grid; pass at least one.")
    data: dict[str, xr.DataArray] = {}
    if optical is not None:
        if optical.rio.crs is None:
            raise GridError("the optical array has no CRS; set one with `.rio.write_crs(epsg)`.")
        for b in optical["band"].values:
            if str(b) not in OPTICAL_BANDS:
                raise unknown_name(
                    "optical band", str(b), OPTICAL_BANDS, "Name the bands with model band names."
                )
        data["optical"] = optical.astype(np.float32)
    grid = data["optical"] if "optical" in data else cast(xr.DataArray, dem)
    g2 = grid.isel(band=0, drop=True) if "band" in grid.dims else grid
    if dem is not None:
        elev, _ = mosaic_on_grid([dem], g2)
        data["dem"] = _dem_group(elev, {})
    valid = np.isfinite(data["optical"].values).any(axis=0) if "optical" in data else None
    if isinstance(reference, gpd.GeoDataFrame):
        data["reference"] = rasterize_outlines(reference, g2, valid)
    elif reference is not None:
        if not bounds_overlap(g2, reference):
            raise GridError("the reference raster does not overlap the grid; choose overlapping inputs.")
        data["reference"] = classes_to_reference(reference, g2, glacier_values, valid)
    return _assemble(data, g2, {"region": "user"}, None)


@quiet_third_party
def group(ds: xr.Dataset, name: str) -> xr.DataArray:
    """One input group of a stack as ``(band, y, x)`` with its band names and the stack's CRS.

    Args:
        ds: A stack from :func:`stack_region` or :func:`stack_from_arrays`.
        name: ``"optical"`` or ``"dem"``.

    Returns:
        The group's DataArray with its ``<name>_band`` dimension renamed to ``band``.

    Raises:
        UnknownNameError: If the stack has no such group.
    """
    have = [g for g in ("optical", "dem") if g in ds]
    if name not in have:
        raise unknown_name("input group", name, have, "Include it with stack_region(groups=...).")
    da = from_stack_dims(ds[name], name)
    return on_grid_of(da, ds)


def _assemble(
    data: dict[str, xr.DataArray], grid: xr.DataArray, attrs: dict[str, str], cat: Catalog | None
) -> xr.Dataset:
    # optical and dem have different band names, so each gets its own band dimension in the Dataset
    clean = {
        k: to_stack_dims(v.drop_vars("spatial_ref", errors="ignore"), k) for k, v in data.items()
    }
    ds = xr.Dataset(clean, coords={"y": grid["y"].values, "x": grid["x"].values})
    ids = [
        s
        for v in data.values()
        for s in str(v.attrs.get("sources") or v.attrs.get("source") or "").split(",")
        if s
    ]
    ids = list(dict.fromkeys(ids))
    if cat is not None:
        srcs = [cat.source(i) for i in ids]
        attrs = {
            **attrs,
            "licences": " | ".join(dict.fromkeys(s.licence for s in srcs)),
            "citations": " | ".join(dict.fromkeys(s.citation for s in srcs)),
        }
    ds.attrs = {**attrs, "sources": ",".join(ids)}
    return on_grid_of(ds, grid)
