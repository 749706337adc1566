"""odc-stac's rasterio reader, with read errors that name the STAC item, the asset and the remedy.

A lazy (dask) array from :func:`glacierlab.data.stac_items.load_item` reads its pixels only when computed,
wherever the user computes it (``.compute()``, ``.values``, a plot). odc-loader raises rasterio's own
errors there (``RasterioIOError: Read failed``), long after the asset's header opened fine. The driver here
is odc-loader's :class:`~odc.loader.RioDriver` whose reader turns any such error into a
:class:`~glacierlab.errors.StacError` (:func:`glacierlab.data.stac_cache.read_error`) inside the dask task
itself, so the array stays lazy and each task still reads one chunk (memory bounded by the chunk size).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from odc.geo.geobox import GeoBox
from odc.loader import RioDriver, RioReader

from glacierlab.data.stac_cache import public_https, read_error, strip_query
from glacierlab.errors import GlacierLabError


class _NamedReader(RioReader):
    """A :class:`~odc.loader.RioReader` whose read errors are StacErrors naming ``item_id`` and ``asset``."""

    def __init__(self, src: Any, ctx: Any, item_id: str, asset: str, href: str) -> None:
        super().__init__(src, ctx)
        self._where = (item_id, asset, href)

    def read(
        self, cfg: Any, dst_geobox: GeoBox, *, dst: np.ndarray | None = None, selection: Any = None
    ) -> tuple[tuple[slice, slice], np.ndarray]:
        try:
            return super().read(cfg, dst_geobox, dst=dst, selection=selection)
        except GlacierLabError:
            raise
        except Exception as exc:  # noqa: BLE001 - rasterio/GDAL/HTTP errors of a read inside a dask task
            item_id, asset, href = self._where
            raise read_error(item_id, [asset], [href], exc) from exc


class NamedReadDriver(RioDriver):
    """odc-loader's rasterio driver for one STAC item: read errors become StacErrors naming item and asset.

    Pass it as ``odc.stac.load(..., driver=NamedReadDriver(item.id, hrefs))``.

    Args:
        item_id: The item's id.
        hrefs: Asset key -> the asset's href as the item states it (before signing or a public-HTTPS
            rewrite: a read URI is matched by its address without query, also in its public-HTTPS form).
    """

    def __init__(self, item_id: str, hrefs: Mapping[str, str]) -> None:
        super().__init__()
        self._item_id = item_id
        self._assets: dict[str, tuple[str, str]] = {}
        for asset, href in hrefs.items():
            self._assets[strip_query(href)] = (asset, href)
            if href.startswith("s3://"):
                self._assets[strip_query(public_https(href))] = (asset, href)
        self._all = (", ".join(hrefs), ", ".join(hrefs.values()))

    def open(self, src: Any, ctx: Any) -> RioReader:
        """The reader of one raster source (odc-loader calls this inside each read task)."""
        asset, href = self._assets.get(strip_query(str(src.uri)), self._all)
        return _NamedReader(src, ctx, self._item_id, asset, href)
