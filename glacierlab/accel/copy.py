"""The one call of CPU acceleration: (model, precision, sample windows) -> the fast copy and its record.

* ``"float32"``: BatchNorm folded, oneDNN weights prepacked with fused epilogues, channels-last
  (:func:`~glacierlab.accel.packed.pack_for_cpu`; plain BN folding where torch lacks oneDNN or the caller
  needs aten convolutions). Equal to the model up to float32 rounding.
* ``"bfloat16"``: :func:`~glacierlab.accel.bfloat16.bfloat16_for_cpu` (fast with AMX or AVX512-BF16; a
  warning says when the CPU lacks them).
* ``"int8"`` (experimental, off every menu until it meets :data:`PRECISION_TARGETS`):
  :func:`~glacierlab.accel.quantize.quantize_for_cpu`, calibrated on sampled windows.

A low-precision copy is compared with float32 on held-out sample windows; the record says how often they
agree and a :class:`~glacierlab.errors.GlacierLabWarning` says when it is below :data:`PRECISION_TARGETS`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from glacierlab.errors import ConfigError, GlacierLabWarning

#: A low-precision path may differ from float32 on at most 0.5 % of the mapped pixels, and move the glacier
#: IoU against the reference by at most 0.005 (issue 18).
PRECISION_TARGETS = {"agreement": 0.995, "iou_change": 0.005}

#: Windows used to calibrate int8 and held out to check a low-precision copy.
INT8_CALIBRATION_WINDOWS = 32
CHECK_WINDOWS = 16

#: ``sample(count)``: about ``count`` scene windows in batches of ``(inputs, location or None)``.
Sampler = Callable[[int], Sequence[tuple[dict[str, torch.Tensor], torch.Tensor | None]]]


def fast_copy(
    model: torch.nn.Module,
    precision: str,
    sample: Sampler | None = None,
    *,
    scene_windows: int | None = None,
    prepack: bool = True,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The fast CPU inference copy of ``model`` at ``precision`` and what it is.

    Args:
        model: A float32 glacierlab model (left unchanged).
        precision: ``"float32"``, ``"bfloat16"`` or ``"int8"`` (experimental).
        sample: Windows of the scene to be mapped: int8 calibrates on every batch but each third one, which
            is held out (a scene of fewer than 3 batches: the last batch, or the one batch checked
            in-sample, ``check_in_sample``); bf16 checks :data:`CHECK_WINDOWS` windows, or a sixteenth of
            ``scene_windows`` (at least 4). None: no check (int8 needs it).
        scene_windows: Windows in the whole scene, to keep the bf16 check a small part of the work.
        prepack: float32 only: use prepacked oneDNN weights when available (False: BN folding only, e.g.
            under ``torch.compile`` or bf16 autocast, which need aten convolutions).

    Returns:
        The copy (eval mode, on CPU) and its record (``precision``, ``window_agreement``,
        ``check_windows``, the copy's own facts).

    Raises:
        ConfigError: The model cannot be copied to that precision here (not a float32 GlaViTU for int8,
            no x86 quantized engine, no oneDNN bf16, no sample windows for int8).
    """
    from glacierlab.accel.packed import pack_for_cpu, packing_available

    if precision == "float32":
        from glacierlab.accel.fuse import fuse_for_inference

        packable = prepack and packing_available() and all(p.dtype == torch.float32 for p in model.parameters())
        copy = pack_for_cpu(model) if packable else fuse_for_inference(model, channels_last=True)
        return copy, {"precision": "float32", "prepacked": packable}
    info: dict[str, Any]
    if precision == "int8":
        from glacierlab.accel.quantize import quantize_for_cpu

        if sample is None:
            raise ConfigError("precision='int8' calibrates on windows of the scene; pass sample=.")
        batches = list(sample(INT8_CALIBRATION_WINDOWS + CHECK_WINDOWS))
        if len(batches) >= 3:
            held_out, calibration = batches[2::3], [b for i, b in enumerate(batches) if i % 3 != 2]
        else:  # a small scene: its last batch held out, or the one batch checked in-sample
            held_out, calibration = batches[-1:], batches[:-1] or batches
        copy = quantize_for_cpu(model, calibration)
        info = {"experimental": True, **dict(getattr(copy, "quantization", {}))}
        info["check_in_sample"] = len(batches) == 1
    elif precision == "bfloat16":
        from glacierlab.accel.bfloat16 import bfloat16_for_cpu, cpu_bf16_support

        native, kernels = cpu_bf16_support()
        if not native:  # correct but emulated: slower than float32
            warnings.warn(
                f"precision='bfloat16' on this CPU: {kernels}; use precision='float32' (exact).",
                GlacierLabWarning,
                stacklevel=5,
            )
        copy = bfloat16_for_cpu(model)
        count = min(CHECK_WINDOWS, max(4, (scene_windows or CHECK_WINDOWS * 16) // 16))
        held_out = list(sample(count)) if sample is not None else []
        info = dict(copy.record)
    else:
        raise ConfigError(f"no CPU copy for precision={precision!r}; expected 'float32', 'bfloat16' or 'int8'.")
    if held_out:
        _check(model, copy, held_out, precision, info, pack_for_cpu(model) if packing_available() else model)
    return copy, info


def _check(
    model: torch.nn.Module,
    copy: torch.nn.Module,
    held_out: list[Any],
    precision: str,
    info: dict[str, Any],
    reference: torch.nn.Module,
) -> None:
    """Record the copy's pixel agreement with float32 on the held-out windows; warn below the target."""
    from glacierlab.accel.quantize import window_agreement

    stats = window_agreement(reference, copy, held_out)
    side = next(iter(held_out[0][0].values())).shape[-1]
    info["window_agreement"] = round(stats["agreement"], 5)
    info["check_windows"] = int(stats["pixels"]) // (side * side)
    if stats["agreement"] < PRECISION_TARGETS["agreement"]:
        warnings.warn(
            f"{precision} inference differs from float32 on {100 * (1 - stats['agreement']):.2f} % of the "
            f"pixels of {info['check_windows']} sampled windows of this scene (target: at most "
            f"{100 * (1 - PRECISION_TARGETS['agreement']):.1f} %); pixels near the 0.5 decision threshold "
            "flip. Use precision='float32' for the exact map.",
            GlacierLabWarning,
            stacklevel=6,
        )
