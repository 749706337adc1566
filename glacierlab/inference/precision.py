"""Low-precision CPU inference for a scene (int8, bf16): build the copy, check it on held-out windows, say so.

:func:`cpu_copy_for_scene` is what ``predict_scene(..., precision="int8" | "bfloat16")`` runs on CPU:

* ``"int8"``: :func:`glacierlab.models.quantize.quantize_for_cpu` calibrated on windows of the scene;
* ``"bfloat16"``: :func:`glacierlab.models.bfloat16.bfloat16_for_cpu` (oneDNN bf16 convolutions, fast
  with AMX or AVX512-BF16; a warning says when the CPU lacks them).

Either copy is compared with float32 on held-out windows of the scene (:data:`PRECISION_TARGETS`; whole
map: :func:`glacierlab.inference.precision_check.precision_map_check`) and the record goes into the outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: A low-precision path may differ from float32 on at most 0.5 % of the mapped pixels, and move the glacier
#: IoU against the reference by at most 0.005 (issue 18).
PRECISION_TARGETS = {"agreement": 0.995, "iou_change": 0.005}

#: Scene windows used to calibrate int8 (``precision="int8"``) and held out to check a low-precision copy.
INT8_CALIBRATION_WINDOWS = 32
CHECK_WINDOWS = 16


def _sampled(
    readers: list[Any], stats: Mapping[str, Any], opts: Any, fixed_loc: np.ndarray | None, count: int
) -> list[Any]:
    import torch

    from glacierlab.inference.location import window_locations
    from glacierlab.inference.sampling import located_windows

    batches = []
    for arrays, centres in located_windows(readers, stats, opts, count, 8):
        loc = window_locations(centres, fixed_loc, opts.location, readers[0])
        batches.append((arrays, None if loc is None else torch.from_numpy(loc).float()))
    return batches


def cpu_copy_for_scene(
    model: Any,
    precision: str,
    readers: list[Any],
    stats: Mapping[str, Any],
    opts: Any,
    fixed_loc: np.ndarray | None,
) -> tuple[Any, dict[str, Any]]:
    """The ``precision`` ("int8" or "bfloat16") CPU copy of ``model`` and what it is (for the outputs).

    int8 calibrates on every batch of 8 sampled windows but each third one, which is held out (on a scene
    of fewer than 24 windows: the last batch, or the one batch itself, ``check_in_sample``); bf16 needs
    no calibration and checks :data:`CHECK_WINDOWS` windows, or a sixteenth of a smaller scene's windows
    (at least 4), so that the check (float32 runs of its own) stays a small part of the work. The copy's
    pixel agreement with float32 on the held-out windows is recorded (``window_agreement``) and a
    :class:`~glacierlab.errors.GlacierLabWarning` says so when it is below :data:`PRECISION_TARGETS`,
    naming ``precision="float32"`` as the exact map.

    Raises:
        ConfigError: The model cannot be copied to that precision here (not a float32 GlaViTU for int8,
            no x86 quantized engine, no oneDNN bf16).
    """
    import warnings

    from glacierlab.errors import ConfigError, GlacierLabWarning
    from glacierlab.inference.tiling import make_grid
    from glacierlab.models.packed import pack_for_cpu, packing_available
    from glacierlab.models.quantize import window_agreement

    info: dict[str, Any]
    if precision == "int8":
        from glacierlab.models.quantize import quantize_for_cpu

        batches = _sampled(readers, stats, opts, fixed_loc, INT8_CALIBRATION_WINDOWS + CHECK_WINDOWS)
        if len(batches) >= 3:
            held_out, calibration = batches[2::3], [b for i, b in enumerate(batches) if i % 3 != 2]
        else:  # a small scene: its last batch held out, or the one batch checked in-sample
            held_out, calibration = batches[-1:], batches[:-1] or batches
        copy = quantize_for_cpu(model, calibration)
        info = dict(getattr(copy, "quantization", {}))
        info["check_in_sample"] = len(batches) == 1
    elif precision == "bfloat16":
        from glacierlab.models.bfloat16 import bfloat16_for_cpu, cpu_bf16_support

        native, kernels = cpu_bf16_support()
        if not native:  # correct but emulated: slower than float32
            warnings.warn(
                f"precision='bfloat16' on this CPU: {kernels}; use precision='float32' (exact) or 'int8'.",
                GlacierLabWarning,
                stacklevel=4,
            )
        copy = bfloat16_for_cpu(model)
        grid = make_grid(readers[0].height, readers[0].width, opts.window, opts.stride, opts.tiling)
        count = min(CHECK_WINDOWS, max(4, grid.total // 16))
        held_out = _sampled(readers, stats, opts, fixed_loc, count)
        info = dict(copy.record)
    else:
        raise ConfigError(f"no CPU copy for precision={precision!r}; expected 'int8' or 'bfloat16'.")
    reference = pack_for_cpu(model) if packing_available() else model
    if held_out:
        stats_ = window_agreement(reference, copy, held_out)
        info["window_agreement"] = round(stats_["agreement"], 5)
        info["check_windows"] = int(stats_["pixels"]) // (opts.window * opts.window)
        if stats_["agreement"] < PRECISION_TARGETS["agreement"]:
            warnings.warn(
                f"{precision} inference differs from float32 on {100 * (1 - stats_['agreement']):.2f} % of the "
                f"pixels of {info['check_windows']} sampled windows of this scene (target: at most "
                f"{100 * (1 - PRECISION_TARGETS['agreement']):.1f} %); pixels near the 0.5 decision threshold "
                "flip. Use precision='float32' for the exact map.",
                GlacierLabWarning,
                stacklevel=4,
            )
    return copy, info
