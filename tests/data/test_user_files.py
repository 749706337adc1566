"""Bring your own scene: GeoTIFF paths + a band-name mapping -> the stack every notebook uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from glacierlab.data.stack import group, stack_region
from glacierlab.data.user_files import stack_from_files
from glacierlab.errors import DataNotFoundError, InputError, UnknownNameError

CLIP = "G086917E27925N"


def _clip_paths(shared_data: Path) -> tuple[Path, Path]:
    d = shared_data / "glacierview_landsat_toa_clips"
    return d / "images" / f"{CLIP}.tif", d / "dem" / f"{CLIP}_NASADEM.tif"


def test_multiband_file_with_names_matches_the_catalog_stack(shared_data: Path) -> None:
    img, dem = _clip_paths(shared_data)
    mine = stack_from_files(img, dem, bands="blue, green, red, nir, swir1, -", product_level="toa", nodata=0)
    ref = stack_region("khumbu", CLIP)
    assert mine.attrs["product_level"] == "toa" and mine.attrs["region"] == "user" and CLIP in mine.attrs["scene"]
    assert list(group(mine, "optical")["band"].values) == ["blue", "green", "red", "nir", "swir1"]
    np.testing.assert_array_equal(mine["optical"].values, ref["optical"].values)
    np.testing.assert_allclose(mine["dem"].values, ref["dem"].values, equal_nan=True)


def test_one_file_per_band_and_a_mapping_by_description(shared_data: Path, tmp_path: Path) -> None:
    img, _ = _clip_paths(shared_data)
    with rasterio.open(img) as src:
        profile, data = src.profile, src.read()
    profile.update(count=1)
    paths = []
    for i, name in enumerate(("B2", "B3", "B4", "B8")):
        p = tmp_path / f"{name}.tif"
        with rasterio.open(p, "w", **profile) as dst:
            dst.write((data[i] * 10000).astype("float32"), 1)  # like Sentinel-2 L2A digital numbers
            dst.set_band_description(1, name)
        paths.append(p)
    ds = stack_from_files(
        paths, bands={"B2": "blue", "B4": "red", 4: "nir"}, product_level="surface", scale=0.0001, nodata=0
    )
    assert list(group(ds, "optical")["band"].values) == ["blue", "red", "nir"]  # model order, B3 dropped
    np.testing.assert_allclose(
        group(ds, "optical").sel(band="nir").values, np.where(data[3] == 0, np.nan, data[3]), rtol=1e-5
    )
    assert ds.attrs["product_level"] == "surface" and "dem" not in ds


def test_bad_files_and_names_say_what_to_fix(shared_data: Path, tmp_path: Path) -> None:
    img, dem = _clip_paths(shared_data)
    with pytest.raises(InputError, match="product_level one of toa, surface, dn8"):
        stack_from_files(img, bands="blue green red nir swir1 -")
    with pytest.raises(InputError, match="6 band.*3 band name"):
        stack_from_files(img, bands="red green blue", product_level="toa")
    with pytest.raises(UnknownNameError, match="infrared"):
        stack_from_files(img, bands="blue green red infrared swir1 -", product_level="toa")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        stack_from_files(tmp_path / "nope.tif", bands="red", product_level="toa")
    with pytest.raises(InputError, match="dem_band"):
        stack_from_files(dem=dem, dem_band=2)


def test_picker_files_run_through_the_model(shared_data: Path) -> None:
    pytest.importorskip("ipywidgets")
    from glacierlab.weights import shipped_checkpoint_path
    from glacierlab_widgets import ModelRunner, RegionPicker

    d = shared_data / "everest_landsat7_exploradores_aster"
    picker = RegionPicker("everest")
    rgb, nir = d / "LE71400412000304SGS00_RGB_test.tif", d / "LE71400412000304SGS00_B4_test.tif"
    picker.optical_files.value = f"{rgb}, {nir}"
    picker.band_names.value = "red, green, blue, nir"
    picker.product_level.value = "dn8"
    picker.dem_file.value = str(shared_data / "khumbu_dems_sentinel2/hma-khumbu.tif")
    picker.files_button.click()
    assert picker.error is None, picker.message
    assert picker.selection.files is not None and "your files" in picker.message
    runner = ModelRunner(picker, checkpoint=str(shipped_checkpoint_path()), background=False)
    runner.run_button.click()
    assert runner.error is None, runner.message
    assert runner.result["probability"].shape == (167, 193) and "done" in runner.message
    picker.band_names.value = "red, green"
    picker.files_button.click()
    assert isinstance(picker.error, InputError) and "4 band(s)" in picker.message
