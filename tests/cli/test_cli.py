from pathlib import Path

import numpy as np
import pytest

from glacierlab.cli import main


def test_regions_lists_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regions"]) == 0
    out = capsys.readouterr().out
    assert "everest" in out and "hochalmkees" in out


def test_unknown_region_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch", "everst"]) == 2
    err = capsys.readouterr().err
    assert "unknown region 'everst'" in err and "Did you mean 'everest'" in err


def test_fetch_seeds_every_file_of_a_region(capsys: pytest.CaptureFixture[str], shared_data: Path) -> None:
    assert main(["fetch", "hintereisferner"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") >= 2 and "hef_srtm" in out


@pytest.mark.slow
def test_demo_runs_the_report_and_keeps_finished_work(tmp_path: Path, shared_data: Path) -> None:
    """The demo is the regional report; hochalmkees keeps this fast (everest runs in test_notebooks)."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--region", "hochalmkees"]) == 0
    html = (out / "hochalmkees" / "report.html").read_text()
    assert "Hochalmkees" in html and "data:image/png;base64" in html
    assert "hochalmkees" in (out / "index.html").read_text()
    before = (out / "hochalmkees" / "report.html").stat().st_mtime_ns
    assert main(["demo", "--out", str(out), "--region", "hochalmkees"]) == 0
    assert (out / "hochalmkees" / "report.html").stat().st_mtime_ns == before, "finished work must be kept"
    assert main(["demo", "--out", str(out), "--region", "nowhere"]) == 1


def test_import_keras_cli(tmp_path: Path, shared_fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h5 = shared_fixtures / "keras_glavitu" / "glavitu_global_random_weights.h5"
    out = tmp_path / "global.safetensors"
    assert main(["import-keras", str(h5), str(out)]) == 0
    from glacierlab.models import load_checkpoint

    ck = load_checkpoint(out)
    assert ck.variant == "glavitu" and list(ck.bands) == ["optical", "dem"]
    assert main(["import-keras", str(h5), str(out)]) == 2
    assert "overwrite" in capsys.readouterr().err


def _named_optical(tmp_path: Path, shared_data: Path) -> tuple[Path, dict, np.ndarray]:
    """The Everest Landsat test clip as one float32 GeoTIFF with band names blue, green, red, nir."""
    import rasterio

    d = shared_data / "everest_landsat7_exploradores_aster"
    named = tmp_path / "optical.tif"
    with rasterio.open(d / "LE71400412000304SGS00_RGB_test.tif") as rgb, rasterio.open(
        d / "LE71400412000304SGS00_B4_test.tif"
    ) as nir:
        prof = rgb.profile | {"count": 4, "dtype": "float32"}
        data = np.concatenate([rgb.read()[::-1], nir.read()]).astype("float32")  # blue, green, red, nir
    with rasterio.open(named, "w", **prof) as dst:
        dst.write(data)
        for i, b in enumerate(["blue", "green", "red", "nir"], 1):
            dst.set_band_description(i, b)
    return named, prof, data


def test_predict_cli_on_user_geotiffs_uses_the_stored_options(
    tmp_path: Path, tiny_checkpoint: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import rasterio

    out = tmp_path / "pred"
    named, prof, data = _named_optical(tmp_path, shared_data)
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", **(prof | {"count": 2})) as dst:
        dst.write(np.stack([data[0] * 20, data[1] / 10]))
        dst.set_band_description(1, "elevation")
        dst.set_band_description(2, "slope")
    code = main(["predict", str(tiny_checkpoint), "--optical", str(named), "--dem", str(dem), "--out", str(out),
                 "--window", "64", "--stride", "32", "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "window=64" in text and "stride=32" in text and "pixels: " in text
    for name in ("probability", "mask", "confidence"):
        assert (out / f"{name}.tif").is_file()
    assert main(["predict", str(tiny_checkpoint), "--optical", str(named), "--dem", str(dem), "--out", str(out),
                 "--quiet"]) == 2  # outputs exist
    assert "overwrite" in capsys.readouterr().err
    # int8 is experimental: not on offer
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(tiny_checkpoint), "--optical", str(named), "--dem", str(dem), "--out",
              str(tmp_path / "int8"), "--precision", "int8", "--quiet"])
    assert exit_info.value.code == 2 and "invalid choice: 'int8'" in capsys.readouterr().err


def test_weights_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "glavitu_global" in out and "glavitu_regionencoding" in out and "glavitu_lite_everest" in out
    assert main(["weights", "info", "glavitu_finetuning_HMA"]) == 0
    out = capsys.readouterr().out
    assert "1hNRFR55MtkQjSH4ZRBcfswPNXnhafQ6i" in out and "glacierlab weights import glavitu_finetuning_HMA" in out
    assert main(["weights", "info", "glavitu_global", "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert info["statistics_values"]["dem"]["max"][0] == pytest.approx(8349.427068840781)
    assert main(["weights", "info", "glavitu_globl"]) == 2
    assert "Did you mean 'glavitu_global'" in capsys.readouterr().err
    from glacierlab.weights import shipped_checkpoint_path

    card = tmp_path / "card.json"
    assert main(["weights", "card", str(shipped_checkpoint_path()), "--json", str(card)]) == 0
    assert json.loads(card.read_text())["properties"]["mlm:name"] == "glavitu_lite_everest"


def test_predict_cli_derives_slope_from_a_one_band_dem(
    tmp_path: Path, tiny_checkpoint: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The checkpoint wants elevation + slope, the user has a one-band DEM: slope as the notebooks make it."""
    import rasterio

    from glacierlab.data.rasters import open_raster
    from glacierlab.data.stack import dem_with_slope, stack_region

    named, prof, data = _named_optical(tmp_path, shared_data)
    elev = tmp_path / "elevation.tif"
    with rasterio.open(elev, "w", **(prof | {"count": 1})) as dst:
        dst.write((data[0] * 20)[None])
    out = tmp_path / "pred"
    assert main(["predict", str(tiny_checkpoint), "--optical", str(named), "--dem", str(elev), "--out", str(out),
                 "--window", "64", "--stride", "32", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "has one band, read as elevation" in text and "derived from it in degrees" in text
    assert (out / "mask.tif").is_file()
    # the same slope a catalog stack carries
    stack = stack_region("everest", bbox=(86.80, 27.95, 86.86, 28.00))
    mine = dem_with_slope(stack["dem"].sel(dem_band="elevation", drop=True).rio.write_crs(stack.rio.crs))
    np.testing.assert_allclose(mine.sel(band="slope").values, stack["dem"].sel(dem_band="slope").values, atol=1e-4)
    assert float(dem_with_slope(open_raster(elev)).sel(band="slope").max()) > 1
