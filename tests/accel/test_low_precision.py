"""Low-precision CPU paths: the int8 residual U-Net and the bf16 copy track the float model, say what they
are in the outputs, and on the shipped model's Everest map meet (or are reported against) the issue-18
targets."""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from glacierlab.accel.bfloat16 import bfloat16_for_cpu
from glacierlab.accel.fuse import fuse_for_inference
from glacierlab.accel.packed import onednn_bf16_supported, packing_available
from glacierlab.accel.qlayers import phase_kernel
from glacierlab.accel.quantize import ENGINES, quantize_for_cpu, window_agreement
from glacierlab.accel.rewrites import autocast_safe, bf16_exact
from glacierlab.errors import ConfigError, GlacierLabWarning, InputError
from glacierlab.models import build_model, region_vector
from glacierlab.models.layers import UpConv

pytestmark = pytest.mark.skipif(
    torch.backends.quantized.engine not in ENGINES or not packing_available(),
    reason=f"needs an x86 quantized engine {ENGINES} and oneDNN (torch.ops.mkldnn)",
)
BF16 = onednn_bf16_supported()
needs_bf16 = pytest.mark.skipif(not BF16, reason="needs oneDNN bf16 support (torch.ops.mkldnn, x86-64 AVX-512)")


def _batches(groups: dict[str, int], n: int, size: int, seed: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [{k: torch.rand(2, c, size, size, generator=g) for k, c in groups.items()} for _ in range(n)]


def _model(**overrides: object) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("glavitu_tiny", fusion_filters=16, resunet_filters=16, **overrides)
    model.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for b in _batches(model.input_groups, 3, 32, 9):
            model(b, region_vector("ALP").expand(2, -1) if model.location_dim else None)
    return model.eval()


def test_phase_kernel_is_the_literal_up_conv() -> None:
    up = UpConv(6, 5).eval()
    torch.nn.init.normal_(up.conv.weight)
    x = torch.randn(2, 6, 7, 9)
    literal = F.conv2d(F.pad(F.interpolate(x, scale_factor=2.0, mode="nearest"), (0, 1, 0, 1)), up.conv.weight)
    phases = F.conv2d(x, phase_kernel(up.conv.weight), padding=1)[:, :, 1:, 1:]
    assert torch.allclose(F.pixel_shuffle(phases, 2), literal, atol=1e-5)


def test_int8_copy_tracks_the_float_model_and_says_it_is_int8() -> None:
    model = _model(location="region")
    loc = region_vector("ALP")
    cal = [(b, loc) for b in _batches(model.input_groups, 4, 32, 1)]
    q = quantize_for_cpu(model, cal)
    assert q.precision == "int8" and q.quantization["int8_parts"] == ["resunet"]
    assert q.quantization["calibration_windows"] == 8 and q.quantization["engine"] in ENGINES
    assert getattr(model, "precision", "float32") == "float32"  # the float model is untouched
    held_out = [(b, loc) for b in _batches(model.input_groups, 3, 32, 2)]
    # the int8 U-Net reproduces the float U-Net's output up to quantization error
    folded = fuse_for_inference(model)
    with torch.inference_mode():
        x = folded.forward_parts(*held_out[0])["e1"]  # the U-Net's input on a held-out window
        ref, got = folded.resunet(x), q.resunet(x)
    assert float((got - ref).pow(2).mean().sqrt()) < 0.1 * float(ref.std())
    stats = window_agreement(model, q, held_out)
    assert stats["pixels"] == 3 * 2 * 32 * 32
    assert stats["agreement"] > 0.9 and stats["mean_abs_probability_difference"] < 0.05
    same = window_agreement(model, model, held_out)
    assert same["agreement"] == 1.0 and same["max_abs_probability_difference"] == 0.0


def test_quantize_refuses_what_it_cannot_do(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model()
    cal = _batches(model.input_groups, 1, 32, 1)
    with pytest.raises(ConfigError, match="GlaViTU"):
        quantize_for_cpu(build_model("resunet", resunet_filters=8, fusion_filters=8), cal)
    with pytest.raises(ConfigError, match="float32"):
        quantize_for_cpu(_model().double(), cal)
    with pytest.raises(InputError, match="at least one calibration window"):
        quantize_for_cpu(model, [])
    with pytest.raises(InputError, match="mappings group -> tensor"):
        quantize_for_cpu(model, [torch.rand(1, 8, 32, 32)])  # type: ignore[list-item]
    other = [e for e in torch.backends.quantized.supported_engines if e not in (*ENGINES, "none")]
    if other:  # e.g. qnnpack (ARM): int8 is only offered with the x86 engines
        monkeypatch.setattr(torch.backends.quantized, "engine", other[0])
        with pytest.raises(ConfigError, match="quantized engines"):
            quantize_for_cpu(model, cal)


@needs_bf16
def test_bf16_convolutions_oneDNN_gets_wrong_stay_float32() -> None:
    """torch 2.13's CPU bf16 patch embedding (kernel = stride 16, 16 channels) is wrong; autocast_safe avoids it."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 64, 16, stride=16)
    x = torch.randn(2, 16, 96, 96)
    assert not bf16_exact(conv) and bf16_exact(torch.nn.Conv2d(16, 64, 3, padding=1))
    assert bf16_exact(torch.nn.Conv2d(64, 64, 16, stride=16))
    model = build_model("glavitu_lite", input_groups={"optical": 4, "dem": 2}).eval()
    keys = list(model.state_dict())
    model = autocast_safe(model)
    assert list(model.state_dict()) == keys  # the same parameters under the same names
    batch = {k: torch.rand(2, c, 96, 96) for k, c in model.input_groups.items()}
    with torch.inference_mode():
        ref = model.vit.embed(x[:, : model.vit.patch_embedding.in_channels])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = model.vit.embed(x[:, : model.vit.patch_embedding.in_channels])
            low = model(batch).logits.float()
        full = model(batch).logits
    assert got.dtype == torch.float32 and torch.allclose(got, ref, atol=1e-5)
    assert float((low - full).abs().mean() / full.abs().mean()) < 0.05  # whole model under autocast


@needs_bf16
def test_bf16_copy_tracks_the_float_model_and_says_it_is_bf16() -> None:
    model = _model(location="region")
    loc = region_vector("ALP")
    held_out = [(b, loc) for b in _batches(model.input_groups, 3, 32, 2)]
    low = bfloat16_for_cpu(model)
    assert low.precision == "bfloat16" and getattr(model, "precision", "float32") == "float32"
    assert {"head", "vit"} <= set(low.record["float32_parts"]) and low.record["packed"]
    with torch.inference_mode():
        out, ref = low(*held_out[0]), model(*held_out[0])
    assert out.logits.dtype == torch.float32 and out.logits.shape == ref.logits.shape
    assert out.aux_logits is None  # the training-only deep-supervision head is skipped
    assert float((out.logits - ref.logits).abs().mean()) < 0.03 * float(ref.logits.abs().mean())
    stats = window_agreement(model, low, held_out)
    assert stats["agreement"] > 0.99 and stats["mean_abs_probability_difference"] < 0.01
    with pytest.raises(ConfigError, match="float32 model"):
        bfloat16_for_cpu(copy.deepcopy(model).to(torch.bfloat16))


@pytest.mark.parametrize("precision", ["int8", pytest.param("bfloat16", marks=needs_bf16)])
def test_predict_with_a_low_precision_copy_tags_its_outputs(
    precision: str, tmp_path: Path, tiny_checkpoint: Path
) -> None:
    """Never silent: the written COGs say which arithmetic made the map and how it compared on held-out windows."""
    import rasterio

    from glacierlab.inference.predict import predict_scene
    from glacierlab.models import load_checkpoint

    ckpt = load_checkpoint(tiny_checkpoint)
    inputs = _scene(ckpt, 80, 96)
    kw = {"window": 32, "stride": 16, "device": "cpu", "progress": False, "check": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GlacierLabWarning)  # the untrained tiny model is far from 99.5 %
        out = predict_scene(ckpt, inputs, out_dir=tmp_path, precision=precision, **kw)
    record = json.loads(out.attrs["precision_check"])
    assert out.attrs["precision"] == precision and 0 < record["window_agreement"] <= 1
    assert record["check_windows"] >= 1
    with rasterio.open(tmp_path / "mask.tif") as src:
        assert src.tags()["precision"] == precision and json.loads(src.tags()["precision_check"]) == record
    assert ("int8_parts" in record) == (precision == "int8") and ("kernels" in record) == (precision == "bfloat16")


@needs_bf16
def test_bf16_on_a_cpu_without_bf16_instructions_warns_that_it_is_slower(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import glacierlab.accel.bfloat16 as bf16
    from glacierlab.inference.predict import predict_scene
    from glacierlab.models import load_checkpoint

    slow = (False, "no native bf16 instructions (AVX512-BF16 or AMX): about 4x slower than float32")
    monkeypatch.setattr(bf16, "cpu_bf16_support", lambda: slow)
    ckpt = load_checkpoint(tiny_checkpoint)
    kw = {"window": 32, "stride": 16, "device": "cpu", "progress": False, "check": False}
    with pytest.warns(GlacierLabWarning, match="4x slower than float32.*precision='float32'"):
        predict_scene(ckpt, _scene(ckpt, 64, 64), precision="bfloat16", **kw)


def test_predict_with_the_int8_model_tags_its_outputs(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """Never silent: the written COGs say whether the map came from int8 or float32."""
    import rasterio

    from glacierlab.inference.predict import predict_scene
    from glacierlab.inference.sampling import sample_windows
    from glacierlab.models import load_checkpoint

    ckpt = load_checkpoint(tiny_checkpoint)
    inputs = _scene(ckpt, 80, 96)
    cal = sample_windows(ckpt, inputs, window=32, stride=16, count=6)
    assert sum(len(next(iter(b.values()))) for b in cal) == 6
    kw = {"window": 32, "stride": 16, "device": "cpu", "progress": False, "check": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GlacierLabWarning)  # the untrained tiny model is far from 99.5 %
        out = predict_scene(ckpt, inputs, out_dir=tmp_path, precision="int8", **kw)
    assert out.attrs["precision"] == "int8"
    quant = json.loads(out.attrs["precision_check"])
    assert quant["int8_parts"] == ["resunet"] and 0 < quant["window_agreement"] <= 1
    with rasterio.open(tmp_path / "mask.tif") as src:
        assert src.tags()["precision"] == "int8" and json.loads(src.tags()["precision_check"]) == quant
    out = predict_scene(ckpt, inputs, out_dir=tmp_path / "f", **kw)
    with rasterio.open(tmp_path / "f" / "mask.tif") as src:
        assert src.tags()["precision"] == out.attrs["precision"] == "float32"
    with pytest.raises(ConfigError, match="precision='int8' runs on CPU without MC dropout"):
        predict_scene(ckpt, inputs, precision="int8", mc_samples=2, **kw)
    int8 = dataclasses.replace(ckpt, model=quantize_for_cpu(ckpt.model, cal))  # a ready int8 model too
    with pytest.raises(ConfigError, match="int8 model runs on CPU without MC dropout"):
        predict_scene(int8, inputs, mc_samples=2, **kw)


def _scene(ckpt: object, h: int, w: int) -> dict:
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr
    from affine import Affine

    rng = np.random.default_rng(3)
    out = {}
    for g, names in ckpt.bands.items():  # type: ignore[attr-defined]
        da = xr.DataArray(rng.random((len(names), h, w)).astype(np.float32), dims=("band", "y", "x"))
        y, x = 3108000 - 30 * (np.arange(h) + 0.5), 478000 + 30 * (np.arange(w) + 0.5)
        da = da.assign_coords(band=names, y=y, x=x)
        out[g] = da.rio.write_crs(32645).rio.write_transform(Affine(30, 0, 478000, 0, -30, 3108000))
    return out


def _everest_check(name: str, precision: str) -> dict:
    from glacierlab.data.stack import stack_region
    from glacierlab.inference.precision_check import precision_map_check
    from glacierlab.models import load_checkpoint
    from glacierlab.weights import shipped_checkpoint_path

    ckpt = load_checkpoint(shipped_checkpoint_path(name))
    scene = stack_region("everest")
    return precision_map_check(ckpt, scene, precision, window=96, stride=48, nodata="all", batch_size=8)


@pytest.fixture(scope="module")
def everest_checks(shared_data: Path) -> dict[tuple[str, str], dict]:
    from glacierlab.weights import SHIPPED

    precisions = ("int8", "bfloat16") if BF16 else ("int8",)
    return {(name, p): _everest_check(name, p) for name in SHIPPED for p in precisions}


@pytest.mark.slow
def test_low_precision_everest_maps_keep_the_iou(everest_checks: dict[tuple[str, str], dict]) -> None:
    from glacierlab.accel.copy import PRECISION_TARGETS

    for key, r in everest_checks.items():
        assert r["pixels"] > 400_000, key
        assert abs(r["iou_change"]) <= PRECISION_TARGETS["iou_change"], (key, r)
        # a regression floor, not the target (below): int8 (experimental, on no menu) quantises activations
        # to 7 bits on CPUs without VNNI (record "reduce_range"), measured 97.97 % there vs 98.97 % with 8 bits
        floor = 0.975 if r.get("record", {}).get("reduce_range") else 0.98
        assert r["agreement"] > floor, (key, r)


@needs_bf16
def test_bf16_everest_map_agrees_with_float32(everest_checks: dict[tuple[str, str], dict]) -> None:
    """The issue-18 target for a fast CPU path: >= 99.5 % of the pixels as float32, IoU within 0.005."""
    from glacierlab.accel.copy import PRECISION_TARGETS

    for (name, precision), r in everest_checks.items():
        if precision == "bfloat16":
            assert r["agreement"] >= PRECISION_TARGETS["agreement"] and r["meets_targets"], (name, r)
            assert r["record"]["window_agreement"] >= 0.99, (name, r)


@pytest.mark.xfail(
    strict=True,
    reason="glavitu_lite_everest (v1): int8 mask agreement 98.9 % < 99.5 %; 6 % of its Everest pixels "
    "have a glacier probability within 0.02 of 0.5, so int8 noise flips them (see bench_model.py "
    "--only lowp-check; benchmarks/int8_sensitivity.py). bf16 meets the target and is the fast path on "
    "CPUs with AMX / AVX512-BF16. Remove this marker when the int8 path meets it.",
)
def test_int8_everest_map_agrees_with_float32(everest_checks: dict[tuple[str, str], dict]) -> None:
    from glacierlab.accel.copy import PRECISION_TARGETS

    for (name, precision), r in everest_checks.items():
        if precision == "int8":
            assert r["agreement"] >= PRECISION_TARGETS["agreement"], (name, r)
