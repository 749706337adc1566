"""Raster and netCDF loaders: catalog sources -> xarray objects with band names, CRS and provenance."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import rioxarray
import xarray as xr
from rasterio.errors import RasterioError
from rasterio.warp import transform_bounds

from glacierlab.data.catalog import Catalog, Source, load_catalog
from glacierlab.data.download import fetch
from glacierlab.errors import CatalogError, CorruptFileError, GridError, NoDataError, unknown_name
from glacierlab.geo import BBox, on_grid_of
from glacierlab.quiet import quiet_third_party


def _select(names: list[str], bands: Sequence[str] | None, what: str) -> list[int]:
    """Indices of the requested band names (all when ``bands`` is None)."""
    if bands is None:
        return list(range(len(names)))
    if isinstance(bands, str):
        bands = [bands]
    out = []
    for b in bands:
        if b not in names:
            raise unknown_name(f"band of {what}", b, names, "Select bands by these names.")
        out.append(names.index(b))
    return out


@quiet_third_party
def open_raster(
    path: str | os.PathLike[str],
    band_names: Sequence[str] | None = None,
    *,
    nodata: float | None = None,
    crs: int | str | None = None,
    bbox: BBox | None = None,
) -> xr.DataArray:
    """Read a GeoTIFF (or any GDAL raster) into memory as ``(band, y, x)`` with named bands.

    Args:
        path: The raster file.
        band_names: One name per band in file order (default ``b1, b2, ...``).
        nodata: Value meaning "no data"; overrides the file's. When a nodata value is known the
            result is float32 with NaN there; otherwise the file's dtype is kept.
        crs: CRS to assign when the file has none (EPSG code or any pyproj input).
        bbox: Optional ``(lon_min, lat_min, lon_max, lat_max)`` window in EPSG:4326 to read.

    Returns:
        DataArray with ``band`` coordinate = band names, CRS and transform set (rioxarray).

    Raises:
        CorruptFileError: The file cannot be opened or read (truncated, not a raster).
        GridError: The file has no CRS and none was given, or ``bbox`` does not overlap it.
        ValueError: ``band_names`` has the wrong length.
        NoDataError: The (windowed) raster has no valid pixel.
    """
    path = os.fspath(path)
    try:
        da = rioxarray.open_rasterio(path, masked=False, cache=False)
    except (RasterioError, OSError) as exc:
        raise CorruptFileError(
            f"cannot open raster {path}: {exc}. The file is truncated or not a raster; "
            "delete it and fetch it again (glacierlab.fetch.fetch)."
        ) from exc
    if not isinstance(da, xr.DataArray):
        raise CorruptFileError(
            f"{path} holds several subdatasets, not one raster; open a single subdataset "
            "or use load_netcdf for netCDF files."
        )
    if da.rio.crs is None:
        if crs is None:
            raise GridError(
                f"raster {path} has no CRS; pass crs= (e.g. an EPSG code) or write one with "
                "`gdal_edit.py -a_srs EPSG:XXXX` / rioxarray `.rio.write_crs()`."
            )
        da = da.rio.write_crs(crs)
    n = da.sizes["band"]
    names = list(band_names) if band_names is not None else [f"b{i + 1}" for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{path} has {n} band(s) but {len(names)} band name(s) were given: {names}")
    if bbox is not None:
        da = _clip(da, BBox.parse(bbox), path)
    nd = nodata if nodata is not None else da.rio.nodata
    _check_size(da, path, float32=nd is not None)
    try:
        values = da.values
    except (RasterioError, OSError) as exc:
        raise CorruptFileError(
            f"cannot read the pixels of {path}: {exc}. The file is truncated or corrupt; "
            "delete it and fetch it again."
        ) from exc
    if nd is not None:
        values = values.astype(np.float32)
        values[values == np.float32(nd)] = np.nan
        if not np.isfinite(values).any():
            raise NoDataError(
                f"raster {path} has no valid pixel (nodata {nd})"
                + (f" inside bbox {bbox}" if bbox else "")
                + "; choose another window or source."
            )
    out = xr.DataArray(
        values,
        coords={"band": names, "y": da["y"].values, "x": da["x"].values},
        dims=("band", "y", "x"),
        name=da.name,
    )
    out = on_grid_of(out, da)
    out.rio.write_nodata(np.nan if nd is not None else None, encoded=False, inplace=True)
    out.attrs.update({"path": path})
    return out


def _check_size(da: xr.DataArray, path: str, float32: bool) -> None:
    """Refuse, from the header, a raster read whole that would exceed the memory budget."""
    from glacierlab.settings import check_budget

    n, h, w = da.sizes["band"], da.sizes["y"], da.sizes["x"]
    size = max(da.dtype.itemsize, 4 if float32 else 0)
    check_budget(
        float(n) * h * w * size,
        f"raster {path} ({n} band(s) x {h} x {w} px, {size} bytes each)",
        "read a part of it with bbox=(lon_min, lat_min, lon_max, lat_max), or cut it into tiles "
        "(gdal_translate -srcwin) and map them one by one",
    )


def _clip(da: xr.DataArray, bbox: BBox, what: str) -> xr.DataArray:
    x0, y0, x1, y1 = transform_bounds("EPSG:4326", da.rio.crs, *bbox, densify_pts=21)
    bx0, by0, bx1, by1 = da.rio.bounds()
    if x0 >= bx1 or x1 <= bx0 or y0 >= by1 or y1 <= by0:
        raise GridError(
            f"bbox {bbox} (lon/lat) does not overlap {what} (bounds {da.rio.bounds()} in {da.rio.crs}); "
            "pass a bbox inside the raster."
        )
    clipped: xr.DataArray = da.rio.clip_box(max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1))
    return clipped


@quiet_third_party
def load_raster(
    source_id: str | Source,
    bands: Sequence[str] | None = None,
    *,
    bbox: BBox | None = None,
    catalog: Catalog | None = None,
) -> xr.DataArray:
    """Load a catalog raster source as ``(band, y, x)`` with band names, CRS and provenance attrs.

    Args:
        source_id: Catalog source id (kind ``raster``) or a :class:`Source`.
        bands: Band names to keep, in this order (default all, in file order).
        bbox: Optional lon/lat window ``(lon_min, lat_min, lon_max, lat_max)``.
        catalog: Catalog to use (default :func:`load_catalog`).

    Returns:
        DataArray; float32 with NaN where the catalog/file nodata applies, else the file's dtype.
        ``attrs``: source, licence, citation, date, origin.

    Raises:
        UnknownNameError: Unknown source or band name.
        CatalogError: The source is not a raster.
        CorruptFileError, GridError, NoDataError, DataNotFoundError, HashMismatchError: see
            :func:`open_raster` and :func:`glacierlab.fetch.fetch`.
    """
    cat = catalog or load_catalog()
    src = cat.source(source_id)
    if src.kind != "raster":
        raise CatalogError(
            f"source {src.id!r} is a {src.kind!r}, not a raster; use "
            + ("glacierlab.data.vectors.load_outlines" if src.kind == "vector" else "load_netcdf")
            + "."
        )
    names = src.band_names()
    idx = _select(names, bands, f"source {src.id!r}")
    da = open_raster(fetch(src), names, nodata=src.nodata, crs=src.crs, bbox=bbox)
    da = da.isel(band=idx)
    da.attrs.update(src.provenance_attrs())
    return da


@quiet_third_party
def load_netcdf(
    source_id: str | Source,
    variables: Sequence[str] | None = None,
    *,
    catalog: Catalog | None = None,
) -> xr.Dataset:
    """Load a catalog netCDF source (e.g. Aletsch multi-date surfaces) with its CRS set.

    Args:
        source_id: Catalog source id (kind ``netcdf``) or a :class:`Source`.
        variables: Variable names to keep (default: every variable the catalog lists as a band).
        catalog: Catalog to use (default :func:`load_catalog`).

    Returns:
        Dataset with ``x``/``y`` spatial dims, CRS from the catalog, provenance in attrs; loaded in memory.

    Raises:
        UnknownNameError: Unknown source or variable name.
        CatalogError: The source is not netCDF or its variables differ from the catalog.
        CorruptFileError: The file cannot be read as netCDF.
    """
    cat = catalog or load_catalog()
    src = cat.source(source_id)
    if src.kind != "netcdf":
        raise CatalogError(
            f"source {src.id!r} is a {src.kind!r}, not netcdf; use load_raster or load_outlines."
        )
    names = src.band_names()
    keep = [names[i] for i in _select(names, variables, f"source {src.id!r}")]
    path = fetch(src)
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            missing = [v for v in keep if v not in ds.data_vars]
            if missing:
                raise CatalogError(
                    f"{path} lacks variables {missing} that the catalog lists for {src.id!r}; "
                    f"file has {sorted(map(str, ds.data_vars))}."
                )
            loaded = ds[keep].load()
    except (OSError, ValueError) as exc:
        if isinstance(exc, CatalogError):
            raise
        raise CorruptFileError(f"cannot read netCDF {path}: {exc}; delete it and fetch it again.") from exc
    out: xr.Dataset = loaded.rio.set_spatial_dims(x_dim="x", y_dim="y")
    if src.crs is not None:
        out = out.rio.write_crs(src.crs)
    elif out.rio.crs is None:
        raise GridError(f"{path} has no CRS and the catalog entry {src.id!r} gives none; add 'crs:' to it.")
    out.attrs = {**src.provenance_attrs()}
    return out


@quiet_third_party
def bounds_overlap(a: xr.DataArray, b: xr.DataArray) -> bool:
    """Whether two georeferenced arrays overlap (``b``'s bounds transformed into ``a``'s CRS)."""
    ax0, ay0, ax1, ay1 = a.rio.bounds()
    bx0, by0, bx1, by1 = transform_bounds(b.rio.crs, a.rio.crs, *b.rio.bounds(), densify_pts=21)
    return bool(bx0 < ax1 and bx1 > ax0 and by0 < ay1 and by1 > ay0)


__all__ = ["bounds_overlap", "load_netcdf", "load_raster", "open_raster"]
