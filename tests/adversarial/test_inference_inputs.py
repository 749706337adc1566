"""Adversarial inputs to prediction (issue 12 items owned by predict): wrong value scales, wrong product
levels, undeclared nodata values and NaN model output must never give a plausible-looking map silently.

Every case either refuses with an :class:`InputError` that names the fix, or maps with a
:class:`GlacierLabWarning` and marks what could not be computed as no data (mask 255, never 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers .rio)
import torch
import xarray as xr
from rasterio.transform import from_origin

from glacierlab.errors import GlacierLabWarning, InputError
from glacierlab.inference.predict import predict_scene
from glacierlab.vocabulary import NODATA

BANDS = ["blue", "green", "red", "nir"]
KW: dict[str, Any] = {"window": 32, "stride": 16, "device": "cpu", "progress": False}


def _checkpoint(tmp_path: Path, lo: float, hi: float, level: str | None, name: str = "m") -> Path:
    from glacierlab.models import build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model("glavitu_tiny", input_groups={"optical": 4})
    return save_checkpoint(
        tmp_path / f"{name}.safetensors",
        model,
        bands={"optical": BANDS},
        normalisation={"optical": {"min": [lo] * 4, "max": [hi] * 4}},
        inputs={"optical": {"product_level": level}} if level else None,
    )


def _scene(values: np.ndarray, level: str | None = None) -> xr.Dataset:
    da = xr.DataArray(
        values.astype(np.float32),
        dims=("band", "y", "x"),
        coords={
            "band": BANDS,
            "y": 3_100_000 - 30 * np.arange(values.shape[1]),
            "x": 400_000 + 30 * np.arange(values.shape[2]),
        },
    )
    if level:
        da.attrs["product_level"] = level
    return xr.Dataset({"optical": da}).rio.write_crs("EPSG:32645")


def _reflectance(seed: int = 0, shape: tuple[int, int] = (48, 40)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.02, 0.9, (4, *shape))


def _geotiff(path: Path, values: np.ndarray, dtype: str, nodata: float | None = None) -> Path:
    with rasterio.open(
        path, "w", driver="GTiff", height=values.shape[1], width=values.shape[2], count=values.shape[0],
        dtype=dtype, crs="EPSG:32645", transform=from_origin(400_000, 3_100_000, 30, 30), nodata=nodata,
    ) as dst:
        dst.write(values.astype(dtype))
        for i, b in enumerate(BANDS, 1):
            dst.set_band_description(i, b)
    return path


# --- value scale against the checkpoint's normalisation statistics ------------------------------------
def test_uint16_scaled_reflectance_into_a_0_1_model_is_refused(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, -0.02, 2.0, "toa")
    tif = _geotiff(tmp_path / "s2_l1c.tif", _reflectance() * 10_000, "uint16")
    with pytest.raises(InputError, match=r"scaled integers.*reflectance in 0-1.*divide the values by 10000"):
        predict_scene(ckpt, {"optical": tif}, out_dir=tmp_path / "out", **KW)
    assert not (tmp_path / "out" / "mask.tif").exists()


def test_reflectance_into_an_8bit_model_is_refused_and_the_reverse(tmp_path: Path) -> None:
    dn_model = _checkpoint(tmp_path, 0.0, 255.0, "dn8", "dn")
    with pytest.raises(InputError, match="8-bit display values"):
        predict_scene(dn_model, _scene(_reflectance()), **KW)  # 0-1 floats, level not declared
    refl_model = _checkpoint(tmp_path, -0.02, 2.0, "toa", "refl")
    with pytest.raises(InputError, match=r"8-bit digital numbers.*not reflectance.*L1C"):
        predict_scene(refl_model, _scene(np.round(_reflectance() * 255)), **KW)  # DN, not declared
    with pytest.raises(InputError, match=r"digital numbers.*not reflectance"):
        predict_scene(refl_model, _scene(np.round(_reflectance() * 255), "dn8"), **KW)  # DN, declared
    uint16_into_dn = _scene(_reflectance() * 10_000)
    with pytest.raises(InputError, match="scaled integers"):
        predict_scene(dn_model, uint16_into_dn, **KW)
    ok = predict_scene(refl_model, _scene(_reflectance(), "toa"), **KW)  # the right scale maps quietly
    assert (ok["mask"].values != NODATA).all()


def test_a_declared_dn_stack_into_a_reflectance_model_says_how_to_load_reflectance(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, -0.02, 2.0, "toa")
    with pytest.raises(InputError, match="product_level"):  # the escape hatch is named
        predict_scene(ckpt, _scene(_reflectance(), "dn8"), **KW)  # declared DN although values look 0-1


# --- product level --------------------------------------------------------------------------------------
def test_l2a_into_a_toa_model_warns_and_says_how_to_load_l1c(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, -0.02, 2.0, "toa")
    with pytest.warns(GlacierLabWarning, match=r"surface reflectance.*L1C.*product_level='toa'"):
        out = predict_scene(ckpt, _scene(_reflectance(), "surface"), **KW)
    assert np.isfinite(out["probability"].values).all()  # still mapped, with the warning
    with pytest.warns(GlacierLabWarning, match="top-of-atmosphere"):
        predict_scene(ckpt, _scene(_reflectance(), "surface"), product_level="surface", **KW)
    predict_scene(ckpt, _scene(_reflectance(), "surface"), product_level="toa", **KW)  # declared: no warning


def test_geotiff_product_level_tag_is_read(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, -0.02, 2.0, "toa")
    tif = _geotiff(tmp_path / "l2a.tif", _reflectance(), "float32")
    with rasterio.open(tif, "r+") as ds:
        ds.update_tags(PRODUCT_LEVEL="surface")
    with pytest.warns(GlacierLabWarning, match="surface reflectance"):
        predict_scene(ckpt, {"optical": tif}, **KW)


# --- undeclared nodata and NaN model output ------------------------------------------------------------
def test_undeclared_float32_nodata_comes_out_as_nodata_and_is_counted(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, -0.02, 2.0, "toa")
    values = _reflectance()
    values[:, 10:20, 5:15] = np.float32(-3.4028235e38)  # the GeoTIFF declares no nodata value
    tif = _geotiff(tmp_path / "gaps.tif", values, "float32")
    with pytest.warns(GlacierLabWarning, match=r"100 pixels.*-3\.4e38.*no data"):
        out = predict_scene(ckpt, {"optical": tif}, out_dir=tmp_path / "out", **KW)
    mask = out["mask"].values
    assert (mask[10:20, 5:15] == NODATA).all(), "undeclared nodata must not be mapped (as ice-free or glacier)"
    assert np.isnan(out["probability"].values[10:20, 5:15]).all()
    assert (mask != NODATA).sum() == 48 * 40 - 100
    assert out.attrs["pixels_sentinel"] == 100 and out.attrs["pixels_nodata_input"] == 100
    with rasterio.open(tmp_path / "out" / "mask.tif") as f:
        assert f.tags()["pixels_sentinel"] == "100" and (f.read(1)[10:20, 5:15] == NODATA).all()


def test_nan_weights_give_nodata_not_ice_free(tmp_path: Path) -> None:
    from glacierlab.models import load_checkpoint

    ckpt = load_checkpoint(_checkpoint(tmp_path, -0.02, 2.0, "toa"))
    with torch.no_grad():
        next(iter(ckpt.model.parameters())).fill_(float("nan"))
    with pytest.warns(GlacierLabWarning, match=r"NaN/inf for 1920 of 1920 pixels.*not as ice-free"):
        out = predict_scene(ckpt, _scene(_reflectance(), "toa"), out_dir=tmp_path / "out", **KW)
    assert (out["mask"].values == NODATA).all() and not (out["mask"].values == 0).any()
    assert out.attrs["pixels_nodata_model"] == 1920 and out.attrs["pixels_glacier"] == 0
    assert np.isnan(out["confidence"].values).all()


class _NaNWhereBright(torch.nn.Module):
    """A model that returns NaN logits where the (normalised) blue band exceeds 0.3, finite elsewhere."""

    location_dim = 0

    def forward(self, inputs: dict[str, torch.Tensor], location: torch.Tensor | None = None) -> Any:
        from types import SimpleNamespace

        x = inputs["optical"]
        logit = x[:, :1] - 0.2
        logit = torch.where(x[:, :1] > 0.3, torch.full_like(logit, float("nan")), logit)
        return SimpleNamespace(logits=torch.cat([torch.zeros_like(logit), logit], 1))


def test_partial_nan_output_is_nodata_and_counted() -> None:
    from glacierlab.models.checkpoint import Checkpoint

    ckpt = Checkpoint(
        model=_NaNWhereBright(), bands={"optical": BANDS}, calibration={}, variant="test", config=None,  # type: ignore[arg-type]
        normalisation={"optical": {"min": [0.0] * 4, "max": [1.0] * 4}},
    )
    values = _reflectance(1)
    bright = values[0] > 0.3  # NaN wherever any window covering the pixel saw NaN there: the pixel itself
    with pytest.warns(GlacierLabWarning, match="NaN/inf"):
        out = predict_scene(ckpt, _scene(values), **KW)
    mask = out["mask"].values
    assert (mask[bright] == NODATA).all() and (mask[~bright] != NODATA).all()
    assert out.attrs["pixels_nodata_model"] == int(bright.sum())


def test_one_product_level_rule_for_the_scene_check_and_the_catalog_check() -> None:
    from types import SimpleNamespace

    from glacierlab.inference.checks import level_fit
    from glacierlab.inference.compat import product_level_problem

    assert level_fit("dn8", "toa") == level_fit("toa", "dn8") == "refuse"
    assert level_fit("toa", "surface") == "may bias" and level_fit("reflectance", "toa") == "may bias"
    assert level_fit("toa", "toa") == level_fit(None, "dn8") == level_fit("dn8", "") == "fits"
    from glacierlab.contract.record import TrainingRecord

    inputs = {"optical": {"product_level": "dn8"}}
    dn8 = SimpleNamespace(metadata={"inputs": inputs}, inputs=inputs, record=TrainingRecord(), normalisation={})
    for scene in ("dn8", "toa", "surface", ""):  # the catalog check refuses exactly what the rule refuses
        assert bool(product_level_problem(dn8, scene)) == (level_fit("dn8", scene) == "refuse")
