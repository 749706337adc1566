"""Int8 CPU inference for GlaViTU: post-training static quantization calibrated on real windows.

``quantize_for_cpu(model, calibration_batches)`` returns an inference copy in which

* the residual U-Net (most of the multiply-adds and of the full-resolution memory traffic) runs in
  int8: ``quint8`` activations, ``qint8`` weights, PyTorch's x86 quantized kernels (oneDNN / FBGEMM,
  using VNNI or AMX int8 instructions where the CPU has them);
* the fusion block, the transformer branch, the PUP decoder and the 1x1 heads stay float32 (the packed
  oneDNN path of :mod:`glacierlab.accel.packed`). Quantizing the fusion convolutions as well costs
  more in quantize/dequantize passes than it saves, and adds error.

Activation ranges come from a histogram observer (the range that minimises the L2 quantization error)
at every int8 point of the BatchNorm-folded float model, run on the calibration windows; they must be
real windows, normalised exactly as the model sees them in prediction (``glacierlab.inference``
builds them from the scene). The copy says what it is: ``precision == "int8"`` and a
``quantization`` dict (engine, calibration windows, int8 parts). It differs from the float model by
quantization error, not float rounding: ``benchmarks/bench_model.py --only int8-check`` and
``tests/accel/test_low_precision.py`` measure the mask agreement and IoU change on the shipped model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.ao.quantization.observer import HistogramObserver

from glacierlab.accel.fuse import fuse_for_inference, require_float32
from glacierlab.accel.packed import pack_for_cpu
from glacierlab.accel.qlayers import QParams, QResUNet, quantization_points
from glacierlab.errors import ConfigError, InputError
from glacierlab.models.glavitu import GlaViTU
from glacierlab.quiet import quiet_third_party

Batch = Mapping[str, Tensor] | tuple[Mapping[str, Tensor], Tensor | None]

#: Quantized engines with int8 convolution, LeakyReLU, add, cat and transposed convolution.
ENGINES = ("x86", "fbgemm", "onednn")


def _calibrate(
    model: GlaViTU, batches: Iterable[Batch], points: dict[str, tuple[nn.Module, str]], reduce_range: bool
) -> tuple[dict[str, QParams], int]:
    # 7-bit activations are asked for by range (torch deprecates its reduce_range flag and warns on it)
    top = 127 if reduce_range else 255
    observers = {
        k: HistogramObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine, quant_min=0, quant_max=top)
        for k in points
    }
    handles = []
    for key, (module, where) in points.items():
        obs = observers[key]
        if where == "input":
            handles.append(module.register_forward_pre_hook(lambda m, args, obs=obs: obs(args[0].detach())))
        else:
            handles.append(module.register_forward_hook(lambda m, args, out, obs=obs: obs(out.detach())))
    windows = 0
    try:
        with torch.inference_mode():
            for batch in batches:
                inputs, location = batch if isinstance(batch, tuple) else (batch, None)
                if not isinstance(inputs, Mapping):
                    raise InputError(
                        "calibration batches must be mappings group -> tensor (N, C, H, W) or "
                        f"(mapping, location) pairs, got {type(inputs).__name__}."
                    )
                model(inputs, location)
                windows += int(next(iter(inputs.values())).shape[0])
    finally:
        for h in handles:
            h.remove()
    if windows == 0:
        raise InputError("quantize_for_cpu needs at least one calibration window; got an empty iterable.")
    ranges: dict[str, QParams] = {}
    for key, obs in observers.items():
        scale, zp = obs.calculate_qparams()
        ranges[key] = (float(scale), int(zp))
    return ranges, windows


@quiet_third_party
def quantize_for_cpu(
    model: nn.Module,
    calibration_batches: Iterable[Batch],
    *,
    reduce_range: bool | None = None,
) -> nn.Module:
    """Int8 inference copy of a float32 GlaViTU, calibrated on real windows.

    Args:
        model: A float32 :class:`~glacierlab.models.glavitu.GlaViTU` (left unchanged).
        calibration_batches: Normalised model inputs: mappings group -> tensor (N, C_g, H, W), or
            ``(inputs, location)`` pairs for location-encoded models; a few dozen windows of the scene
            (or region) to be mapped are enough.
        reduce_range: Quantize activations to 7 bits (0..127). None (default): only on CPUs without
            VNNI, whose int8 kernels can saturate 16-bit sums with 8-bit activations.

    Returns:
        The int8 copy (a :class:`GlaViTU` in eval mode), called like the model; ``precision`` is
        ``"int8"`` and ``quantization`` records how it was made.

    Raises:
        ConfigError: Not a GlaViTU, not float32, or PyTorch has no x86 quantized engine here.
        InputError: No calibration window, or a malformed batch.
    """
    if not isinstance(model, GlaViTU):
        raise ConfigError(
            f"quantize_for_cpu supports GlaViTU models (glavitu, glavitu_lite, ...), got "
            f"{type(model).__name__}; run other models in float32."
        )
    engine = torch.backends.quantized.engine
    if engine not in ENGINES:
        supported = [e for e in torch.backends.quantized.supported_engines if e in ENGINES]
        raise ConfigError(
            f"int8 inference needs one of the quantized engines {ENGINES}, the current one is {engine!r} "
            f"(this machine supports {supported or 'none of them'}); set "
            "torch.backends.quantized.engine = 'x86' on x86 CPUs, or use float32."
        )
    require_float32(model, "quantize_for_cpu")
    folded = fuse_for_inference(model, channels_last=True)
    assert isinstance(folded, GlaViTU)  # noqa: S101 - fuse_for_inference returns a copy of the same class
    if reduce_range is None:
        reduce_range = not torch.cpu._is_vnni_supported()
    ranges, windows = _calibrate(folded, calibration_batches, quantization_points(folded.resunet), reduce_range)
    out = pack_for_cpu(model)
    assert isinstance(out, GlaViTU)  # noqa: S101
    out.resunet = QResUNet(folded.resunet, ranges)  # type: ignore[assignment]
    info: dict[str, Any] = {
        "engine": engine,
        "reduce_range": reduce_range,
        "calibration_windows": windows,
        "int8_parts": ["resunet"],
    }
    out.precision = "int8"  # type: ignore[assignment]
    out.quantization = info  # type: ignore[assignment]
    return out.eval()


def window_agreement(reference: nn.Module, model: nn.Module, batches: Iterable[Batch]) -> dict[str, float]:
    """How far ``model`` (e.g. the int8 copy) is from ``reference`` on windows, pixel by pixel.

    Returns:
        ``agreement``: share of pixels with the same predicted class (argmax of the logits), in [0, 1];
        ``mean_abs_probability_difference`` and ``max_abs_probability_difference`` of the glacier
        (class 1) probability; ``pixels``: how many pixels were compared.

    Raises:
        InputError: No window in ``batches``.
    """
    same = pixels = 0
    total = peak = 0.0
    with torch.inference_mode():
        for batch in batches:
            inputs, location = batch if isinstance(batch, tuple) else (batch, None)
            a = torch.softmax(reference(inputs, location).logits.float(), 1)
            b = torch.softmax(model(inputs, location).logits.float(), 1)
            same += int((a.argmax(1) == b.argmax(1)).sum())
            diff = (a[:, 1] - b[:, 1]).abs()
            total, peak = total + float(diff.sum()), max(peak, float(diff.max()))
            pixels += diff.numel()
    if pixels == 0:
        raise InputError("window_agreement needs at least one window; got an empty iterable.")
    return {
        "agreement": same / pixels,
        "mean_abs_probability_difference": total / pixels,
        "max_abs_probability_difference": peak,
        "pixels": float(pixels),
    }
