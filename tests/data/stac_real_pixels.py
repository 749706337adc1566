"""Helpers for tests/data/test_stac_real.py: real STAC items pointed at small GeoTIFFs written in their own grid.

For a real item (``tests/data/stac/real/``), :func:`write_window` writes each needed asset as a GeoTIFF over
a 240 m x 240 m window of the item's own CRS and pixel grid (its ``proj:*`` fields), 3 km inside the tile,
with DNs stored the way that provider stores them, and returns a copy of the item whose hrefs point at
them. The window is 4 x 4 blocks of 60 m, each block one class of :data:`LAYOUT`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from affine import Affine
from odc.geo.geobox import GeoBox

from glacierlab.quiet import quiet

REAL = Path(__file__).parent / "stac" / "real"
SNOW, DEBRIS, CLOUD_REFL, SHADOW_REFL = 0.74, 0.05, 0.6, 0.02
LAYOUT = np.array([
    ["snow", "debris", "cloud", "snow"],
    ["debris", "shadow", "snow", "nodata"],
    ["snow", "debris", "debris", "cloud"],
    ["shadow", "snow", "nodata", "debris"],
])
REFL = {"snow": SNOW, "debris": DEBRIS, "cloud": CLOUD_REFL, "shadow": SHADOW_REFL}
SCL = {"snow": 11, "debris": 5, "cloud": 9, "shadow": 3, "nodata": 0}
# Landsat C2 QA_PIXEL: bit 0 fill, 1 dilated cloud, 3 cloud, 4 shadow, 5 snow, 6 clear
QA = {"snow": (1 << 5) | (1 << 6), "debris": 1 << 6, "cloud": (1 << 3) | (1 << 1), "shadow": 1 << 4, "nodata": 1}
BLOCK, SIZE, INSET = 60.0, 240.0, 3000.0


def load(name: str) -> pystac.Item:
    """A real item by file-name prefix (``es_s2c1``...)."""
    (path,) = REAL.glob(f"{name}*.json")
    with quiet():  # pystac migrates the storage extension of real items as pystac-client does
        return pystac.Item.from_dict(json.loads(path.read_text()))


def _crs(item: pystac.Item, asset: str) -> str:
    for src in (item.assets[asset].extra_fields, item.properties):
        if src.get("proj:code"):
            return str(src["proj:code"])
        if src.get("proj:epsg"):
            return f"EPSG:{src['proj:epsg']}"
    raise AssertionError(f"{item.id} {asset}: no CRS")


def _transform(item: pystac.Item, asset: str) -> Affine:
    t = item.assets[asset].extra_fields.get("proj:transform") or item.properties["proj:transform"]
    return Affine(*t[:6])


def origin(item: pystac.Item, asset: str) -> tuple[float, float]:
    """Upper-left corner of the window: INSET metres right of and below the tile's corner."""
    t = _transform(item, asset)
    return t.c + INSET, t.f - INSET


def grid(item: pystac.Item, asset: str, res: float) -> GeoBox:
    """The window's grid at ``res`` metres in the item's CRS."""
    x0, y0 = origin(item, asset)
    n = int(SIZE / res)
    return GeoBox((n, n), Affine(res, 0, x0, 0, -res, y0), _crs(item, asset))


def classes(res: float) -> np.ndarray:
    """The class name of every pixel of a ``res``-metre grid of the window."""
    k = int(BLOCK / res)
    return np.repeat(np.repeat(LAYOUT, k, axis=0), k, axis=1)


def _write(path: Path, arr: np.ndarray, crs: str, transform: Affine, nodata: float | None) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1,
                       dtype=arr.dtype.name, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(arr, 1)


def write_window(item: pystac.Item, bands: dict[str, str], mask: tuple[str, str] | None, folder: Path,
                 store: Any) -> pystac.Item:
    """Write the item's ``bands`` (model -> asset) and mask asset as GeoTIFFs; return the re-pointed item.

    Args:
        item: The real item.
        bands: Model band -> asset key.
        mask: ``(asset, "scl" | "qa")`` or None.
        folder: Where the GeoTIFFs go.
        store: ``reflectance -> DN`` as the provider stores it (nodata stays 0).
    """
    out = item.clone()
    folder.mkdir(parents=True, exist_ok=True)
    todo = [(a, "band") for a in bands.values()] + ([mask] if mask else [])
    for asset, kind in todo:
        t = _transform(item, asset)
        res = abs(t.a)
        x0, y0 = origin(item, asset)
        cls = classes(res)
        if kind == "band":
            refl = np.vectorize(lambda c: REFL.get(c, np.nan))(cls)
            dn = np.where(cls == "nodata", 0, np.round(store(refl))).astype(np.uint16)
            nodata: float | None = 0
        else:
            table = SCL if kind == "scl" else QA
            dn = np.vectorize(table.get)(cls).astype(np.uint8 if kind == "scl" else np.uint16)
            nodata = None
        path = folder / f"{item.id}_{asset}.tif"
        _write(path, dn, _crs(item, asset), Affine(res, 0, x0, 0, -res, y0), nodata)
        out.assets[asset].href = str(path)
    return out


class RangeServer(ThreadingHTTPServer):
    """Serves files under ``root`` on 127.0.0.1 with HEAD and Range (for GDAL /vsicurl and /vsis3)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: RangeServer

    def log_message(self, *args: Any) -> None:
        pass

    def _file(self) -> Path | None:
        path = (self.server.root / self.path.split("?")[0].lstrip("/")).resolve()
        return path if path.is_file() and self.server.root.resolve() in path.parents else None

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self.server.paths.append(self.path)
        self._send(head=False)

    def _send(self, head: bool) -> None:
        path = self._file()
        if path is None:
            self.send_error(404)
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        if rng:
            a, b = rng.split("=")[1].split("-")
            start, end = int(a), min(int(b) if b else len(data) - 1, len(data) - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            data = data[start:end + 1]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if not head:
            self.wfile.write(data)
