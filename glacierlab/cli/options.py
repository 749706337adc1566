"""Command-line flags for :class:`~glacierlab.contract.options.PredictOptions` (shared by predict commands).

Every flag defaults to "not given", so the checkpoint's stored options apply unless overridden.
"""

from __future__ import annotations

import argparse
from typing import Any

from glacierlab.contract.confidence import CONVENTIONS
from glacierlab.contract.options import (
    CALIBRATION_CHOICES,
    NODATA_POLICIES,
    PAD_MODES,
    PRECISIONS,
    TILING_MODES,
)


def _location(text: str) -> str | tuple[float, ...]:
    """``coordinates``, a region code (``HMA``, ``unknown``) or comma-separated numbers."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        return parts[0]
    try:
        return tuple(float(p) for p in parts)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--location expects a name or numbers a,b,c..., got {text!r}") from err


def add_option_args(p: argparse.ArgumentParser) -> None:
    """Add one flag per prediction option (defaults: the checkpoint's stored options)."""
    g = p.add_argument_group("prediction options (default: the checkpoint's own, see `glacierlab weights card`)")
    g.add_argument("--window", type=int, help="window side in pixels")
    g.add_argument("--stride", type=int, help="step between windows in pixels")
    g.add_argument("--tiling", choices=TILING_MODES, help="edge (glacierlab) or paper (the authors' deploy.py grid)")
    g.add_argument("--pad-mode", choices=PAD_MODES, help="padding of scenes smaller than a window (edge tiling)")
    g.add_argument("--nodata", choices=NODATA_POLICIES, help="no data where any / all input bands are missing")
    g.add_argument("--smoothing", type=int, help="median filter size of the mask (0 off, odd)")
    g.add_argument("--calibration", choices=CALIBRATION_CHOICES, help="confidence calibrator (auto: stored one)")
    g.add_argument("--confidence", choices=CONVENTIONS, help="raw confidence convention")
    g.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None, help="8-fold test-time augmentation")
    g.add_argument("--mc-samples", type=int, help="Monte-Carlo dropout passes (0 off)")
    g.add_argument("--batch-size", type=int, help="windows per forward pass")
    g.add_argument("--location", type=_location, help="coordinates, a region code (HMA, unknown) or numbers")
    g.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto (bf16 on CUDA, float32 on CPU), float32 (exact) or bfloat16 (on CPU about 2x faster with AMX / "
        "AVX512-BF16); low precision is checked against float32 on sampled windows and recorded",
    )


def option_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The option flags that were given, as ``predict_scene`` overrides."""
    names = (
        "window", "stride", "tiling", "pad_mode", "nodata", "smoothing", "calibration", "confidence",
        "tta", "mc_samples", "batch_size", "location", "precision",
    )
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
