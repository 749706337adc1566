"""The words glacierlab speaks, defined once: input groups, band names and units, label codes, stack format.

Everything that names a band, a group, a class or a no-data code imports it from here.

Stack format: a model-ready scene is an ``xarray.Dataset`` whose data variables are the input groups
(``optical``, ``dem``) with one band dimension each (``optical_band``, ``dem_band``: one Dataset cannot
hold two different ``band`` coordinates), plus ``reference`` and ``mask`` label layers (y, x) uint8.
:func:`to_stack_dims` / :func:`from_stack_dims` convert one group between ``(band, y, x)`` and that form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

# --- label codes (uint8 masks: reference, predicted mask, training labels) ------------------------------
ICE_FREE: Final = 0
"""Label of ice-free (non-glacier) pixels."""
GLACIER: Final = 1
"""Label of glacier pixels (the positive class; debris-covered ice included)."""
NODATA: Final = 255
"""Label of pixels without a reference or without a prediction (uint8 masks)."""
CLASS_NAMES: Final = ("non-glacier", "glacier")
"""Class names in model output order (logit 0, logit 1)."""

# --- input groups and band names ---------------------------------------------------------------------
OPTICAL_BANDS: Final = ("blue", "green", "red", "nir", "swir1", "swir2")
"""Optical band names the models know, in canonical order (Landsat / Sentinel-2 wavelengths)."""
DEM_BANDS: Final = ("elevation", "slope")
"""DEM group band names, in order."""
GROUP_BANDS: Final[dict[str, tuple[str, ...]]] = {
    "optical": OPTICAL_BANDS,
    "dem": DEM_BANDS,
    "co_pol_sar": ("co_pol_asc", "co_pol_desc"),
    "cross_pol_sar": ("cross_pol_asc", "cross_pol_desc"),
    "in_sar": ("coherence_asc", "coherence_desc"),
    "thermal": ("thermal",),
}
"""The paper's feature groups -> band names in canonical order (docs/GLAVITU_SPEC.md §3.1)."""
STRATEGIES: Final = ("global", "regional", "finetune", "region_encoding", "coordinate_encoding")
"""The paper's five training strategies (docs/GLAVITU_SPEC.md §2), as training runs them and the weights
registry records them (the authors' file names spell fine-tuning ``finetuning``)."""

STACK_GROUPS: Final = ("optical", "dem")
"""Input groups glacierlab's data layer stacks from catalog regions, STAC and user GeoTIFFs."""
AUXILIARY_LAYERS: Final = ("thermal",)
"""Layers a stack may carry beside the model groups, as ``(y, x)`` float32 (not fed to models by default)."""
LABEL_LAYERS: Final = ("reference", "mask")
"""Label layers a stack may carry (uint8, :data:`ICE_FREE` / :data:`GLACIER` / :data:`NODATA`)."""

# --- units and product levels ------------------------------------------------------------------------
BAND_UNITS: Final[dict[str, str]] = {
    **{b: "reflectance" for b in OPTICAL_BANDS},
    "elevation": "m",
    "slope": "degrees",
    "co_pol_asc": "log10(sigma0)",
    "co_pol_desc": "log10(sigma0)",
    "cross_pol_asc": "log10(sigma0)",
    "cross_pol_desc": "log10(sigma0)",
    "coherence_asc": "1",
    "coherence_desc": "1",
    "thermal": "K",
}
"""Band -> physical unit as the paper's models take it (``thermal``: brightness temperature; SAR: log10 of
the backscatter σ0). Optical reflectance is 0-1 (``dn8``: 0-255); its product level is stated by the stack
(``attrs["product_level"]``) and the checkpoint (``inputs``), see :data:`PRODUCT_LEVELS`."""
PRODUCT_LEVELS: Final[dict[str, str]] = {
    "toa": "top-of-atmosphere reflectance, 0-1 (Landsat C2 L1 / Sentinel-2 L1C; the GlaViTU paper's input)",
    "surface": "surface reflectance, 0-1 (Landsat C2 L2 / Sentinel-2 L2A)",
    "dn8": "8-bit digital numbers, 0-255 (stretched display products)",
}
"""Optical product level -> what it is. Reflectance models must not be fed DN, and vice versa."""
PRODUCT_LEVEL_UNITS: Final[dict[str, str]] = {"toa": "reflectance", "surface": "reflectance", "dn8": "DN"}
"""Optical product level -> the unit of its values (``"reflectance"`` 0-1, ``"DN"`` 0-255)."""
PRODUCT_LEVEL_ATTR: Final = "product_level"
"""Attribute (xarray ``attrs`` key, GeoTIFF dataset tag, case-insensitive) naming an optical input's level."""
HOW_TO_LOAD: Final[dict[str, str]] = {
    "toa": (
        "load top-of-atmosphere (L1C) reflectance: Sentinel-2 L1C bands / 10000 (processing baseline "
        "04.00+: (DN - 1000) / 10000), or Landsat Collection 2 Level-1 DN * REFLECTANCE_MULT + "
        "REFLECTANCE_ADD divided by the sine of the sun elevation"
    ),
    "surface": (
        "load surface reflectance (L2A): Sentinel-2 L2A bands / 10000 (baseline 04.00+: (DN - 1000) / "
        "10000), or Landsat Collection 2 Level-2 DN * 2.75e-5 - 0.2 (glacierlab.data.stac.stack_bbox "
        "does this)"
    ),
    "dn8": "give 8-bit display values 0-255 (e.g. a stretched true-colour GeoTIFF) as the model was trained",
}
"""Product level -> how a user gets inputs of that level (used in error messages)."""


def known_product_level(level: str) -> str:
    """``level`` unchanged if it is a known product level (:data:`PRODUCT_LEVELS`), else ``UnknownNameError``."""
    from glacierlab.errors import unknown_name

    if level not in PRODUCT_LEVELS:
        raise unknown_name("product level", level, PRODUCT_LEVELS)
    return level


def band_dim(group: str) -> str:
    """Name of a group's band dimension inside a stack (``"optical"`` -> ``"optical_band"``)."""
    return f"{group}_band"


def to_stack_dims(da: xr.DataArray, group: str) -> xr.DataArray:
    """A ``(band, y, x)`` group as stored in a stack (its ``band`` dimension renamed ``<group>_band``)."""
    return da.rename({"band": band_dim(group)}) if "band" in da.dims else da


def from_stack_dims(da: xr.DataArray, group: str) -> xr.DataArray:
    """A group taken from a stack as ``(band, y, x)`` (its ``<group>_band`` dimension renamed ``band``)."""
    return da.rename({band_dim(group): "band"}) if band_dim(group) in da.dims else da


def labelled(reference: np.ndarray) -> np.ndarray:
    """Boolean mask of pixels with a reference label (:data:`ICE_FREE` or :data:`GLACIER`)."""
    ref = np.asarray(reference)
    return np.asarray((ref == ICE_FREE) | (ref == GLACIER), dtype=bool)


def correctness(probability: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether the map's class (glacier where ``probability > 0.5``) matches the reference, and where known.

    Args:
        probability: Glacier probability in [0, 1]; NaN = no prediction.
        reference: Labels of the same shape (0, 1; anything else = no data).

    Returns:
        ``(correct, valid)`` boolean arrays: ``valid`` where both a prediction and a label exist.
    """
    p = np.asarray(probability, dtype=np.float32)
    ref = np.asarray(reference)
    valid = np.isfinite(p) & labelled(ref)
    return (p > 0.5) == (ref == GLACIER), valid
