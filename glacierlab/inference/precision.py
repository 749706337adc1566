"""Int8 inference for a scene: calibrate on its windows, check on held-out ones, say what was done.

:func:`int8_for_scene` is what ``predict_scene(..., precision="int8")`` runs: it calibrates
:func:`glacierlab.models.quantize.quantize_for_cpu` on windows of the scene being mapped and checks the
int8 copy against float32 on held-out windows (:data:`INT8_TARGETS`; whole-map comparison:
:func:`glacierlab.inference.int8_check.int8_map_check`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: The int8 path may differ from float32 on at most 0.5 % of the mapped pixels, and move the glacier IoU
#: against the reference by at most 0.005 (issue 18).
INT8_TARGETS = {"agreement": 0.995, "iou_change": 0.005}


#: Scene windows used to calibrate int8 (``precision="int8"``) and held out to check it.
INT8_CALIBRATION_WINDOWS = 32
INT8_CHECK_WINDOWS = 16


def int8_for_scene(
    model: Any,
    readers: list[Any],
    stats: Mapping[str, Any],
    opts: Any,
    fixed_loc: np.ndarray | None,
) -> tuple[Any, dict[str, Any]]:
    """The int8 copy of ``model`` calibrated on this scene's windows, and what it is (for the outputs).

    Every third batch of 8 sampled windows is held out: the int8 copy's pixel agreement with float32 on them is
    recorded (``window_agreement``) and a :class:`~glacierlab.errors.GlacierLabWarning` says so when it is
    below :data:`INT8_TARGETS`, naming ``precision="float32"`` as the exact alternative.

    Raises:
        ConfigError: The model is not a float32 GlaViTU, or PyTorch has no x86 quantized engine.
    """
    import warnings

    import torch

    from glacierlab.errors import GlacierLabWarning
    from glacierlab.inference.location import window_locations
    from glacierlab.inference.sampling import located_windows
    from glacierlab.models.packed import pack_for_cpu, packing_available
    from glacierlab.models.quantize import quantize_for_cpu, window_agreement

    sampled = located_windows(readers, stats, opts, INT8_CALIBRATION_WINDOWS + INT8_CHECK_WINDOWS, 8)
    batches = []
    for arrays, centres in sampled:
        loc = window_locations(centres, fixed_loc, opts.location, readers[0])
        batches.append((arrays, None if loc is None else torch.from_numpy(loc).float()))
    held_out = batches[2::3]
    calibration = [b for i, b in enumerate(batches) if i % 3 != 2] or batches
    int8 = quantize_for_cpu(model, calibration)
    reference = pack_for_cpu(model) if packing_available() else model
    info: dict[str, Any] = dict(getattr(int8, "quantization", {}))
    if held_out:
        stats_ = window_agreement(reference, int8, held_out)
        info["window_agreement"] = round(stats_["agreement"], 5)
        info["check_windows"] = int(stats_["pixels"]) // (opts.window * opts.window)
        if stats_["agreement"] < INT8_TARGETS["agreement"]:
            warnings.warn(
                f"int8 inference differs from float32 on {100 * (1 - stats_['agreement']):.2f} % of the pixels of "
                f"{info['check_windows']} sampled windows of this scene (target: at most "
                f"{100 * (1 - INT8_TARGETS['agreement']):.1f} %); pixels near the 0.5 decision threshold flip. "
                "Use precision='float32' for the exact map.",
                GlacierLabWarning,
                stacklevel=4,
            )
    return int8, info
