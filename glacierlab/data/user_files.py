"""Bring your own scene: GeoTIFF paths for the optical and DEM groups, with a band-name mapping.

:func:`stack_from_files` reads a participant's own download (one multi-band GeoTIFF, or one file per band)
and a DEM into the same stack format as a catalog region, so every notebook and widget can use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from glacierlab.errors import DataNotFoundError, InputError, unknown_name
from glacierlab.geo import BBox, on_grid_of
from glacierlab.vocabulary import OPTICAL_BANDS, PRODUCT_LEVELS

PathLike = str | os.PathLike[str]
#: What a band mapping may name: a 1-based band number or the band's description in the file.
BandKey = int | str


def parse_band_names(text: str) -> list[str]:
    """``"blue, green, red, nir"`` -> ``["blue", "green", "red", "nir"]`` (commas or spaces)."""
    return [t for t in text.replace(",", " ").split() if t]


def _paths(value: PathLike | Sequence[PathLike] | None) -> list[Path]:
    """Paths of a path, a list of paths, or a comma-separated string (a file whose name has a comma is kept)."""
    if value is None or value == "":
        return []
    split = isinstance(value, str) and "," in value and not Path(value).expanduser().is_file()
    if split:
        value = [v.strip() for v in str(value).split(",") if v.strip()]
    items = [value] if isinstance(value, str | os.PathLike) else list(value)
    out = [Path(v).expanduser() for v in items]
    for p in out:
        if not p.is_file():
            hint = (
                f" The text {value!r} was split at its commas into {len(out)} paths (a comma separates several "
                "files); a file whose name contains a comma must exist under exactly that name, or be given "
                "in a list ([path])."
                if split
                else ""
            )
            raise DataNotFoundError(
                f"GeoTIFF {p} does not exist; give the full path of a file you downloaded.{hint}"
            )
    return out


def _check_scale(scale: float, offset: float) -> None:
    """Refuse a scale that is not a positive finite number, or a non-finite offset."""
    if not (np.isfinite(scale) and scale > 0) or not np.isfinite(offset):
        raise InputError(
            f"scale={scale!r}, offset={offset!r}: scale must be a positive finite number and offset finite "
            "(reflectance = value x scale + offset; e.g. scale=0.0001 for Sentinel-2 digital numbers, 1 to "
            "keep the values)."
        )


def _check_names(names: Sequence[str], what: str) -> None:
    """Refuse a band name given twice (one of the two bands would be dropped)."""
    seen = [n for n in names if n not in ("", "-", "skip")]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        raise InputError(
            f"band name(s) {twice} given twice in {what}; every band needs its own name (use '-' to skip a "
            "band), e.g. 'blue, green, red, nir'."
        )


def _check_dtype(paths: list[Path]) -> None:
    """Refuse signed 8-bit optical files: no reflectance product or 8-bit display image is int8."""
    import rasterio

    for p in paths:
        try:
            with rasterio.open(p) as f:
                dtypes = f.dtypes
        except (rasterio.errors.RasterioError, OSError):
            continue  # unreadable: open_raster reports it with the fix
        if "int8" in dtypes:
            raise InputError(
                f"{p} holds signed 8-bit numbers (int8, -128..127): neither reflectance nor 8-bit display "
                "values (uint8, 0-255). Values above 127 were probably wrapped to negatives on export; "
                "export the image again as uint8 (product_level='dn8') or as reflectance."
            )


def check_label_raster(ref: xr.DataArray, path: Path) -> None:
    """Refuse a reference raster that is not a 0/1/255 class raster (e.g. a DEM passed by mistake)."""
    values = ref.values
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values.ravel()
    bad = np.setdiff1d(np.unique(finite[:: max(1, finite.size // 1_000_000)]), [0, 1, 255])
    if bad.size:
        raise InputError(
            f"reference {path} holds values {float(finite.min()):g}..{float(finite.max()):g} "
            f"(e.g. {bad[:5].tolist()}); "
            "a reference raster must hold classes 0 (ice-free), 1 (glacier) and 255 (no data). It looks like "
            "another layer (a DEM or an image); give the glacier labels, or outlines as a vector file."
        )


def _band_index(names: Sequence[str], key: BandKey, path: Path) -> int:
    """0-based index of a 1-based band number or a band description."""
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        i = int(key)
        if not 1 <= i <= len(names):
            raise InputError(f"{path} has bands 1..{len(names)}, got band number {i}; number bands from 1.")
        return i - 1
    if key not in names:
        raise unknown_name(f"band of {path.name}", str(key), list(names), "Use a band number (1-based) or these names.")
    return list(names).index(str(key))


def _read_optical(
    paths: list[Path], bands: Sequence[str] | Mapping[BandKey, str], nodata: float | None, bbox: BBox | None
) -> xr.DataArray:
    import rasterio

    from glacierlab.data.mosaic import to_grid
    from glacierlab.data.rasters import open_raster

    arrays = [open_raster(p, nodata=nodata, bbox=bbox).astype(np.float32) for p in paths]
    arrays = [arrays[0]] + [a if a.shape[1:] == arrays[0].shape[1:] else to_grid(a, arrays[0]) for a in arrays[1:]]
    stacked = xr.concat(arrays, dim="band") if len(arrays) > 1 else arrays[0]
    descr: list[str] = []
    for p in paths:
        with rasterio.open(p) as f:
            descr += [d or f"{p.stem}:{i + 1}" for i, d in enumerate(f.descriptions)]
    if isinstance(bands, Mapping):
        _check_names(list(bands.values()), "the band mapping")
        idx = {name: _band_index(descr, key, paths[0]) for key, name in bands.items()}
    else:
        names = list(bands)
        _check_names(names, "the band names")
        if len(names) != len(descr):
            raise InputError(
                f"the optical files have {len(descr)} band(s) ({', '.join(descr)}) but {len(names)} band name(s) "
                f"were given ({', '.join(names)}); give one name per band in file order, or a mapping "
                "{band number or description: name} to keep only some bands."
            )
        idx = {name: i for i, name in enumerate(names) if name not in ("", "-", "skip")}
    bad = [n for n in idx if n not in OPTICAL_BANDS]
    if bad:
        raise unknown_name("optical band name", bad[0], OPTICAL_BANDS, "Name bands with the model's band names.")
    order = [b for b in OPTICAL_BANDS if b in idx]
    out = stacked.isel(band=[idx[b] for b in order]).assign_coords(band=order)
    return on_grid_of(out, arrays[0])


def stack_from_files(
    optical: PathLike | Sequence[PathLike] | None = None,
    dem: PathLike | None = None,
    *,
    bands: Sequence[str] | Mapping[BandKey, str] | str = (),
    product_level: str | None = None,
    scale: float = 1.0,
    offset: float = 0.0,
    nodata: float | None = None,
    dem_band: int = 1,
    reference: PathLike | None = None,
    bbox: BBox | None = None,
) -> xr.Dataset:
    """Stack your own GeoTIFFs like a catalog region.

    Args:
        optical: One multi-band GeoTIFF, or one file per band (same grid, or resampled onto the first),
            or a comma-separated string of paths.
        dem: An elevation GeoTIFF in metres (any CRS and grid; reprojected onto the optical grid).
        bands: Band names in file order (``["blue", "green", "red", "nir"]``, ``"-"`` skips a band), a
            mapping ``{band number or description: model band name}`` (e.g. ``{"B2": "blue", 4: "red"}``),
            or a comma-separated string. Model band names: blue, green, red, nir, swir1, swir2.
        product_level: ``"toa"``, ``"surface"`` (reflectance 0-1 after ``scale``/``offset``) or ``"dn8"``
            (8-bit numbers). Required with ``optical``: a model trained on one kind must not be fed another.
        scale: Multiplier turning file values into reflectance (e.g. 0.0001 for Sentinel-2 L2A digital numbers).
        offset: Added after ``scale`` (e.g. -0.1 for Sentinel-2 processing baseline 4 L2A, with scale 0.0001).
        nodata: File value meaning no data (default: the file's own nodata).
        dem_band: 1-based band of the DEM file holding elevation.
        reference: Optional outlines (any vector file) or a 0/1/255 glacier class raster, as the reference layer.
        bbox: Optional ``(lon_min, lat_min, lon_max, lat_max)`` window to read.

    Returns:
        A stack (see :func:`glacierlab.data.stack.stack_region`) with ``attrs`` ``region="user"``,
        ``scene`` (the first file's name), ``product_level`` and ``sources`` (the paths).

    Raises:
        DataNotFoundError: A file does not exist. InputError: Band names do not match the files or repeat,
        the product level is missing, ``scale`` is not a positive finite number, an optical file is int8,
        or the reference raster is not a 0/1/255 class raster. UnknownNameError: A band name is not a model band name.
        GridError: The files do not overlap or lack a CRS.
    """
    from glacierlab.data.rasters import open_raster
    from glacierlab.data.stack import stack_from_arrays
    from glacierlab.data.vectors import read_outlines

    opt_paths, dem_paths, ref_paths = _paths(optical), _paths(dem), _paths(reference)
    if not opt_paths and not dem_paths:
        raise InputError("give at least an optical GeoTIFF or a DEM GeoTIFF path.")
    box = BBox.parse(bbox) if bbox is not None else None
    opt = None
    if opt_paths:
        if product_level not in PRODUCT_LEVELS:
            raise InputError(
                f"say what the optical files hold: product_level one of {', '.join(PRODUCT_LEVELS)} "
                f"(got {product_level!r}); {PRODUCT_LEVELS['toa']}, or {PRODUCT_LEVELS['dn8']}."
            )
        names: Any = parse_band_names(bands) if isinstance(bands, str) else bands
        if not names:
            raise InputError("give the band names of the optical files in file order, e.g. 'blue, green, red, nir'.")
        _check_scale(scale, offset)
        _check_dtype(opt_paths)
        opt = _read_optical(opt_paths, names, nodata, box)
        if scale != 1.0 or offset != 0.0:
            opt = (opt * np.float32(scale) + np.float32(offset)).rio.write_crs(opt.rio.crs)
    elev = None
    if dem_paths:
        elev = open_raster(dem_paths[0], bbox=box if opt is None else None)
        if not 1 <= dem_band <= elev.sizes["band"]:
            raise InputError(f"{dem_paths[0]} has {elev.sizes['band']} band(s), got dem_band={dem_band} (1-based).")
        elev = elev.isel(band=[dem_band - 1]).assign_coords(band=["elevation"])
    ref: Any = None
    if ref_paths:
        p = ref_paths[0]
        ref = open_raster(p) if p.suffix.lower() in (".tif", ".tiff", ".vrt") else read_outlines(p)
        if isinstance(ref, xr.DataArray):
            check_label_raster(ref, p)
    ds = stack_from_arrays(opt, elev, ref)
    ds.attrs.update(
        scene=(opt_paths or dem_paths)[0].name,
        sources=",".join(str(p) for p in opt_paths + dem_paths + ref_paths),
        **({"product_level": str(product_level)} if opt is not None else {}),
    )
    if opt is not None:
        ds["optical"].attrs["product_level"] = str(product_level)
    return ds
