"""What each catalog region holds, what it allows, and the one sentence on how to get the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from glacierlab.data.catalog import load_catalog
from glacierlab.data.contents import (
    NOTEBOOK_NEEDS,
    outline_areas,
    region_contents,
    regions_for,
    scene_outlines,
)
from glacierlab.errors import InputError


def test_every_region_declares_its_contents_and_supported_notebooks() -> None:
    cat = load_catalog()
    for rid in cat.region_ids:
        c = region_contents(rid)
        assert "explore_region" in c.notebooks and set(c.notebooks) <= set(NOTEBOOK_NEEDS)
        assert c.can_map == bool(c.imagery) and c.summary().startswith(cat.region(rid).name)
        # one sentence: either what to do next with the imagery, or how to get some
        advice = c.advice()
        assert advice.count(". ") == 0 and advice.endswith(".")
        assert ("map_glaciers.ipynb" in advice) == c.can_map
    assert regions_for("map_glaciers") == [
        "everest", "khumbu", "swiss_alps", "aletsch", "oetztal", "hintereisferner", "chhota_shigri"
    ]
    assert regions_for("compare_outlines") == ["hochalmkees", "hintereisferner"]
    assert len(regions_for("explore_region")) == len(cat.region_ids)


def test_imagery_by_scene_with_sensor_and_product_level() -> None:
    ev = region_contents("everest")
    assert [(i.scene, i.product_level) for i in ev.imagery] == [("2000-10-30", "dn8"), ("2020-04-07", "dn8")]
    assert ev.imagery[1].bands == ("red", "green", "blue") and "Sentinel-2" in ev.imagery[1].sensor
    kh = region_contents("khumbu")
    assert len(kh.imagery) == 6 and {i.product_level for i in kh.imagery} == {"toa"}
    assert kh.imagery[0].bands == ("blue", "green", "red", "nir", "swir1") and kh.imagery[0].date == "2004/2021"
    # model steps use the default scene when it has imagery, else the first scene with imagery
    assert kh.imagery_scene() == "G086917E27925N" and kh.imagery_scene("G086889E27929N") == "G086889E27929N"
    assert region_contents("hintereisferner").imagery_scene() == "G010734E46818N"  # default 2003 is DEM only
    with pytest.raises(InputError, match="STAC"):
        region_contents("hochalmkees").imagery_scene()


def test_hints_name_what_is_missing() -> None:
    assert region_contents("hochalmkees").hint().startswith("This region has no imagery or DEM:")
    assert region_contents("longyearbyen").hint().startswith("This region has no imagery:")
    assert region_contents("everest").hint() == ""
    hef = region_contents("hintereisferner")
    assert "holds no imagery" in hef.advice("2003") and 'date = "G010734E46818N"' in hef.advice("2003")


def test_advice_says_train_first_where_the_shipped_model_refuses_the_imagery() -> None:
    """TOA clips: map_glaciers refuses them with the shipped (8-bit) model, so the advice is to train first."""
    from glacierlab.inference.compat import checkpoint_product_level
    from glacierlab.models import load_checkpoint
    from glacierlab.weights import SHIPPED, SHIPPED_PRODUCT_LEVEL, shipped_checkpoint_path

    for name in SHIPPED:  # the level the advice relies on is the checkpoint's own
        assert SHIPPED_PRODUCT_LEVEL[name] == checkpoint_product_level(load_checkpoint(shipped_checkpoint_path(name)))
    assert region_contents("everest").advice().startswith("Map this scene with map_glaciers.ipynb")
    for rid in ("khumbu", "swiss_alps", "aletsch", "oetztal", "hintereisferner", "chhota_shigri"):
        advice = region_contents(rid).advice()
        assert "rain a model on this region first with train_your_region.ipynb" in advice, advice
        assert "top-of-atmosphere reflectance" in advice and "Map this scene" not in advice


def test_outline_sets_by_date_and_their_areas(shared_data: Path) -> None:
    hk = region_contents("hochalmkees")
    assert [o.label for o in hk.outlines][:3] == ["1850", "1969", "1998"] and len(hk.outlines) == 10
    hef = region_contents("hintereisferner")
    assert {o.source for o in hef.outlines} == {"hef_rgi60_outlines", "hef_rgi50_outlines", "hef_rgi70_outlines"}
    areas = outline_areas("hochalmkees").set_index("outlines")
    # two analysts outlined 2016-08-27: two rows, never summed; the glacier shrank since 1850
    assert [k for k in areas.index if k.startswith("2016-08-27")] == [
        "2016-08-27 (analysis 519702)",
        "2016-08-27 (analysis 710616)",
    ]
    assert areas.loc["1850", "area_km2"] > areas.loc["2016-08-27 (analysis 519702)", "area_km2"] > 2.0
    assert (areas["glaciers"] >= 1).all() and len(areas) == 11  # 11 GLIMS analyses
    sw = scene_outlines("swiss_alps", "G007581E45956N", (7.55, 45.93, 7.62, 45.98))
    assert sw is not None and 0 < len(sw) < 50  # the country-wide inventory clipped to the window
    assert scene_outlines("swiss_alps", "2016") is None  # a raster reference: no vector outlines


def test_mask_raster_outline_sets_are_listed_with_their_area(shared_data: Path) -> None:
    """Longyearbyen's only outlines are a 1990 mask raster: the table had headers and no row."""
    areas = outline_areas("longyearbyen")
    assert list(areas["outlines"]) == ["1990-08-01 (mask raster)"]
    assert areas["glaciers"].isna().all()  # a mask does not tell glaciers apart
    assert 50 < areas.loc[0, "area_km2"] < 100  # 13.6 % of the 985 x 1332 px (20 m) frame is glacier
    swiss = outline_areas("swiss_alps").set_index("outlines")
    mask_row = swiss.loc["2013-01-01/2018-12-31 (mask raster)"]
    vector_row = swiss.loc["2008-01-01/2011-12-31"]
    assert abs(mask_row["area_km2"] / vector_row["area_km2"] - 1) < 0.1  # SGI2016 vs SGI2010, same box


def test_your_files_advice_follows_the_catalog_rule() -> None:
    """Your own files get the advice of a catalog scene of their level: TOA or surface reflectance is refused by
    the shipped (8-bit) model, so train first (on a region with such imagery, named); 8-bit files are mapped."""
    from glacierlab.data.contents import files_advice, shipped_model_reads
    from glacierlab.inference.checks import level_fit
    from glacierlab.weights import SHIPPED, SHIPPED_PRODUCT_LEVEL

    shipped = SHIPPED_PRODUCT_LEVEL[SHIPPED[0]]
    for level in ("dn8", "toa", "surface"):  # the same rule as map_glaciers' refusal
        assert shipped_model_reads(level) == (level_fit(shipped, level) != "refuse"), level
    assert files_advice("dn8").startswith("Map your files with map_glaciers.ipynb")
    toa = files_advice("toa")
    assert toa.startswith("Train a model first with train_your_region.ipynb") and "Map your files" not in toa
    assert "top-of-atmosphere reflectance" in toa and "khumbu" in toa  # a region to train on, TOA like the files
    assert "surface reflectance" in files_advice("surface") and "Map your files" not in files_advice("surface")
    assert "no optical imagery" in files_advice("")
    box = files_advice("surface", what="this box's scenes", how="draw the box there and press Use drawn box")
    assert box.startswith("Train a model first") and "this box's scenes are surface reflectance" in box
