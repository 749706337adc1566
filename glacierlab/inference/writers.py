"""Row-streamed Cloud-Optimised GeoTIFF outputs of :func:`glacierlab.inference.predict.predict_scene`.

Outputs are written a band of finished rows at a time into a tiled GeoTIFF and converted to a COG
(GDAL's COG driver, overviews included) at the end, inside :func:`glacierlab.files.atomic_path`.
The row files are compressed with ZSTD level 1 (cheap while the model runs; deflated once, level 1, in the COG)
and the layers are converted to COGs in parallel threads (GDAL releases the GIL).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

PathLike = str | os.PathLike[str]

log = logging.getLogger(__name__)

GDAL_CACHE_MB = 128  # GDAL block cache while writing outputs, MB

#: Every layer a prediction run may write (``<prefix><name>.tif``). A run that writes fewer of them into a
#: folder holding all of them from an earlier run must not leave the earlier ones beside its own.
OUTPUT_LAYERS = ("probability", "mask", "confidence", "uncertainty")


def output_path(out_dir: str | os.PathLike[str], layer: str, prefix: str = "") -> Path:
    """Where ``predict_scene(out_dir=..., prefix=...)`` writes ``layer``: ``<out_dir>/<prefix><layer>.tif``."""
    return Path(out_dir) / f"{prefix}{layer}.tif"


def _open_raw(name: str, profile: dict[str, Any]) -> Any:
    """Open a row file for writing: ZSTD level 1, or uncompressed where GDAL was built without ZSTD."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        return rasterio.open(name, "w", **profile, compress="zstd", zstd_level=1)
    except (RasterioIOError, ValueError) as err:
        log.debug("ZSTD row files unavailable (%s): writing them uncompressed", err)
        return rasterio.open(name, "w", **profile, compress="none")


@contextlib.contextmanager
def _write_errors(path: Path) -> Any:
    """Turn GDAL's write failures (``RasterioIOError: Write failed``, no errno) into a :class:`WriteError`.

    Translated at once, while a full disk is still full (the partial files are removed on the way out).
    """
    from rasterio.errors import RasterioError

    from glacierlab.files import write_error

    try:
        yield
    except (RasterioError, OSError) as err:
        known = write_error(err, path)
        if known is None:
            raise
        raise known from err


@dataclass
class Layer:
    """One output layer: name, dtype and nodata value."""

    name: str
    dtype: str
    nodata: float


class RasterSink:
    """Receives finished rows of each layer and keeps them in memory or streams them to COG files."""

    def __init__(
        self,
        layers: list[Layer],
        height: int,
        width: int,
        crs: Any,
        transform: Any,
        out_dir: PathLike | None,
        prefix: str,
        overwrite: bool,
        blocksize: int,
        tags: dict[str, Any],
    ) -> None:
        self.layers, self.height, self.width = layers, height, width
        self.crs, self.transform, self.tags, self.blocksize = crs, transform, tags, blocksize
        self.arrays: dict[str, np.ndarray] = {}
        self.paths: dict[str, Path] = {}
        self.stale: list[Path] = []
        self._stack = contextlib.ExitStack()
        self._raw: dict[str, Any] = {}
        if out_dir is None:
            self.arrays = {ly.name: np.full((height, width), ly.nodata, ly.dtype) for ly in layers}
            return
        from glacierlab.errors import OutputExistsError
        from glacierlab.files import check_writable, safe_name

        if prefix:  # file names are <prefix><layer>.tif: a prefix must not lead out of out_dir
            safe_name(prefix, "output prefix")
        self.overwrite = overwrite
        self.paths = {ly.name: output_path(out_dir, ly.name, prefix) for ly in layers}
        for p in self.paths.values():  # fail before any work
            check_writable(p, overwrite)
        # outputs of an earlier run that this run does not write (e.g. uncertainty.tif of an MC run):
        # refused without overwrite, removed once this run's outputs are in place with it
        self.stale = [
            output_path(out_dir, name, prefix)
            for name in OUTPUT_LAYERS
            if name not in self.paths and output_path(out_dir, name, prefix).exists()
        ]
        if self.stale and not overwrite:
            raise OutputExistsError(
                f"{self.stale[0]} is an output of an earlier run that this run would not replace, so the "
                "folder would mix two runs; pass overwrite=True (CLI: --overwrite) to replace the earlier "
                "run's outputs, or choose another folder."
            )

    def __enter__(self) -> RasterSink:
        if not self.paths:
            return self
        try:
            self._open_files()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _open_files(self) -> None:
        import rasterio

        from glacierlab.files import atomic_path

        # GDAL's block cache defaults to 5 % of RAM and holds partly written tiles of the streamed
        # rows: cap it so peak memory does not grow with the scene (values < 100000 are MB).
        self._stack.enter_context(rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB))

        self._tmp = {
            k: self._stack.enter_context(atomic_path(p, overwrite=self.overwrite))
            for k, p in self.paths.items()
        }
        for ly in self.layers:
            fd, name = tempfile.mkstemp(
                prefix=f".{ly.name}.", suffix=".raw.tif", dir=self._tmp[ly.name].parent
            )
            os.close(fd)
            self._stack.callback(Path(name).unlink, missing_ok=True)
            block = min(256, 16 * max(1, min(self.height, self.width) // 16))
            tiled = self.height >= 16 and self.width >= 16
            prof = {
                "driver": "GTiff",
                "height": self.height,
                "width": self.width,
                "count": 1,
                "dtype": ly.dtype,
                "crs": self.crs,
                "transform": self.transform,
                "nodata": ly.nodata,
                "tiled": tiled,
                "BIGTIFF": "IF_SAFER",
            }
            if tiled:
                prof.update(blockxsize=block, blockysize=block)
            self._raw[ly.name] = self._stack.enter_context(_open_raw(name, prof))

    def write(self, name: str, row: int, data: np.ndarray) -> None:
        """Write finished rows ``data`` (n, width) of layer ``name`` starting at scene row ``row``."""
        if not self.paths:
            self.arrays[name][row : row + data.shape[0]] = data
            return
        from rasterio.windows import Window

        with _write_errors(self.paths[name]):
            self._raw[name].write(data[None], window=Window(0, row, self.width, data.shape[0]))

    def finish(self) -> None:
        """Convert the streamed files to COGs with overviews (inside the atomic temporary paths)."""
        if not self.paths:
            return
        from concurrent.futures import ThreadPoolExecutor

        import rasterio
        from rasterio.shutil import copy

        def convert(ly: Layer) -> None:
            with _write_errors(self.paths[ly.name]):
                _convert(ly)

        def _convert(ly: Layer) -> None:
            raw = self._raw[ly.name]
            raw.update_tags(**self.tags)
            raw.set_band_description(1, ly.name)
            raw_name = raw.name
            raw.close()
            with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):  # GDAL options are per thread in rasterio
                copy(
                    raw_name,
                    self._tmp[ly.name],
                    driver="COG",
                    compress="DEFLATE",
                    level=1,  # fastest deflate: float maps barely compress at any level
                    blocksize=self.blocksize,
                    overview_resampling="nearest" if ly.dtype == "uint8" else "average",
                    bigtiff="IF_SAFER",
                )

        workers = max(1, min(len(self.layers), os.cpu_count() or 1))
        with ThreadPoolExecutor(workers, thread_name_prefix="glacierlab-cog") as pool:
            for done in [pool.submit(convert, ly) for ly in self.layers]:
                done.result()  # re-raises the first conversion error

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)  # renames temporaries into place on success, deletes them on error
        if exc[0] is None and self.paths:
            for p in self.stale:
                log.warning("removed %s: an output of an earlier run that this run did not produce", p)
                p.unlink(missing_ok=True)


def as_dataset(sink: RasterSink, h: int, w: int) -> xr.Dataset:
    """The written layers as a georeferenced Dataset (read lazily from the files, or the in-memory arrays)."""
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr

    from glacierlab.geo import georeference

    t = sink.transform
    x = t.c + (np.arange(w) + 0.5) * t.a
    y = t.f + (np.arange(h) + 0.5) * t.e
    if sink.paths:  # lazily read back from the files (coordinates built here: rioxarray's warn on affine 3)
        import rioxarray

        data = {
            k: cast(xr.DataArray, rioxarray.open_rasterio(p, parse_coordinates=False, masked=False)).squeeze(
                "band", drop=True
            )
            for k, p in sink.paths.items()
        }
        ds = xr.Dataset(data).drop_vars("spatial_ref", errors="ignore").assign_coords(x=x, y=y)
        return georeference(ds, sink.crs, t)
    ds = xr.Dataset({k: (("y", "x"), v) for k, v in sink.arrays.items()}, coords={"x": x, "y": y})
    for k, ly in zip(sink.arrays, sink.layers, strict=True):
        ds[k].attrs["_FillValue"] = ly.nodata
    return georeference(ds, sink.crs, t)
