"""Lazy window readers for model input groups (GeoTIFF paths, VRTs or xarray objects).

Used by :func:`glacierlab.inference.predict.predict_scene`: inputs are read one window at a time
(rasterio windows for paths, ``.isel`` for xarray, which stays lazy for dask- or file-backed arrays).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.errors import RasterioError

from glacierlab.errors import CorruptFileError, DataNotFoundError, GridError, InputError, unknown_name
from glacierlab.geo import rio_transform
from glacierlab.vocabulary import from_stack_dims

PathLike = str | os.PathLike[str]



@dataclass
class GroupReader:
    """Reads windows of one input group with its bands selected (by name) in checkpoint order.

    Attributes:
        name: Group name (e.g. ``"optical"``).
        height: Scene rows. width: Scene columns.
        crs: CRS (rasterio CRS or None). transform: Affine pixel-to-map transform.
    """

    name: str
    height: int
    width: int
    crs: Any
    transform: Any
    _source: Any
    _index: list[int]
    _nodata: float | None

    def read(self, row: int, col: int, height: int, width: int) -> np.ndarray:
        """Return (C, height, width) float32 with NaN where the input is no data."""
        if isinstance(self._source, list):  # rasterio datasets, bands concatenated
            from rasterio.windows import Window

            win = Window(col, row, width, height)
            parts = [(ds, ds.nodata) for ds in self._source]
            stack = []
            for ds, nd in parts:
                try:
                    a = ds.read(window=win, out_dtype=np.float32)
                except RasterioError as exc:  # truncated or corrupt tiles surface only when read
                    raise CorruptFileError(
                        f"input group {self.name!r}: cannot read rows {row}-{row + height} of {ds.name}: "
                        f"{exc}. The file is truncated or corrupt; copy or download it again."
                    ) from exc
                if nd is not None and not np.isnan(nd):
                    a[a == np.float32(nd)] = np.nan
                stack.append(a)
            arr = np.concatenate(stack, 0)[self._index]
        else:
            da = self._source
            try:
                arr = np.asarray(
                    da.isel(
                        {
                            da.rio.y_dim: slice(row, row + height),
                            da.rio.x_dim: slice(col, col + width),
                            "band": self._index,
                        }
                    ).values,
                    dtype=np.float32,
                )
            except RasterioError as exc:  # a lazily read file that is truncated
                raise CorruptFileError(
                    f"input group {self.name!r}: cannot read rows {row}-{row + height} of "
                    f"{da.encoding.get('source', 'its file')}: {exc}. Copy or download the file again."
                ) from exc
            if self._nodata is not None and not np.isnan(self._nodata):
                arr[arr == np.float32(self._nodata)] = np.nan
        if np.isinf(arr).any():
            raise InputError(
                f"input group {self.name!r} has infinite values in rows {row}-{row + height}, columns "
                f"{col}-{col + width}; replace them with NaN (no data) or valid values."
            )
        return arr

    def close(self) -> None:
        """Close open files."""
        if isinstance(self._source, list):
            for ds in self._source:
                ds.close()


def _select(group: str, names: list[str] | None, count: int, wanted: Sequence[str]) -> list[int]:
    """Indices of the checkpoint's band names among the input's (positional if the input has none)."""
    if names is not None and all(n in names for n in wanted):
        return [names.index(n) for n in wanted]
    if names is not None:
        missing = [n for n in wanted if n not in names]
        raise unknown_name(
            f"band of input group {group!r}",
            missing[0],
            names,
            f"The checkpoint needs bands {list(wanted)} in group {group!r}; rename the input's bands "
            "(band coordinate or GeoTIFF band descriptions) to match.",
        )
    if count != len(wanted):
        raise InputError(
            f"input group {group!r} has {count} unnamed bands but the checkpoint expects {len(wanted)} "
            f"({list(wanted)}); give exactly these bands in this order, or name them."
        )
    return list(range(count))


def _names(values: Sequence[Any]) -> list[str] | None:
    names = [str(v) for v in values]
    if all(n.lstrip("-").isdigit() for n in names) or any(n in ("", "None") for n in names):
        return None  # integer band numbers or no descriptions: no names to select by
    return names


def open_group(group: str, source: Any, wanted: Sequence[str]) -> GroupReader:
    """Open one input group from a DataArray (band, y, x), a GeoTIFF path, or a list of GeoTIFF paths.

    Band names come from the DataArray's ``band`` coordinate or the GeoTIFF band descriptions; when
    the input has no names, its bands are taken in order and their count must match ``wanted``.
    """
    import rioxarray  # noqa: F401  (registers .rio on DataArrays built without it)
    import xarray as xr

    if isinstance(source, xr.DataArray):
        da = source if "band" in source.dims else source.expand_dims(band=[group])
        if da.ndim != 3:
            raise InputError(f"input group {group!r} must have dims (band, y, x), got {da.dims}")
        if da.rio.crs is None:
            raise GridError(
                f"input group {group!r} has no CRS, so the outputs would not be georeferenced; set the CRS "
                "the coordinates are in with `.rio.write_crs(epsg)`."
            )
        idx = _select(group, _names(list(da["band"].values)), da.sizes["band"], wanted)
        nodata = da.rio.nodata if da.rio.nodata is not None else da.rio.encoded_nodata
        return GroupReader(
            group,
            da.sizes[da.rio.y_dim],
            da.sizes[da.rio.x_dim],
            da.rio.crs,
            rio_transform(da),
            da,
            idx,
            None if nodata is None else float(nodata),
        )
    paths = [source] if isinstance(source, str | os.PathLike) else list(source)
    if not paths:
        raise InputError(f"input group {group!r} has an empty list of files; give at least one GeoTIFF.")
    datasets = []
    try:
        for p in paths:
            datasets.append(open_geotiff(group, p))
        first = datasets[0]
        for ds in datasets[1:]:
            check_same_grid(
                f"{group}:{paths[0]}",
                (first.height, first.width, first.crs, first.transform),
                f"{group}:{ds.name}",
                (ds.height, ds.width, ds.crs, ds.transform),
            )
        descr = [d for ds in datasets for d in ds.descriptions]
        idx = _select(group, _names(descr), len(descr), wanted)
    except BaseException:
        for ds in datasets:
            ds.close()
        raise
    return GroupReader(group, first.height, first.width, first.crs, first.transform, datasets, idx, None)


#: GDAL drivers accepted for input rasters (GeoTIFF/COG, VRT mosaics, other georeferenced formats).
_SUFFIX_DRIVERS = {".tif": ("GTiff", "COG"), ".tiff": ("GTiff", "COG"), ".vrt": ("VRT",)}


def open_geotiff(group: str, path: PathLike) -> Any:
    """Open one input raster with rasterio, refusing what would give a wrong or unreadable map.

    Raises:
        DataNotFoundError: The file does not exist.
        CorruptFileError: A folder, an empty or truncated file, not a raster, or a file whose content
            does not match its suffix (a PNG renamed ``.tif``).
        GridError: The raster has no CRS (its outputs would not be georeferenced).
    """
    import rasterio

    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"input group {group!r}: file {p} does not exist; check the path.")
    if p.is_dir():
        raise CorruptFileError(f"input group {group!r}: {p} is a folder; pass a GeoTIFF file.")
    if p.stat().st_size == 0:
        raise CorruptFileError(
            f"input group {group!r}: {p} is empty (0 bytes): an interrupted copy or download? Copy it again."
        )
    try:
        ds = rasterio.open(p)
    except RasterioError as exc:
        raise CorruptFileError(
            f"input group {group!r}: cannot open {p} as a raster ({exc}). The file is truncated, "
            "corrupt or not a raster; pass a GeoTIFF (copy or download it again)."
        ) from exc
    try:
        drivers = _SUFFIX_DRIVERS.get(p.suffix.lower())
        if drivers is not None and ds.driver not in drivers:
            raise CorruptFileError(
                f"input group {group!r}: {p} is named like a {p.suffix} but holds a {ds.driver} file; "
                "convert it to a GeoTIFF with its CRS and transform (e.g. gdal_translate -a_srs ... -a_ullr ...)."
            )
        if ds.crs is None:
            raise GridError(
                f"input group {group!r}: raster {p} has no CRS, so the outputs would not be georeferenced "
                "(and location encodings would be wrong). Assign the CRS it is in, e.g. "
                "`gdal_edit.py -a_srs EPSG:32645 file.tif` or rioxarray `.rio.write_crs(32645)`."
            )
    except BaseException:
        ds.close()
        raise
    return ds


def check_same_grid(name_a: str, a: tuple[Any, ...], name_b: str, b: tuple[Any, ...]) -> None:
    """Raise :class:`GridError` unless two (height, width, crs, transform) grids match."""
    if a[:2] != b[:2]:
        raise GridError(
            f"{name_a} is {a[0]}×{a[1]} px but {name_b} is {b[0]}×{b[1]} px; resample both "
            "to one grid (e.g. glacierlab.data.stack.stack_from_arrays or rioxarray reproject_match)."
        )
    if (a[2] is None) != (b[2] is None) or (a[2] is not None and a[2] != b[2]):
        raise GridError(f"{name_a} has CRS {a[2]} but {name_b} has CRS {b[2]}; reproject to one CRS first.")
    if not a[3].almost_equals(b[3], precision=1e-6):
        raise GridError(
            f"{name_a} has transform {tuple(a[3])[:6]} but {name_b} has {tuple(b[3])[:6]}; "
            "the groups must be on the same pixel grid."
        )


def open_inputs(inputs: Any, bands: Mapping[str, Sequence[str]]) -> list[GroupReader]:
    """Open every group the checkpoint needs from a Dataset or a mapping group -> source; check grids."""
    import xarray as xr

    if isinstance(inputs, xr.Dataset):
        # a stack keeps each group's bands on its own dimension (`optical_band`, `dem_band`)
        available: Mapping[str, Any] = {
            str(k): from_stack_dims(inputs[k], str(k)) for k in inputs.data_vars
        }
    elif isinstance(inputs, Mapping):
        available = inputs
    else:
        raise InputError(
            f"inputs must be an xarray Dataset or a mapping group -> GeoTIFF path/DataArray, "
            f"got {type(inputs).__name__}"
        )
    missing = [g for g in bands if g not in available]
    if missing:
        raise InputError(
            f"the checkpoint needs input groups {list(bands)} but {missing} are missing "
            f"(got {sorted(map(str, available))}); add them, e.g. stack_region(..., groups=...)."
        )
    readers: list[GroupReader] = []
    try:
        for g, wanted in bands.items():
            readers.append(open_group(g, available[g], wanted))
            r0, r = readers[0], readers[-1]
            check_same_grid(
                f"group {r0.name!r}",
                (r0.height, r0.width, r0.crs, r0.transform),
                f"group {r.name!r}",
                (r.height, r.width, r.crs, r.transform),
            )
    except BaseException:
        for r in readers:
            r.close()
        raise
    return readers
