"""The data catalog: schema validation (every bad key reported with its path) and the real entries."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from glacierlab.data.catalog import DEFAULT_CATALOG, load_catalog, validate_catalog
from glacierlab.errors import CatalogError, UnknownNameError
from glacierlab.vocabulary import OPTICAL_BANDS

REGIONS = {
    "everest",
    "hochalmkees",
    "swiss_alps",
    "aletsch",
    "exploradores",
    "oetztal",
    "hintereisferner",
    "columbia",
    "baltoro",
    "chhota_shigri",
    "south_glacier",
    "iceland_icecap",
    "longyearbyen",
}


def _raw() -> dict:
    return yaml.safe_load(DEFAULT_CATALOG.read_text())


def test_catalog_loads_with_all_regions() -> None:
    cat = load_catalog()
    assert REGIONS <= set(cat.region_ids)
    assert len(cat.sources) >= 40
    ev = cat.region("everest")
    assert ev.dates == ["2000-10-30", "2020-04-07"]
    assert ev.scene().optical == ("everest_l7_20001030_nir", "everest_l7_20001030_rgb")
    assert len(ev.scene().dem) == 5  # 4 strips + the 8 m mosaic


def test_every_source_matches_the_shared_data(shared_data: Path) -> None:
    sums = dict(
        reversed(line.split(None, 1)) for line in (shared_data / "SHA256SUMS").read_text().splitlines()
    )
    sums = {k.strip(): v for k, v in sums.items()}
    for src in load_catalog().sources:
        for f in [src, *src.companions]:
            assert f.seed_path in sums, f"{src.id}: {f.seed_path} not in SHA256SUMS"
            assert f.sha256 == sums[f.seed_path], f"{src.id}: sha256 of {f.seed_path}"
            assert (shared_data / f.seed_path).stat().st_size == f.size, f"{src.id}: size of {f.seed_path}"
        assert src.licence and src.citation and src.origin
        # a download URL for everything except derived files and origins without a stable commit
        if src.url is None:
            assert "DERIVED" in src.origin or "no stable commit" in src.origin or "PyPI" in src.origin, src.id


def test_shapefiles_carry_their_companions() -> None:
    for src in load_catalog().sources:
        if src.seed_path and src.seed_path.endswith(".shp"):
            exts = {Path(c.seed_path).suffix for c in src.companions}
            assert {".shx", ".dbf", ".prj"} <= exts, src.id


def test_stac_endpoints_map_model_band_names() -> None:
    cat = load_catalog()
    es = cat.stac_endpoint("earth_search")
    assert es.url == "https://earth-search.aws.element84.com/v1" and es.sign == "none"
    assert {c.id for c in es.collections} == {"sentinel-2-c1-l2a", "sentinel-2-l2a", "landsat-c2-l2", "cop-dem-glo-30"}
    assert [c.id for c in es.collections if c.default and c.role == "optical"] == ["sentinel-2-c1-l2a"]
    s2 = next(c for c in es.collections if c.id == "sentinel-2-l2a")
    assert set(s2.bands) == set(OPTICAL_BANDS)
    assert cat.stac_endpoint("planetary_computer").sign == "planetary_computer"


def test_every_bad_key_is_reported_at_once() -> None:
    raw = _raw()
    raw["sources"][3]["sha256"] = "abc"
    raw["sources"][5]["kind"] = "tiff"
    raw["sources"][0]["colour"] = "red"
    raw["sources"][1]["bands"][0]["name"] = "infrared"
    raw["regions"]["everest"]["scenes"][0]["optical"] = ["everest_l7_20001030_nir", "x"]
    raw["regions"]["aletsch"]["bbox"] = [8.1, 46.3, 7.9, 46.6]
    raw["regions"]["oetztal"]["default_date"] = "1999"
    with pytest.raises(CatalogError) as err:
        validate_catalog(raw, "cat.yaml")
    msg = str(err.value)
    sid3, sid5 = raw["sources"][3]["id"], raw["sources"][5]["id"]
    for needle in (
        f"sources[3] (id '{sid3}').sha256",
        f"sources[5] (id '{sid5}').kind",
        "sources[0] (id",
        "colour",
        "infrared",
        "regions.everest.scenes[0].optical[1]: unknown source 'x'; valid:",
        "regions.aletsch.bbox",
        "regions.oetztal.default_date",
        "7 error(s)",
    ):
        assert needle in msg, (needle, msg)


def test_wrong_role_and_duplicate_id_are_reported() -> None:
    raw = _raw()
    raw["sources"].append(dict(raw["sources"][0]))
    raw["regions"]["everest"]["scenes"][0]["dem"] = ["everest_rgi60_outlines"]
    with pytest.raises(CatalogError, match=r"duplicate id 'everest_l7_20001030_nir'") as err:
        validate_catalog(raw)
    assert (
        "regions.everest.scenes[0].dem[0]: source 'everest_rgi60_outlines' has no band with role 'dem'"
        in str(err.value)
    )


def test_unknown_region_lists_valid_and_suggests_closest() -> None:
    with pytest.raises(UnknownNameError) as err:
        load_catalog().region("everst")
    msg = str(err.value)
    assert "unknown region 'everst'" in msg and "Did you mean 'everest'" in msg and "hochalmkees" in msg


def test_unknown_source_and_date() -> None:
    cat = load_catalog()
    with pytest.raises(UnknownNameError, match="valid sources"):
        cat.source("landsat")
    with pytest.raises(UnknownNameError, match="2000-10-30"):
        cat.region("everest").scene("2001-01-01")


def test_missing_and_invalid_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [unclosed\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)


def test_glacierview_clips_are_cataloged_and_attached(shared_data: Path) -> None:
    cat = load_catalog()
    images = sorted(p.stem for p in (shared_data / "glacierview_landsat_toa_clips/images").glob("*.tif"))
    assert len(images) == 36
    for gid in images:
        img = cat.source(f"glacierview_{gid.lower()}")
        dem = cat.source(f"glacierview_{gid.lower()}_nasadem")
        assert img.url.endswith(f"/cc00516/small_data/rasters/{gid}.tif")
        assert dem.url.endswith(f"/cc00516/small_data/nasa_dems/{gid}_NASADEM.tif")
        assert img.product_level == "toa" and img.crs == 4326 and img.nodata == 0
        assert img.band_names("optical") == ["blue", "green", "red", "nir", "swir1"]
        assert img.band_names("auxiliary") == ["thermal"]
        assert img.date is None and img.date_range is not None  # acquisition date not recorded upstream
        assert "U.S. Geological Survey" in img.citation and "NASADEM" in dem.citation
        # every clip is a scene (keyed by its GLIMS id) of at least one region whose box contains it
        homes = [rid for rid, r in cat.regions.items() if gid in r.dates]
        assert homes, gid
        for rid in homes:
            scene = cat.region(rid).scene(gid)
            assert scene.optical == (img.id,) and scene.dem == (dem.id,) and scene.reference
    expected = {"khumbu": 6, "swiss_alps": 28, "aletsch": 2, "hintereisferner": 1, "oetztal": 1, "chhota_shigri": 1}
    for rid, n in expected.items():
        assert sum(1 for s in cat.region(rid).scenes if s.id and s.id.startswith("G")) == n, rid


def test_optical_sources_declare_their_product_level() -> None:
    cat = load_catalog()
    for src in cat.sources:
        if src.band_names("optical"):
            assert src.product_level in ("toa", "surface", "dn8"), src.id
    assert cat.source("everest_l7_20001030_rgb").product_level == "dn8"
    raw = _raw()
    del raw["sources"][0]["product_level"]
    with pytest.raises(CatalogError, match="needs 'product_level'"):
        validate_catalog(raw)


def test_scene_keys_ids_and_dates() -> None:
    cat = load_catalog()
    sw = cat.region("swiss_alps")
    assert sw.scene().key == "G007581E45956N" and sw.scene("2010").reference == ("sgi2010_outlines",)
    assert sw.scene("G007908E45948N").date == "2004/2021"
    with pytest.raises(UnknownNameError, match="G007581E45956N"):
        sw.scene("2004/2021")  # shared by 28 clips: ambiguous, so the keys are listed
    raw = _raw()
    raw["regions"]["khumbu"]["scenes"][1]["id"] = raw["regions"]["khumbu"]["scenes"][0]["id"]
    with pytest.raises(CatalogError, match="scene keys repeat"):
        validate_catalog(raw)
