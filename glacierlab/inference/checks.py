"""Input semantics checked before a scene is mapped: product level, units and value range per group.

A plausible-looking wrong map is the worst result glacierlab can give, and the commonest cause is an
input on another scale than the model was trained on: 0-10000 scaled reflectance or 8-bit DN fed to a
0-1 reflectance model, 0-1 reflectance fed to an 8-bit model, surface (L2A) reflectance fed to a
top-of-atmosphere (L1C) model. :func:`check_inputs` compares a sample of every input group with the
checkpoint's normalisation statistics and product level and refuses (:class:`~glacierlab.errors.InputError`)
what cannot work, warns (:class:`~glacierlab.errors.GlacierLabWarning`) about what may be biased, and
says how to fix it either way. Only a few windows are read (bounded memory).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.errors import GlacierLabWarning, InputError
from glacierlab.vocabulary import (
    BAND_UNITS,
    HOW_TO_LOAD,
    PRODUCT_LEVEL_ATTR,
    PRODUCT_LEVELS,
    from_stack_dims,
    known_product_level,
)

if TYPE_CHECKING:
    from glacierlab.contract.record import CheckpointContract

SENTINEL = 1e30
"""Values at or beyond ±1e30 are nodata sentinels (float32's -3.4e38), never measurements."""
_SCALE_TEXT = {
    "unit": "reflectance in 0-1",
    "dn8": "8-bit digital numbers (0-255)",
    "scaled": "scaled integers (e.g. reflectance × 10000, uint16)",
}


#: Kind of an optical product level: digital numbers or reflectance ("reflectance" = TOA or surface, not known).
_KIND = {"dn8": "dn", "toa": "reflectance", "surface": "reflectance", "reflectance": "reflectance"}


def level_fit(model: str | None, scene: str | None) -> str:
    """The one product-level rule: how imagery of level ``scene`` fits a model trained on level ``model``.

    Returns:
        ``"fits"`` (same level, or either unknown), ``"may bias"`` (TOA vs surface reflectance: the
        atmosphere differs, not the scale) or ``"refuse"`` (digital numbers vs reflectance: a map would
        look plausible and be wrong).
    """
    if not model or not scene or model == scene:
        return "fits"
    return "may bias" if _KIND.get(model) == _KIND.get(scene) else "refuse"


def model_level(checkpoint: CheckpointContract) -> str | None:
    """The optical product level a checkpoint was trained on (header ``inputs``, else its training record)."""
    level = (checkpoint.inputs.get("optical") or {}).get("product_level") or checkpoint.record.product_level
    return known_product_level(str(level)) if level else None


def optional_groups(checkpoint: CheckpointContract) -> tuple[str, ...]:
    """The input groups a checkpoint was trained to map without (its training record), else none.

    A group is optional only when training blanked it *whole* in some samples: the header's
    ``extra["trained_without_groups"]`` (written by training with ``AugmentConfig.drop_groups`` and
    ``drop_group_p > 0``). Occlusion augmentation (rectangles of a window) does not count, nor does the
    ``nodata`` option: a checkpoint without the record needs every group, so a pixel without any value
    of a group is no data (mask 255), never mapped from the other groups alone.
    """
    groups = checkpoint.record.trained_without_groups or ()
    return tuple(str(g) for g in groups if str(g) in checkpoint.bands)


def declared_level(inputs: Any, group: str = "optical", given: str | None = None) -> str | None:
    """The product level the inputs declare for ``group``: ``given``, else attrs / GeoTIFF tags, else None.

    Looks at ``attrs["product_level"]`` of the group's DataArray, then of the Dataset, then the
    ``PRODUCT_LEVEL`` tag of the GeoTIFF(s) given as paths.
    """
    if given is not None:
        return known_product_level(given)
    import xarray as xr

    src: Any = None
    if isinstance(inputs, xr.Dataset):
        if group in inputs.data_vars:
            src = from_stack_dims(inputs[group], group)
        level = (src.attrs.get(PRODUCT_LEVEL_ATTR) if src is not None else None) or inputs.attrs.get(
            PRODUCT_LEVEL_ATTR
        )
        return known_product_level(str(level)) if level else None
    if isinstance(inputs, Mapping):
        src = inputs.get(group)
    if isinstance(src, xr.DataArray):
        level = src.attrs.get(PRODUCT_LEVEL_ATTR)
        return known_product_level(str(level)) if level else None
    if isinstance(src, str | os.PathLike) or (isinstance(src, Sequence) and not isinstance(src, str)):
        paths = [src] if isinstance(src, str | os.PathLike) else list(src)
        return _tag_level(paths)
    return None


def _tag_level(paths: Sequence[Any]) -> str | None:
    import rasterio

    levels = set()
    for p in paths:
        try:
            with rasterio.open(p) as ds:
                tags = {k.lower(): v for k, v in ds.tags().items()}
        except (OSError, rasterio.errors.RasterioError):
            return None  # unreadable files are reported by the readers with a precise error
        if PRODUCT_LEVEL_ATTR in tags:
            levels.add(known_product_level(tags[PRODUCT_LEVEL_ATTR].strip().lower()))
    return levels.pop() if len(levels) == 1 else None


def sample(reader: Any, tiles: int = 3, size: int = 256) -> np.ndarray:
    """Up to ``tiles²`` windows of ``size`` px spread over the scene, as (bands, pixels) float32 (NaN kept)."""
    h, w = reader.height, reader.width
    th, tw = min(size, h), min(size, w)
    rows = sorted({int(r) for r in np.linspace(0, h - th, tiles)})
    cols = sorted({int(c) for c in np.linspace(0, w - tw, tiles)})
    parts = [reader.read(r, c, th, tw).reshape(-1, th * tw) for r in rows for c in cols]
    return np.concatenate(parts, axis=1)


def value_scale(values: np.ndarray) -> str | None:
    """Classify reflectance-like values: ``"unit"`` (0-1), ``"dn8"`` (0-255) or ``"scaled"`` (> 255)."""
    v = values[np.isfinite(values) & (np.abs(values) < SENTINEL)]
    if v.size == 0:
        return None
    p99, top = float(np.percentile(v, 99)), float(v.max())
    if p99 <= 3.0:
        return "unit"
    return "dn8" if top <= 255.5 else "scaled"


def stats_scale(hi: Sequence[float] | np.ndarray) -> str:
    """The scale a reflectance group's normalisation maxima imply (``unit`` ≤ 5 < ``dn8`` ≤ 300 < ``scaled``)."""
    top = max(float(x) for x in hi)
    return "unit" if top <= 5.0 else "dn8" if top <= 300.0 else "scaled"


def _scale_fix(got: str, want: str, level: str | None) -> str:
    if got == "scaled" and want == "unit":
        return (
            "divide the values by 10000 (Sentinel-2 L1C/L2A; processing baseline 04.00+ first subtract 1000) "
            "or apply the product's scale factors, so that reflectance lies in 0-1"
        )
    if got == "unit" and want == "scaled":
        return "multiply the reflectance by 10000, the scale this checkpoint was trained on"
    if want == "dn8":
        return (
            "this checkpoint was trained on 8-bit display values (0-255) and cannot map reflectance: "
            "give it 8-bit inputs, or use a reflectance model (`glacierlab weights list`)"
        )
    return (
        "8-bit display values are not reflectance and cannot be converted back: "
        + HOW_TO_LOAD.get(level or "toa", HOW_TO_LOAD["toa"])
    )


def _check_level(model_level: str | None, level: str | None, scale: str | None) -> None:
    if level is None and scale == "dn8":
        level = "dn8"
    fit = level_fit(model_level, level)
    if fit == "fits" or model_level is None or level is None:
        return
    if fit == "may bias":
        warnings.warn(
            f"the checkpoint was trained on {PRODUCT_LEVELS[model_level]} but the optical input is "
            f"{PRODUCT_LEVELS[level]}: the map may be biased. To match, {HOW_TO_LOAD[model_level]}. "
            f"If the input really is '{model_level}', declare it (product_level='{model_level}', CLI "
            f"--product-level {model_level}, or attrs['product_level'] on the stack).",
            GlacierLabWarning,
            stacklevel=4,
        )
        return
    fix = _scale_fix("unit", "dn8", None) if model_level == "dn8" else _scale_fix("dn8", "unit", model_level)
    raise InputError(
        f"the checkpoint expects optical {PRODUCT_LEVELS[model_level]} but the input is "
        f"{PRODUCT_LEVELS[level]}; {fix}. If the declared level is wrong, pass product_level=... "
        "(CLI --product-level)."
    )


def check_inputs(
    readers: Sequence[Any],
    bands: Mapping[str, Sequence[str]],
    stats: Mapping[str, Mapping[str, Sequence[float]]],
    model_level: str | None,
    input_level: str | None,
) -> dict[str, dict[str, list[float]]]:
    """Check every input group against the checkpoint; refuse scale mismatches, warn on doubtful ranges.

    Args:
        readers: Opened :class:`~glacierlab.inference.readers.GroupReader` objects.
        bands: Group -> band names (checkpoint order).
        stats: The checkpoint's normalisation ``{group: {"min": [...], "max": [...]}}``.
        model_level: The checkpoint's optical product level (None: not recorded).
        input_level: The inputs' declared optical product level (None: not declared).

    Returns:
        Group -> ``{"p1": [...], "p99": [...]}`` per band of the sample (for the result's summary).

    Raises:
        InputError: A reflectance group on another scale than the model's (with the fix), or DN data
            into a reflectance model / reflectance into a DN model.
    """
    seen: dict[str, dict[str, list[float]]] = {}
    for r in readers:
        vals = sample(r)
        names = list(bands[r.name])
        ok = np.isfinite(vals) & (np.abs(vals) < SENTINEL)
        p1 = [float(np.percentile(v[m], 1)) if m.any() else float("nan") for v, m in zip(vals, ok, strict=True)]
        p99 = [float(np.percentile(v[m], 99)) if m.any() else float("nan") for v, m in zip(vals, ok, strict=True)]
        seen[r.name] = {"p1": p1, "p99": p99}
        reflectance = [i for i, b in enumerate(names) if BAND_UNITS.get(b) == "reflectance"]
        scale = value_scale(vals[reflectance]) if reflectance else None
        if r.name == "optical":
            _check_level(model_level, input_level, scale)
        st = stats.get(r.name)
        if st is None:
            continue
        lo, hi = np.asarray(st["min"], float), np.asarray(st["max"], float)
        if reflectance and scale is not None:
            want = stats_scale(hi[reflectance])
            if scale != want:
                raise InputError(
                    f"input group {r.name!r} looks like {_SCALE_TEXT[scale]} (bands {names}: 1st-99th "
                    f"percentiles {_fmt(p1)} .. {_fmt(p99)}) but the checkpoint was trained on "
                    f"{_SCALE_TEXT[want]} (normalisation min {_fmt(lo)}, max {_fmt(hi)}); "
                    f"{_scale_fix(scale, want, model_level)}."
                )
        span = hi - lo
        far = [
            names[i]
            for i in range(len(names))
            if np.isfinite(p1[i]) and (p99[i] > hi[i] + span[i] or p1[i] < lo[i] - span[i])
        ]
        if far:
            units = ", ".join(f"{b}: {BAND_UNITS.get(b, '?')}" for b in names)
            warnings.warn(
                f"input group {r.name!r} bands {far} lie far outside the range the checkpoint was trained on "
                f"(sample 1st-99th percentiles {_fmt(p1)} .. {_fmt(p99)}; training min {_fmt(lo)}, max "
                f"{_fmt(hi)}); check the units ({units}).",
                GlacierLabWarning,
                stacklevel=3,
            )
    return seen


def _fmt(values: Any) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"
