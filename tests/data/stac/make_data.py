"""Write a tiny STAC API over real local GeoTIFFs and serve it on 127.0.0.1 (seeded, offline).

Run by ``tests/data/test_stac.py`` at test time (absolute paths and the port differ per machine, so nothing
generated is committed). By hand::

    python tests/data/stac/make_data.py ../shared/data /tmp/stac   # writes, serves until Ctrl-C

Content (all over the Everest/Khumbu area, EPSG:32645):

* ``landsat-like``: Landsat-7 ETM+ 2000-10-30 bands from ``everest_landsat7_exploradores_aster`` (the
  ``_test`` crop; NIR is the real file itself, red/green/blue single-band copies of the real RGB crop), with
  generated ``qa_pixel`` GeoTIFFs (Landsat C2 QA bits) marking cloud and shadow blocks. Scene dates and
  cloud covers are invented to exercise the filters: A 2000-08-20 (40 %, in the ablation season),
  B 2000-10-30 (5 %, values halved so that it differs from A), C 2000-09-10 (80 %), D (1 %, footprint in the
  Alps: outside the box), E 1999-08-15 (outside the date window).
* ``s2-like``: one item whose assets use Sentinel-2 names (B02...) and carry their own ``raster:bands``
  scale, with a generated SCL raster (snow, cloud and shadow blocks).
* ``dem-like``: the four Khumbu DEM strips (real files, 32 m, nodata -9999).

The server implements ``/`` (landing page), ``/search`` (GET/POST: bbox, datetime, collections, ids,
``query`` on ``eo:cloud_cover``, limit) and ``/files/``, ``/shared/`` with HEAD and Range requests (for GDAL
``/vsicurl``); it counts requests per path in ``server.hits``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import rasterio
from rasterio.warp import transform_bounds

SEED = 9
EVEREST = "everest_landsat7_exploradores_aster"
KHUMBU = "khumbu_dems_sentinel2"
# Landsat C2 QA_PIXEL bits: 0 fill, 1 dilated cloud, 3 cloud, 4 shadow, 6 clear
CLEAR, CLOUD, SHADOW, FILL = 1 << 6, (1 << 3) | (1 << 1), 1 << 4, 1
# blocks in source (30 m) pixel rows/cols of the _test crop (167 x 193 px)
A_CLOUD, A_SHADOW, B_CLOUD = (slice(20, 60), slice(30, 90)), (slice(70, 90), slice(30, 60)), (
    slice(40, 80),
    slice(60, 120),
)
S2_SNOW, S2_CLOUD, S2_SHADOW = (slice(10, 40), slice(10, 40)), (slice(100, 130), slice(100, 150)), (
    slice(50, 60),
    slice(120, 140),
)


def _write(path: Path, arr: np.ndarray, profile: dict[str, Any], nodata: float | None = None) -> None:
    prof = {**profile, "count": 1, "dtype": arr.dtype.name, "nodata": nodata, "driver": "GTiff"}
    prof.update(tiled=True, blockxsize=64, blockysize=64, compress="deflate")
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr, 1)


def _geo(path: Path) -> dict[str, Any]:
    with rasterio.open(path) as src:
        lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
        return {
            "bbox": list(lonlat),
            "proj:code": f"EPSG:{src.crs.to_epsg()}",
            "proj:shape": [src.height, src.width],
            "proj:transform": list(src.transform)[:6],
        }


def _item(iid: str, coll: str, when: str, assets: dict[str, dict[str, Any]], geo: dict[str, Any],
          cloud: float | None = None, bbox: list[float] | None = None) -> dict[str, Any]:
    x0, y0, x1, y1 = bbox or geo["bbox"]
    props: dict[str, Any] = {"datetime": when, **{k: v for k, v in geo.items() if k != "bbox"}}
    if cloud is not None:
        props["eo:cloud_cover"] = cloud
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "id": iid,
        "collection": coll,
        "bbox": [x0, y0, x1, y1],
        "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
        "properties": props,
        "links": [],
        "assets": {k: {"type": "image/tiff; application=geotiff", "roles": ["data"], **v}
                   for k, v in assets.items()},
    }


def write(shared: Path, out: Path, base_url: str) -> dict[str, Any]:
    """Write the GeoTIFFs, items and ``endpoint.json`` into ``out``; return the endpoint mapping.

    Args:
        shared: The shared data folder (``../shared/data``).
        out: Output folder (created).
        base_url: ``http://127.0.0.1:PORT`` the server will answer on.

    Returns:
        A ``stac_endpoints`` entry (for ``glacierlab.data.catalog.StacEndpoint``) pointing at ``base_url``.
    """
    rng = np.random.default_rng(SEED)
    files, items_dir = out / "files", out / "items"
    files.mkdir(parents=True, exist_ok=True)
    items_dir.mkdir(parents=True, exist_ok=True)
    nir_src = shared / EVEREST / "LE71400412000304SGS00_B4_test.tif"
    with rasterio.open(shared / EVEREST / "LE71400412000304SGS00_RGB_test.tif") as src:
        rgb, profile = src.read(), src.profile
    with rasterio.open(nir_src) as src:
        nir = src.read(1)
    for name, band in zip(("red", "green", "blue"), rgb, strict=True):
        _write(files / f"A_{name}.tif", band, profile)
        _write(files / f"B_{name}.tif", band // 2, profile)
    _write(files / "B_nir.tif", nir // 2, profile)
    shape = nir.shape
    qa = {k: np.full(shape, CLEAR, np.uint16) for k in "ABC"}
    qa["A"][A_CLOUD] = CLOUD
    qa["A"][A_SHADOW] = SHADOW
    qa["A"][:, -5:] = FILL
    qa["B"][B_CLOUD] = CLOUD
    qa["C"][:] = CLOUD
    noise = rng.integers(0, 2, shape).astype(np.uint16) << 5  # random snow bit: must not mask anything
    for k, a in qa.items():
        _write(files / f"{k}_qa.tif", a | np.where(a == CLEAR, noise, 0).astype(np.uint16), profile)
    scl = np.full(shape, 5, np.uint8)
    scl[S2_SNOW], scl[S2_CLOUD], scl[S2_SHADOW] = 11, 9, 3
    _write(files / "S_scl.tif", scl, profile)
    geo = _geo(nir_src)
    f, s = f"{base_url}/files", f"{base_url}/shared/{EVEREST}"
    landsat = {
        "A": ("2000-08-20T04:30:00Z", 40.0, f"{s}/{nir_src.name}"),
        "B": ("2000-10-30T04:30:00Z", 5.0, f"{f}/B_nir.tif"),
        "C": ("2000-09-10T04:30:00Z", 80.0, f"{s}/{nir_src.name}"),
        "D": ("2000-08-15T10:00:00Z", 1.0, f"{s}/{nir_src.name}"),
        "E": ("1999-08-15T04:30:00Z", 2.0, f"{s}/{nir_src.name}"),
    }
    items = []
    for k, (when, cloud, nir_href) in landsat.items():
        src_k = "B" if k == "B" else "A"
        assets = {b: {"href": f"{f}/{src_k}_{b}.tif"} for b in ("red", "green", "blue")}
        assets["nir08"] = {"href": nir_href}
        assets["qa_pixel"] = {"href": f"{f}/{'C' if k == 'C' else src_k}_qa.tif", "roles": ["cloud"]}
        box = [10.7, 46.7, 10.9, 46.9] if k == "D" else None
        items.append(_item(f"LT_{k}", "landsat-like", when, assets, geo, cloud, box))
    s2_assets = {key: {"href": f"{f}/A_{b}.tif", "raster:bands": [{"scale": 0.5 / 255, "offset": 0.0}]}
                 for key, b in (("B02", "blue"), ("B03", "green"), ("B04", "red"))}
    s2_assets["B08"] = {"href": f"{s}/{nir_src.name}", "raster:bands": [{"scale": 0.5 / 255, "offset": 0.0}]}
    s2_assets["SCL"] = {"href": f"{f}/S_scl.tif"}
    items.append(_item("S2_X", "s2-like", "2000-08-25T04:40:00Z", s2_assets, geo, 10.0))
    for tif in sorted((shared / KHUMBU).glob("*DEM_32m_trans.tif")):
        when = dt.datetime.strptime(tif.name[:8], "%Y%m%d").strftime("%Y-%m-%dT00:00:00Z")
        dem_asset = {"href": f"{base_url}/shared/{KHUMBU}/{tif.name}", "raster:bands": [{"nodata": -9999}]}
        items.append(_item(f"DEM_{tif.name[:8]}", "dem-like", when, {"data": dem_asset}, _geo(tif)))
    for it in items:
        (items_dir / f"{it['id']}.json").write_text(json.dumps(it, indent=1))
    optical = ["blue", "green", "red", "nir"]
    endpoint = {
        "id": "local_test",
        "url": base_url,
        "sign": "none",
        "collections": [
            {"id": "landsat-like", "role": "optical", "scale": 1 / 255, "offset": 0.0,
             "bands": dict(zip(optical, ["blue", "green", "red", "nir08"], strict=True)),
             "mask": {"asset": "qa_pixel", "kind": "bits", "invalid": [0, 1, 2, 3, 4]}},
            {"id": "s2-like", "role": "optical", "scale": 1 / 255,
             "bands": dict(zip(optical, ["B02", "B03", "B04", "B08"], strict=True)),
             "mask": {"asset": "SCL", "kind": "classes", "invalid": [0, 1, 3, 8, 9, 10]}},
            {"id": "dem-like", "role": "dem", "bands": {"elevation": "data"}},
        ],
    }
    (out / "endpoint.json").write_text(json.dumps(endpoint, indent=1))
    return endpoint


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _matches(it: dict[str, Any], q: dict[str, Any]) -> bool:
    if q.get("collections") and it["collection"] not in q["collections"]:
        return False
    if q.get("ids") and it["id"] not in q["ids"]:
        return False
    if q.get("bbox"):
        x0, y0, x1, y1 = (float(v) for v in q["bbox"])
        a0, b0, a1, b1 = it["bbox"]
        if a1 < x0 or a0 > x1 or b1 < y0 or b0 > y1:
            return False
    if q.get("datetime"):
        lo, _, hi = str(q["datetime"]).partition("/")
        t = _when(it["properties"]["datetime"])
        if (lo not in ("", "..") and t < _when(lo)) or (hi not in ("", "..") and t > _when(hi)):
            return False
    ops = {"lt": np.less, "lte": np.less_equal, "gt": np.greater, "gte": np.greater_equal, "eq": np.equal}
    for prop, conds in (q.get("query") or {}).items():
        val = it["properties"].get(prop)
        if val is None or not all(ops[op](val, ref) for op, ref in conds.items()):
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        return

    def _json(self, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _search(self, q: dict[str, Any]) -> None:
        items = [json.loads(p.read_text()) for p in sorted((self.server.root / "items").glob("*.json"))]
        hits = [it for it in items if _matches(it, q)][: int(q.get("limit") or 100)]
        self._json({"type": "FeatureCollection", "features": hits, "links": []})

    def _file(self, head: bool) -> None:
        path = urlsplit(self.path).path
        base = self.server.root / "files" if path.startswith("/files/") else self.server.shared
        rel = path.split("/", 2)[2]
        target = (base / rel).resolve()
        if not target.is_file() or base.resolve() not in target.parents:
            self.send_error(404)
            return
        self.server.hits[path] += 1
        data = target.read_bytes()
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            lo_s, _, hi_s = rng[6:].partition("-")
            lo, hi = int(lo_s), min(int(hi_s) if hi_s else len(data) - 1, len(data) - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {lo}-{hi}/{len(data)}")
            data = data[lo : hi + 1]
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server API
        self._file(head=True)

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path in ("", "/"):
            base = self.server.base_url
            self._json({
                "type": "Catalog", "stac_version": "1.0.0", "id": "local-test", "description": "test API",
                "conformsTo": [
                    "https://api.stacspec.org/v1.0.0/core",
                    "https://api.stacspec.org/v1.0.0/item-search",
                    "https://api.stacspec.org/v1.0.0/item-search#query",
                ],
                "links": [
                    {"rel": "self", "href": base + "/", "type": "application/json"},
                    {"rel": "root", "href": base + "/", "type": "application/json"},
                    {"rel": "search", "href": base + "/search", "type": "application/geo+json",
                     "method": "POST"},
                    {"rel": "search", "href": base + "/search", "type": "application/geo+json",
                     "method": "GET"},
                ],
            })
        elif path == "/search":
            q: dict[str, Any] = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            for key in ("collections", "ids", "bbox"):
                if key in q:
                    q[key] = q[key].split(",")
            if "query" in q:
                q["query"] = json.loads(q["query"])
            self._search(q)
        else:
            self._file(head=False)

    def do_POST(self) -> None:  # noqa: N802
        if urlsplit(self.path).path != "/search":
            self.send_error(404)
            return
        n = int(self.headers.get("Content-Length") or 0)
        self._search(json.loads(self.rfile.read(n) or b"{}"))


def serve(root: Path, shared: Path) -> ThreadingHTTPServer:
    """Start the server on a free port of 127.0.0.1 in a daemon thread (``server.base_url`` says where).

    Call :func:`write` with ``server.base_url`` afterwards; stop with ``server.shutdown()``.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.root, server.shared, server.hits = root, shared, Counter()  # type: ignore[attr-defined]
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    shared_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    srv = serve(out_dir, shared_dir)
    write(shared_dir, out_dir, srv.base_url)  # type: ignore[attr-defined]
    print(f"STAC API at {srv.base_url}/ (endpoint description: {out_dir / 'endpoint.json'}); Ctrl-C stops")  # type: ignore[attr-defined]
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.shutdown()
        srv.server_close()
