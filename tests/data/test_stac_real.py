"""Real Earth Search / Planetary Computer / CDSE items: DN -> reflectance once, masks, de-dup, search, S3.

The items are real recorded API responses (``tests/data/stac/real/README.md`` gives their origins); their
pixels are small GeoTIFFs written in each item's own CRS and grid with DNs stored the way that provider
stores them (``stac_real_pixels``), read through the same odc-stac path users run. No network.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from dask import array as dask_array
from odc.geo.geobox import GeoBox
from stac_real_pixels import REAL, SNOW, RangeServer, classes, grid, load, write_window

from glacierlab.data import stac, stac_search
from glacierlab.data.catalog import StacCollection, load_catalog
from glacierlab.data.stac_api import PAGE_LIMIT, SORT_BY
from glacierlab.data.stac_cache import public_https, signer
from glacierlab.data.stac_items import item_elevation, item_reflectance, load_item
from glacierlab.data.stac_scaling import scaling
from glacierlab.errors import StacError

ESA_OFFSET_APPLIED = 1000  # baseline >= 04.00: ESA stores DN = reflectance * 1e4 + 1000


def _dn_plain(refl: np.ndarray) -> np.ndarray:
    return refl * 1e4


def _dn_esa4(refl: np.ndarray) -> np.ndarray:
    return refl * 1e4 + ESA_OFFSET_APPLIED


def _dn_landsat(refl: np.ndarray) -> np.ndarray:
    return (refl + 0.2) / 2.75e-5


# (item file prefix, endpoint, collection, how the provider stores DN) -- the README's truth per provider
CASES = [
    ("es_s2l2a__S2A_13TDE_20231008_0", "earth_search", "sentinel-2-l2a", _dn_plain),  # offset applied, 05.09
    ("es_s2l2a__S2A_32TMT_20200305_1", "earth_search", "sentinel-2-l2a", _dn_plain),  # offset applied, 05.00
    ("es_s2l2a__S2A_32TMT_20200305_0", "earth_search", "sentinel-2-l2a", _dn_plain),  # baseline 02.14
    ("es_s2c1", "earth_search", "sentinel-2-c1-l2a", _dn_esa4),  # Collection 1, baseline 05.10
    ("es_landsat", "earth_search", "landsat-c2-l2", _dn_landsat),
    ("pc_s2l2a__S2B_MSIL2A_20240419", "planetary_computer", "sentinel-2-l2a", _dn_esa4),  # 05.10
    ("pc_s2l2a__S2A_MSIL2A_20190101", "planetary_computer", "sentinel-2-l2a", _dn_plain),  # 02.12
    ("pc_landsat", "planetary_computer", "landsat-c2-l2", _dn_landsat),
    ("cdse_stac11", "cdse", "sentinel-2-l2a", _dn_esa4),  # STAC 1.1, processing:version 05.00
]


def _coll(endpoint: str, cid: str) -> StacCollection:
    return stac_search.collection_of(load_catalog().stac_endpoint(endpoint), cid, "optical")


def _prepared(name: str, endpoint: str, cid: str, store: Any, folder: Path) -> tuple[pystac.Item, StacCollection]:
    coll = _coll(endpoint, cid)
    item = load(name)
    assert coll.mask is not None
    mask = (coll.mask.asset, "scl" if coll.mask.kind == "classes" else "qa")
    return write_window(item, coll.bands, mask, folder, store), coll


@pytest.mark.parametrize("cache", ["windows", "assets", "none"])
@pytest.mark.parametrize(("name", "endpoint", "cid", "store"), CASES, ids=[c[0] for c in CASES])
def test_reflectance_of_real_items_matches_the_provider_truth(
    name: str, endpoint: str, cid: str, store: Any, cache: str, tmp_path: Path
) -> None:
    item, coll = _prepared(name, endpoint, cid, store, tmp_path)
    assert str(item.get_self_href()).startswith("https://")  # real items have self links
    res = 30.0 if "landsat" in cid else 10.0
    box = grid(item, coll.bands["red"], res)
    scene = stac_search.StacScene(item, endpoint, coll, True)  # unsigned: hrefs are local files
    out = stac.load_optical([scene], box, mode="best", resampling="nearest", cache=cache).compute()  # type: ignore[arg-type]
    assert out.rio.crs == box.crs and out.rio.resolution() == (res, -res)
    cls = classes(res)
    for band in ("blue", "green", "red", "nir", "swir1", "swir2"):
        got = out.sel(band=band).values
        np.testing.assert_allclose(got[cls == "snow"], SNOW, atol=1e-4)  # snow kept (SCL 11, QA snow bit)
        np.testing.assert_allclose(got[cls == "debris"], 0.05, atol=1e-4)
        assert np.isnan(got[np.isin(cls, ["cloud", "shadow", "nodata"])]).all(), band


def test_the_earth_search_contradiction_is_settled_by_the_flag_and_unknowns_are_refused() -> None:
    es = _coll("earth_search", "sentinel-2-l2a")
    item = load("es_s2l2a__S2A_32TMT_20200305_1")  # baseline 05.00, flag true, raster:bands offset -0.1
    assert item.assets["red"].extra_fields["raster:bands"][0]["offset"] == -0.1
    rule = scaling(item, "red", es)
    assert (rule.scale, rule.offset, rule.nodata) == (1e-4, 0.0, 0) and "boa_offset_applied" in rule.rule
    no_flag = item.clone()
    del no_flag.properties["earthsearch:boa_offset_applied"]
    with pytest.raises(StacError, match=r"S2A_32TMT_20200305_1_L2A.*boa_offset_applied.*sentinel-2-c1-l2a"):
        scaling(no_flag, "red", es)
    flag_false = item.clone()
    flag_false.properties["earthsearch:boa_offset_applied"] = False
    assert scaling(flag_false, "red", es).offset == -0.1  # ESA's DNs: the offset is applied here, once
    odd = item.clone()
    odd.assets["red"].extra_fields["raster:bands"][0]["scale"] = 2e-4
    with pytest.raises(StacError, match=r"'red' of item 'S2A_32TMT_20200305_1_L2A' states scale=0.0002"):
        scaling(odd, "red", es)
    # Planetary Computer and CDSE: the baseline decides; a stated offset that contradicts it is refused
    cdse = load("cdse_stac11")
    coll = _coll("cdse", "sentinel-2-l2a")
    assert scaling(cdse, "B04_10m", coll).offset == -0.1  # raster:offset (STAC 1.1) agrees with 05.00
    cdse.assets["B04_10m"].extra_fields["raster:offset"] = 0.0
    with pytest.raises(StacError, match=r"B04_10m.*states offset=0.0.*sentinel2_esa"):
        scaling(cdse, "B04_10m", coll)
    pc = load("pc_s2l2a__S2B")
    del pc.properties["s2:processing_baseline"]
    with pytest.raises(StacError, match="no processing baseline"):
        scaling(pc, "B04", _coll("planetary_computer", "sentinel-2-l2a"))


def test_reprocessed_duplicates_keep_the_newest_baseline() -> None:
    old, new = load("es_s2l2a__S2A_32TMT_20200305_0"), load("es_s2l2a__S2A_32TMT_20200305_1")
    other = load("es_s2l2a__S2A_13TDE")
    kept = stac_search.dedupe([old, other, new])
    assert [i.id for i in kept] == ["S2A_32TMT_20200305_1_L2A", "S2A_13TDE_20231008_0_L2A"]
    assert [i.id for i in stac_search.dedupe([new, old])] == ["S2A_32TMT_20200305_1_L2A"]


class _Replay(ThreadingHTTPServer):
    """Earth Search v1 replayed from a recorded landing page and search pages (URLs rewritten to here)."""

    REAL_URL = "https://earth-search.aws.element84.com/v1"

    def __init__(self) -> None:
        rec = json.loads((REAL / "search__es_v1_s2l2a_paging_bbox_2020-03.json").read_text())["exchanges"]
        self.landing, self.pages = rec[0]["response"], [e["response"] for e in rec[1:]]
        self.bodies: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _ReplayHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"

    def send(self, obj: Any) -> bytes:
        return json.dumps(obj).replace(self.REAL_URL, self.url).encode()


class _ReplayHandler(BaseHTTPRequestHandler):
    server: _Replay

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, obj: Any) -> None:
        data = self.server.send(obj)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._reply(self.server.landing)

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        tokens = [None] + [p["links"][0]["body"]["next"] for p in self.server.pages if p["links"][0]["rel"] == "next"]
        self._reply(self.server.pages[tokens.index(body.get("next"))])


def test_search_replays_earth_search_with_limit_sortby_query_and_dedup() -> None:
    api = _Replay()
    try:
        ep = load_catalog().stac_endpoint("earth_search").model_copy(update={"url": api.url})
        scenes = stac_search.search_scenes((9, 47, 10, 48), "2020-03-01/2020-03-05", endpoint=ep,
                                    collections=["sentinel-2-l2a"], max_cloud=100, season="ignore")
    finally:
        api.shutdown()
        api.server_close()
    first = api.bodies[0]  # the landing page declares item-search#sort and #query: both are used
    assert first["limit"] == PAGE_LIMIT and first["sortby"] == SORT_BY
    assert first["query"] == {"eo:cloud_cover": {"lte": 100}} and first["collections"] == ["sentinel-2-l2a"]
    assert len(api.bodies) == 3  # three recorded pages (10 + 6 + 0 items) followed
    ids = [s.id for s in scenes]
    assert len(ids) == 8 and all(i.endswith("_1_L2A") for i in ids)  # 16 items = 8 scenes x 2 processings
    assert [s.cloud_cover for s in scenes] == sorted(s.cloud_cover for s in scenes)  # type: ignore[type-var]
    assert {scaling(s.item, "red", s.collection).offset for s in scenes} == {0.0}


def test_public_s3_dem_is_read_unsigned_for_that_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An S3 endpoint on 127.0.0.1 stands in for AWS: GDAL reads s3:// through it exactly as from AWS."""
    item = load("es_dem")
    href = item.assets["data"].href
    bucket, key = href[len("s3://"):].split("/", 1)
    t = Affine(*item.properties["proj:transform"])
    win = Affine(t.a, 0, t.c + 10 * t.a, 0, t.e, t.f + 100 * t.e)
    elev = (2500 + np.arange(24 * 8, dtype=np.float32).reshape(24, 8)).astype(np.float32)
    (tmp_path / bucket / key).parent.mkdir(parents=True)
    with rasterio.open(tmp_path / bucket / key, "w", driver="GTiff", width=8, height=24, count=1,
                       dtype="float32", crs="EPSG:4326", transform=win) as dst:
        dst.write(elev, 1)
    server = RangeServer(tmp_path)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_NO_SIGN_REQUEST"):
        monkeypatch.delenv(var, raising=False)
    for var, value in {"AWS_S3_ENDPOINT": server.base.removeprefix("http://"), "AWS_HTTPS": "NO",
                       "AWS_VIRTUAL_HOSTING": "FALSE", "AWS_CONFIG_FILE": str(tmp_path / "none"),
                       "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                       "CPL_AWS_EC2_API_ROOT_URL": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(var, value)
    box = GeoBox((24, 8), win, "EPSG:4326")
    coll = stac_search.collection_of(load_catalog().stac_endpoint("earth_search"), "cop-dem-glo-30", "dem")
    try:
        assert coll.s3_public
        private = coll.model_copy(update={"s3_public": False})
        with pytest.raises(StacError, match=r"'data'.*Copernicus_DSM_COG_10_S90_00_W180_00_DEM.*s3_public"):
            item_elevation(item, private, box)
        got = item_elevation(item, coll, box).values
    finally:
        server.shutdown()
        server.server_close()
    np.testing.assert_allclose(got, elev)  # metres, the same grid
    assert any(p.startswith(f"/{bucket}/") for p in server.paths)
    assert "AWS_NO_SIGN_REQUEST" not in rasterio.env.getenv() if rasterio.env.hasenv() else True
    assert public_https(href) == f"https://{bucket}.s3.amazonaws.com/{key}"


def test_lazy_read_errors_name_item_asset_and_remedy(tmp_path: Path) -> None:
    item, coll = _prepared("pc_s2l2a__S2B_MSIL2A_20240419", "planetary_computer", "sentinel-2-l2a", _dn_esa4,
                           tmp_path)
    Path(item.assets["B04"].href).unlink()
    box = grid(item, "B04", 10.0)
    for cache in ("none", "assets", "windows"):
        with pytest.raises(StacError, match=r"B04.*S2B_MSIL2A_20240419T095549_R122_T47XML.*exists"):
            item_reflectance(item, coll, box, cache=cache)


@pytest.mark.parametrize("cache", ["none", "assets"])
def test_a_lazy_result_computed_by_the_user_names_item_asset_and_remedy(cache: str, tmp_path: Path) -> None:
    """The asset opens fine at load time and is truncated before the user computes the lazy array (a
    download cut short, a file replaced): the read error inside the dask task is a StacError, not a raw
    RasterioIOError, wherever it is computed (the array itself, or something derived from it)."""
    item, coll = _prepared("pc_s2l2a__S2B_MSIL2A_20240419", "planetary_computer", "sentinel-2-l2a", _dn_esa4,
                           tmp_path)
    box = grid(item, "B04", 10.0)
    scene = stac_search.StacScene(item, "planetary_computer", coll, True)
    out = stac.load_optical([scene], box, mode="best", resampling="nearest", cache=cache)  # type: ignore[arg-type]
    raw = load_item(item, ["B04"], box, cache=cache)  # type: ignore[arg-type]
    assert isinstance(out.data, dask_array.Array) and isinstance(raw.data, dask_array.Array)  # still lazy
    path = Path(item.assets["B04"].href)
    with path.open("r+b") as f:  # keep the header, lose the pixels
        f.truncate(path.stat().st_size // 2)
    with rasterio.open(path) as ds:  # the header still opens: only the read fails
        assert ds.count == 1
    wanted = r"'B04'\] of item 'S2B_MSIL2A_20240419T095549_R122_T47XML_20240419T123458'.*RasterioIOError.*readable"
    for lazy in (out, out.sel(band="red").mean(), raw):
        with pytest.raises(StacError, match=wanted):
            lazy.compute()
    with pytest.raises(StacError, match=wanted):
        _ = raw.values


def test_planetary_computer_signing_is_done_at_read_time(monkeypatch: pytest.MonkeyPatch) -> None:
    sign = signer("planetary_computer", "planetary_computer")  # imports the optional package (quietly)
    assert sign is not None
    monkeypatch.setattr(sys.modules["planetary_computer"], "sign", lambda href: f"{href}?se=new&sig=fresh")
    assert sign("https://a.blob.core.windows.net/c/B04.tif?se=old&sig=expired") == (
        "https://a.blob.core.windows.net/c/B04.tif?se=new&sig=fresh")  # an expired token is replaced
    monkeypatch.setitem(sys.modules, "planetary_computer", None)
    with pytest.raises(StacError, match="pip install planetary-computer"):
        signer("planetary_computer", "planetary_computer")


def test_stac_loaders_work_in_a_fresh_interpreter(tmp_path: Path) -> None:
    item, _ = _prepared("es_s2c1", "earth_search", "sentinel-2-c1-l2a", _dn_esa4, tmp_path)
    (tmp_path / "item.json").write_text(json.dumps(item.to_dict(transform_hrefs=False)))
    code = f"""
import json, pystac, numpy as np
from glacierlab.data import stac, stac_search
from glacierlab.data.catalog import load_catalog
from glacierlab.data.stac_items import item_reflectance, load_item
from stac_real_pixels import grid
item = pystac.Item.from_dict(json.load(open({str(tmp_path / 'item.json')!r})))
coll = stac_search.collection_of(load_catalog().stac_endpoint("earth_search"), "sentinel-2-c1-l2a", "optical")
box = grid(item, "red", 10.0)
a = item_reflectance(item, coll, box, resampling="nearest")
b = load_item(item, ["red"], box, cache="none").compute()
c = stac.load_optical([stac_search.StacScene(item, "earth_search", coll, True)], box, resampling="nearest")
print(round(float(np.nanmax(a.sel(band="red"))), 4), a.rio.crs, b.rio.crs, c.rio.crs)
"""
    env_path = str(Path(__file__).parent)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": env_path})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0] == "0.74" and done.stdout.count("EPSG:32634") == 3


class _Declares:
    """A client stand-in declaring a fixed set of conformance classes (as pystac_client reads them)."""

    def __init__(self, *uris: str) -> None:
        from pystac_client.conformance import ConformanceClasses

        self.classes = [getattr(ConformanceClasses, u) for u in uris]

    def conforms_to(self, cls: Any) -> bool:
        return cls in self.classes


def test_search_sends_only_what_the_api_declares() -> None:
    from glacierlab.data.stac_api import search_params

    base = {"bbox": [9, 47, 10, 48], "collections": ["x"], "max_items": 40, "max_cloud": 20.0}
    cql2 = search_params(_Declares("FILTER"), base)
    assert cql2["filter"] == {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 20.0]}
    assert cql2["filter_lang"] == "cql2-json" and "query" not in cql2 and "sortby" not in cql2
    assert cql2["limit"] == 40 and "max_cloud" not in cql2
    bare = search_params(_Declares(), base)
    assert set(bare) == {"bbox", "collections", "max_items", "limit"}  # the cloud limit is checked locally


def test_same_tile_twice_a_day_at_high_latitude_is_not_a_duplicate() -> None:
    a = load("es_s2l2a__S2A_32TMT_20200305_1")
    b = a.clone()
    b.id = "S2A_32TMT_20200305_later_orbit"
    assert a.datetime is not None
    b.datetime = a.datetime + dt.timedelta(minutes=100)
    assert len(stac_search.dedupe([a, b])) == 2
