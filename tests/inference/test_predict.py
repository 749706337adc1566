from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from glacierlab.contract.calibration import Calibrator
from glacierlab.contract.confidence import confidence
from glacierlab.data.normalise import normalise_group
from glacierlab.errors import GridError, InputError, NoDataError, OutputExistsError, UnknownNameError
from glacierlab.geo import rio_transform
from glacierlab.inference.predict import predict_scene
from glacierlab.inference.runner import TTA_TRANSFORMS, StreamingMedian, forward_tf, inverse_tf
from glacierlab.inference.tiling import pad_to_window

BANDS = ["red", "green", "blue", "nir"]
STATS = {"optical": {"min": [0.0] * 4, "max": [255.0] * 4}}
EVEREST = "everest_landsat7_exploradores_aster"


class _Out(SimpleNamespace):
    logits: torch.Tensor


class PixelModel(nn.Module):
    """Per-pixel (1×1) model: its output at a pixel depends only on that pixel, so tiling is exact."""

    location_dim = 0

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Conv2d(channels, 2, 1)

    def forward(self, inputs: dict[str, torch.Tensor], location: torch.Tensor | None = None) -> _Out:
        return _Out(logits=self.head(torch.cat(list(inputs.values()), 1) * 4 - 2))


class LocationModel(PixelModel):
    location_dim = 4

    def forward(self, inputs: dict[str, torch.Tensor], location: torch.Tensor | None = None) -> _Out:
        assert location is not None and location.shape == (inputs["optical"].shape[0], 4)
        shift = torch.stack([torch.zeros_like(location[:, 0]), location.sum(1)], 1)  # glacier logit only
        return _Out(logits=super().forward(inputs).logits + shift[:, :, None, None])


class FailingModel(PixelModel):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, inputs: dict[str, torch.Tensor], location: torch.Tensor | None = None) -> _Out:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("simulated failure in the middle of the scene")
        return super().forward(inputs)


def _ckpt(model: nn.Module, calibration: dict | None = None) -> Any:
    from glacierlab.models.checkpoint import Checkpoint

    return Checkpoint(
        model=model,  # type: ignore[arg-type]
        variant="test",
        config=None,
        bands={"optical": BANDS},
        normalisation=STATS,
        calibration=calibration or {},
    )


def _glavitu_ckpt(tmp_path: Path, **overrides: Any) -> Any:
    from glacierlab.models import build_model, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = build_model("glavitu_tiny", input_groups={"optical": 4}, **overrides)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, model, bands={"optical": BANDS}, normalisation=STATS)
    return load_checkpoint(path)


@pytest.fixture(scope="module")
def scene(shared_data: Path) -> xr.Dataset:
    """The 167×193 px Landsat-7 Everest test crop: RGB + NIR as one named optical group."""
    import warnings

    import rioxarray

    d = shared_data / EVEREST
    with warnings.catch_warnings():  # rioxarray 0.19 uses affine's deprecated `*` when parsing coordinates
        warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
        rgb = rioxarray.open_rasterio(d / "LE71400412000304SGS00_RGB_test.tif").load()
        nir = rioxarray.open_rasterio(d / "LE71400412000304SGS00_B4_test.tif").load()
        transform = rgb.rio.transform()
    optical = xr.concat([rgb, nir], "band").astype("float32").assign_coords(band=BANDS)
    ds = xr.Dataset({"optical": optical.drop_vars("spatial_ref")}).rio.write_crs(rgb.rio.crs)
    return ds.rio.write_transform(transform)


@pytest.fixture(scope="module")
def tif_paths(shared_data: Path) -> list[Path]:
    d = shared_data / EVEREST
    return [d / "LE71400412000304SGS00_RGB_test.tif", d / "LE71400412000304SGS00_B4_test.tif"]


def _direct(model: nn.Module, scene: xr.Dataset, window: int, pad_mode: str = "reflect") -> np.ndarray:
    a = normalise_group(scene["optical"].values, STATS["optical"])
    x = torch.from_numpy(pad_to_window(a, window, pad_mode)[None])
    with torch.no_grad():
        p = torch.softmax(model.eval()({"optical": x}).logits.float(), 1)[0, 1].numpy()
    return p[: a.shape[1], : a.shape[2]]


def test_single_window_equals_direct_model_call(scene: xr.Dataset, tmp_path: Path) -> None:
    ckpt = _glavitu_ckpt(tmp_path)
    out = predict_scene(ckpt, scene, window=200, stride=100, device="cpu", progress=False)
    expected = _direct(ckpt.model, scene, 200)
    np.testing.assert_allclose(out["probability"].values, expected, atol=1e-5)
    assert out["probability"].shape == (167, 193) and out["probability"].dtype == np.float32
    np.testing.assert_array_equal(out["mask"].values, (expected > 0.5).astype(np.uint8))
    np.testing.assert_allclose(out["confidence"].values, confidence(expected), atol=1e-4)
    assert out.rio.crs == scene.rio.crs
    np.testing.assert_allclose(out["x"].values, scene["x"].values)
    np.testing.assert_allclose(out["y"].values, scene["y"].values)


@pytest.mark.parametrize(
    ("window", "stride", "crop"), [(64, 40, None), (48, 48, None), (64, 32, (50, 30)), (64, 17, (64, 70))]
)
def test_tiled_prediction_covers_every_pixel_exactly(
    scene: xr.Dataset, window: int, stride: int, crop: tuple[int, int] | None
) -> None:
    sub = scene if crop is None else scene.isel(y=slice(0, crop[0]), x=slice(0, crop[1]))
    model = PixelModel()
    out = predict_scene(
        _ckpt(model), sub, window=window, stride=stride, batch_size=3, device="cpu", progress=False
    )
    np.testing.assert_allclose(
        out["probability"].values, _direct(model, sub, max(sub.sizes.values())), atol=1e-6
    )


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
def test_scene_smaller_than_window(scene: xr.Dataset, tmp_path: Path, pad_mode: str) -> None:
    sub = scene.isel(y=slice(0, 37), x=slice(0, 21))
    ckpt = _glavitu_ckpt(tmp_path)
    out = predict_scene(ckpt, sub, window=64, stride=32, device="cpu", progress=False, pad_mode=pad_mode)
    np.testing.assert_allclose(out["probability"].values, _direct(ckpt.model, sub, 64, pad_mode), atol=1e-5)


def test_tta_inverse_transforms() -> None:
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    outs = {name: forward_tf(x, name) for name in TTA_TRANSFORMS}
    assert len({tuple(o.flatten().tolist()) for o in outs.values()}) == 8  # eight distinct transforms
    for name, y in outs.items():
        torch.testing.assert_close(inverse_tf(y, name), x)


def test_tta_with_an_equivariant_model_changes_nothing(scene: xr.Dataset) -> None:
    ckpt = _ckpt(PixelModel())
    plain = predict_scene(ckpt, scene, window=64, stride=40, device="cpu", progress=False)
    tta = predict_scene(ckpt, scene, window=64, stride=40, device="cpu", progress=False, tta=True)
    np.testing.assert_allclose(tta["probability"].values, plain["probability"].values, atol=1e-6)


class GradientModel(PixelModel):
    """A 3x3 model that sees the left-right and up-down gradient: flips and rotations change its output."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv2d(4, 2, 3, padding=1, bias=False)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.weight[1, :, 1, 2], self.head.weight[1, :, 1, 0] = 2.0, -2.0  # right minus left
            self.head.weight[1, :, 0, 1] = 1.0  # plus the pixel above


class Transformed(nn.Module):
    """``model`` seen through one TTA transform: inverse(model(forward(x)))."""

    location_dim = 0

    def __init__(self, model: nn.Module, name: str) -> None:
        super().__init__()
        self.model, self.name = model, name

    def forward(self, inputs: dict[str, torch.Tensor], location: torch.Tensor | None = None) -> _Out:
        out = self.model({g: forward_tf(t, self.name) for g, t in inputs.items()}).logits
        return _Out(logits=inverse_tf(out, self.name))


def test_tta_averages_the_eight_transforms_of_a_model_that_is_not_invariant(scene: xr.Dataset) -> None:
    sub = scene.isel(x=slice(0, 150), y=slice(0, 130))
    model = GradientModel()
    kw = {"window": 64, "stride": 40, "device": "cpu", "progress": False}
    plain = predict_scene(_ckpt(model), sub, **kw)["probability"].values
    tta = predict_scene(_ckpt(model), sub, tta=True, **kw)["probability"].values
    each = [predict_scene(_ckpt(Transformed(model, n)), sub, **kw)["probability"].values for n in TTA_TRANSFORMS]
    assert np.nanmax(np.abs(tta - plain)) > 0.05  # TTA ignored would fail here
    assert len({round(float(np.nanmean(e)), 6) for e in each}) > 1  # the transforms do differ
    np.testing.assert_allclose(tta, np.mean(each, axis=0), atol=1e-5)


def test_geotiff_paths_give_the_same_result_and_valid_cogs(
    scene: xr.Dataset, tif_paths: list[Path], tmp_path: Path
) -> None:
    import rasterio

    ckpt = _ckpt(PixelModel())
    mem = predict_scene(ckpt, scene, window=64, stride=32, device="cpu", progress=False, smoothing=3)
    out = predict_scene(
        ckpt,
        {"optical": tif_paths},
        window=64,
        stride=32,
        device="cpu",
        progress=False,
        smoothing=3,
        out_dir=tmp_path / "out",
        cog_blocksize=64,
    )
    for name in ("probability", "mask", "confidence"):
        np.testing.assert_array_equal(out[name].values, mem[name].values)
        with rasterio.open(tmp_path / "out" / f"{name}.tif") as src:
            assert src.profile["tiled"] and src.overviews(1), name
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert src.crs == scene.rio.crs and src.transform.almost_equals(rio_transform(scene))
            assert src.descriptions == (name,)
            assert src.dtypes[0] == ("uint8" if name == "mask" else "float32")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "confidence.tif",
        "mask.tif",
        "probability.tif",
    ]


def test_streaming_median_equals_whole_array_filter() -> None:
    from scipy.ndimage import median_filter

    rng = np.random.default_rng(0)
    labels = (rng.random((53, 17)) > 0.5).astype(np.uint8)
    for size in (3, 5):
        med, got = StreamingMedian(size), np.full_like(labels, 9)
        cuts = [0, 1, 2, 9, 20, 21, 40, 53]
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            start, rows, ok = med.push(labels[a:b], np.ones((b - a, 17), bool), last=b == 53)
            got[start : start + len(rows)] = rows
            assert ok.all()
        np.testing.assert_array_equal(got, median_filter(labels, size=size, mode="reflect"))


def test_smoothing_matches_scipy_on_the_whole_mask(scene: xr.Dataset) -> None:
    from scipy.ndimage import median_filter

    ckpt = _ckpt(PixelModel())
    out = predict_scene(ckpt, scene, window=48, stride=24, device="cpu", progress=False, smoothing=3)
    raw = (out["probability"].values > 0.5).astype(np.uint8)
    np.testing.assert_array_equal(out["mask"].values, median_filter(raw, size=3, mode="reflect"))


def test_nodata_pixels_become_output_nodata(scene: xr.Dataset) -> None:
    ds = scene.copy(deep=True)
    ds["optical"][:, 10:30, 20:50] = np.nan  # a hole in all bands
    ds["optical"][3, 100:110, 100:110] = np.nan  # NIR missing only
    ds["optical"][:, 140:, :] = np.nan  # whole windows of no data are skipped
    ckpt = _ckpt(PixelModel())
    out = predict_scene(ckpt, ds, window=64, stride=32, device="cpu", progress=False)
    hole = np.zeros((167, 193), bool)
    hole[10:30, 20:50] = hole[100:110, 100:110] = hole[140:, :] = True
    assert (
        np.isnan(out["probability"].values[hole]).all()
        and np.isfinite(out["probability"].values[~hole]).all()
    )
    assert (out["mask"].values[hole] == 255).all() and (out["mask"].values[~hole] <= 1).all()
    assert np.isnan(out["confidence"].values[hole]).all()
    partial = predict_scene(ckpt, ds, window=64, stride=32, device="cpu", progress=False, nodata="all")
    assert np.isfinite(
        partial["probability"].values[100:110, 100:110]
    ).all()  # NIR filled with 0, as the paper


def test_all_nodata_scene_raises_and_leaves_no_file(scene: xr.Dataset, tmp_path: Path) -> None:
    ds = scene.copy(deep=True)
    ds["optical"][:] = np.nan
    with pytest.raises(NoDataError, match="no valid pixels"):
        predict_scene(
            _ckpt(PixelModel()), ds, window=64, stride=32, device="cpu", progress=False, out_dir=tmp_path
        )
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(scene: xr.Dataset, tmp_path: Path) -> None:
    (tmp_path / "mask.tif").write_bytes(b"old")
    ckpt = _ckpt(PixelModel())
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        predict_scene(ckpt, scene, window=64, stride=32, device="cpu", progress=False, out_dir=tmp_path)
    assert (tmp_path / "mask.tif").read_bytes() == b"old" and not (tmp_path / "probability.tif").exists()
    out = predict_scene(
        ckpt, scene, window=64, stride=32, device="cpu", progress=False, out_dir=tmp_path, overwrite=True
    )
    assert out["mask"].shape == (167, 193) and (tmp_path / "mask.tif").stat().st_size > 3


def test_failure_mid_way_leaves_no_partial_file(
    scene: xr.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(RuntimeError, match="simulated"):
        predict_scene(
            _ckpt(FailingModel()),
            scene,
            window=64,
            stride=32,
            batch_size=2,
            device="cpu",
            progress=False,
            out_dir=tmp_path / "a",
        )
    assert not (tmp_path / "a").exists() or list((tmp_path / "a").iterdir()) == []

    import rasterio.shutil

    calls = []

    def broken_copy(src: Any, dst: Any, **kw: Any) -> None:
        calls.append(dst)
        if len(calls) == 2:  # the second COG fails half written, e.g. disk full
            Path(dst).write_bytes(b"partial")
            raise OSError("No space left on device")
        rasterio.shutil.copyfiles(src, dst)

    monkeypatch.setattr(rasterio.shutil, "copy", broken_copy)
    with pytest.raises(OSError, match="No space"):
        predict_scene(
            _ckpt(PixelModel()),
            scene,
            window=64,
            stride=32,
            device="cpu",
            progress=False,
            out_dir=tmp_path / "b",
        )
    assert list((tmp_path / "b").iterdir()) == []  # neither finished nor temporary files remain


def test_bad_inputs_raise_clear_errors(scene: xr.Dataset, tif_paths: list[Path], tmp_path: Path) -> None:
    ckpt = _ckpt(PixelModel())
    kw: dict[str, Any] = {"window": 64, "stride": 32, "device": "cpu", "progress": False}
    with pytest.raises(InputError, match="missing"):
        predict_scene(ckpt, {"dem": tif_paths[1]}, **kw)
    with pytest.raises(InputError, match="3 unnamed bands"):
        predict_scene(ckpt, {"optical": tif_paths[0]}, **kw)
    with pytest.raises(UnknownNameError, match="nir"):
        predict_scene(
            ckpt, {"optical": scene["optical"].assign_coords(band=["red", "green", "blue", "swir"])}, **kw
        )
    two = _ckpt(PixelModel(5))
    two.bands = {"optical": BANDS[:3], "extra": ["nir", "x"]}
    two.normalisation = {}
    other = scene["optical"].rio.write_crs("EPSG:32644")
    with pytest.raises(GridError, match="CRS"):
        predict_scene(
            two,
            {"optical": scene["optical"], "extra": other.isel(band=[3, 0]).assign_coords(band=["nir", "x"])},
            **kw,
        )
    with pytest.raises(GridError, match="px"):
        predict_scene(
            two,
            {
                "optical": scene["optical"],
                "extra": scene["optical"]
                .isel(band=[3, 0], y=slice(1, None))
                .assign_coords(band=["nir", "x"]),
            },
            **kw,
        )
    bad = scene.copy(deep=True)
    bad["optical"][0, 5, 5] = np.inf
    with pytest.raises(InputError, match="infinite"):
        predict_scene(ckpt, bad, **kw)
    with pytest.raises(InputError, match="location"):
        predict_scene(ckpt, scene, location=[1, 0, 0, 1], **kw)
    with pytest.raises(InputError, match="location"):
        predict_scene(_ckpt(LocationModel()), scene, **kw)


def test_location_vectors_reach_the_model(scene: xr.Dataset) -> None:
    ckpt = _ckpt(LocationModel())
    kw: dict[str, Any] = {"window": 64, "stride": 32, "device": "cpu", "progress": False}
    a = predict_scene(ckpt, scene, location="coordinates", **kw)
    b = predict_scene(ckpt, scene, location=[0.0, 0.0, 0.0, 0.0], **kw)
    assert np.isfinite(a["probability"].values).all()
    np.testing.assert_allclose(b["probability"].values, _direct(PixelModel(), scene, 193), atol=1e-6)
    assert not np.allclose(a["probability"].values, b["probability"].values)


def test_calibration_is_applied_to_confidence(scene: xr.Dataset) -> None:
    cal = Calibrator("temperature", "maxprob", {"temperature": np.asarray(2.0)})
    ckpt = _ckpt(PixelModel(), calibration=cal.to_arrays())
    kw: dict[str, Any] = {"window": 64, "stride": 32, "device": "cpu", "progress": False}
    out = predict_scene(ckpt, scene, **kw)  # "auto" uses the checkpoint's calibrator
    p = out["probability"].values
    np.testing.assert_allclose(out["confidence"].values, cal(confidence(p, "maxprob")), atol=1e-6)
    raw = predict_scene(ckpt, scene, calibration=None, **kw)
    np.testing.assert_allclose(raw["confidence"].values, confidence(p), atol=1e-6)


def test_mc_dropout_gives_an_uncertainty_layer(scene: xr.Dataset, tmp_path: Path) -> None:
    ckpt = _glavitu_ckpt(tmp_path, dropout=0.2)
    sub = scene.isel(y=slice(0, 64), x=slice(0, 64))
    kw: dict[str, Any] = {"window": 64, "stride": 32, "device": "cpu", "progress": False}
    a = predict_scene(ckpt, sub, **kw)
    b = predict_scene(ckpt, sub, **kw)
    np.testing.assert_array_equal(a["probability"].values, b["probability"].values)  # dropout off by default
    assert "uncertainty" not in a
    mc = predict_scene(ckpt, sub, mc_samples=4, **kw)
    u = mc["uncertainty"].values
    assert u.dtype == np.float32 and np.isfinite(u).all() and u.max() > 0
    after = predict_scene(ckpt, sub, **kw)  # MC dropout switched off again afterwards
    np.testing.assert_array_equal(after["probability"].values, a["probability"].values)


def test_callback_reports_progress_and_can_stop_the_run(tmp_path) -> None:
    import numpy as np
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    from glacierlab.inference.predict import predict_scene
    from glacierlab.models import build_model, save_checkpoint

    model = build_model("glavitu_tiny", input_groups={"optical": 1})
    ck = tmp_path / "m.safetensors"
    save_checkpoint(
        ck, model, bands={"optical": ["nir"]}, normalisation={"optical": {"min": [0], "max": [1]}}
    )
    da = xr.DataArray(
        np.random.default_rng(0).random((1, 96, 96), dtype=np.float32),
        dims=("band", "y", "x"),
        coords={"band": ["nir"], "y": np.arange(96.0)[::-1] * 30, "x": np.arange(96.0) * 30},
    )
    da = da.rio.write_crs(32645)
    seen: list[tuple[int, int]] = []
    predict_scene(
        ck,
        {"optical": da},
        window=32,
        stride=16,
        batch_size=5,
        progress=False,
        callback=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1][0] == seen[-1][1] == 25 and [d for d, _ in seen] == sorted(d for d, _ in seen)

    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        predict_scene(
            ck, {"optical": da}, window=32, stride=16, progress=False, out_dir=tmp_path / "o", callback=stop
        )
    assert not any((tmp_path / "o").glob("*.tif")), "a stopped run must leave no output file"


def _paper_reference(model: nn.Module, scene: xr.Dataset, window: int, stride: int) -> np.ndarray:
    """The authors' deploy.py written plainly on the whole scene: centred zero padding after scaling,
    windows every ``stride`` from the padded origin where a whole window fits, Gaussian blend, crop."""
    from glacierlab.inference.tiling import gaussian_weights

    a = normalise_group(scene["optical"].values, STATS["optical"])
    h, w = a.shape[1:]
    ph, pw = window * (h // window + 1), window * (w // window + 1)
    top, left = (ph - h) // 2, (pw - w) // 2
    padded = np.zeros((a.shape[0], ph, pw), np.float32)
    padded[:, top : top + h, left : left + w] = a
    acc, wsum = np.zeros((ph, pw)), np.zeros((ph, pw))
    g = gaussian_weights(window)
    with torch.no_grad():
        for r in range(0, ph - window + 1, stride):
            for c in range(0, pw - window + 1, stride):
                x = torch.from_numpy(padded[None, :, r : r + window, c : c + window].copy())
                p = torch.softmax(model.eval()({"optical": x}).logits.float(), 1)[0, 1].numpy()
                acc[r : r + window, c : c + window] += p * g
                wsum[r : r + window, c : c + window] += g
    return (acc / wsum)[top : top + h, left : left + w]


@pytest.mark.parametrize(("window", "stride"), [(64, 32), (96, 48), (64, 64)])
def test_paper_tiling_equals_the_authors_deploy_path(
    scene: xr.Dataset, tmp_path: Path, window: int, stride: int
) -> None:
    ckpt = _glavitu_ckpt(tmp_path)
    out = predict_scene(
        ckpt, scene, tiling="paper", window=window, stride=stride, nodata="all", device="cpu", progress=False
    )
    expected = _paper_reference(ckpt.model, scene, window, stride)
    np.testing.assert_allclose(out["probability"].values, expected, atol=2e-5)
    assert (out["mask"].values != 255).all() and out.attrs["pixels_nodata_input"] == 0
    edge = predict_scene(ckpt, scene, window=window, stride=stride, nodata="all", device="cpu", progress=False)
    assert np.abs(edge["probability"].values - expected).max() > 1e-3  # the two grids really differ


def test_options_stored_in_the_checkpoint_are_the_defaults(scene: xr.Dataset, tmp_path: Path) -> None:
    from glacierlab.contract.options import PredictOptions
    from glacierlab.models import build_model, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = build_model("glavitu_tiny", input_groups={"optical": 4})
    opts = PredictOptions(window=48, stride=24, tiling="paper", nodata="all", smoothing=3)
    path = save_checkpoint(
        tmp_path / "o.safetensors", model, bands={"optical": BANDS}, normalisation=STATS, options=opts
    )
    ckpt = load_checkpoint(path)
    assert ckpt.options == opts
    stored = predict_scene(ckpt, scene, device="cpu", progress=False)
    explicit = predict_scene(
        ckpt, scene, PredictOptions(), window=48, stride=24, tiling="paper", nodata="all", smoothing=3,
        device="cpu", progress=False,
    )
    np.testing.assert_array_equal(stored["mask"].values, explicit["mask"].values)
    np.testing.assert_allclose(stored["probability"].values, explicit["probability"].values, atol=1e-6)
    assert '"tiling": "paper"' in stored.attrs["options"] and '"window": 48' in stored.attrs["options"]
    other = predict_scene(ckpt, scene, window=64, device="cpu", progress=False)  # one field overridden
    assert '"window": 64' in other.attrs["options"] and '"stride": 24' in other.attrs["options"]
    with pytest.raises(UnknownNameError, match="stride"):
        predict_scene(ckpt, scene, strid=8, device="cpu", progress=False)
