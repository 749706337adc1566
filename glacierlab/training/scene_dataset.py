"""Patch dataset over one catalog scene with a *spatial* train / validation / test split.

The scene is cut into square blocks; each block is assigned to a split at random (seeded). Around every
validation and test block a buffer of ``buffer`` pixels is taken away from the lower-priority splits
(test > val > train), and a window belongs to a split only when every one of its pixels lies in that
split's area. With ``buffer >= window`` no window overlaps two splits, and windows of different splits
are at least ``buffer`` pixels apart. The split (:class:`~glacierlab.contract.split.SpatialSplit`, part of
the checkpoint contract) is a small block grid stored in the checkpoint from which the pixel map is rebuilt.

Inputs come from :func:`glacierlab.data.stack.stack_region` (``optical``, ``dem`` (band, y, x) float32 with
NaN = no data, ``reference`` (y, x) uint8 with 255 = no data); see :func:`scene_from_stack`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from glacierlab.contract.split import SpatialSplit
from glacierlab.data.normalise import normalise_group
from glacierlab.errors import ConfigError, InputError, NoDataError, unknown_name
from glacierlab.training.augment import AugmentConfig, augment_sample, sample_rng
from glacierlab.training.losses import reference_to_onehot
from glacierlab.training.positions import grid_positions, tiling_positions, window_positions
from glacierlab.vocabulary import NODATA

#: How a window relates to its split's area (see :class:`ScenePatches`).
CONTEXTS: tuple[str, ...] = ("inside", "masked", "full")

__all__ = [
    "CONTEXTS",
    "TrainingScene",
    "ScenePatches",
    "band_stats",
    "grid_positions",
    "location_vector",
    "scene_from_stack",
    "tiling_positions",
    "window_positions",
]


@dataclass
class TrainingScene:
    """A training scene: normalised inputs and reference in memory, ready for windowing.

    Not the catalog's :class:`glacierlab.data.schema.Scene` (a date and its sources).

    Attributes:
        inputs: Group -> float32 (C, H, W), normalised, no-data = 0.
        reference: (H, W) uint8, 0 ice-free, 1 glacier, 255 no data.
        bands: Group -> band names in order.
        normalisation: Group -> {"min": [...], "max": [...]} used for ``inputs``.
        lonlat: Optional (lon, lat) arrays of pixel-centre coordinates (each (H, W), degrees).
        region: Region code for region encoding (e.g. "HMA"), or None.
    """

    inputs: dict[str, np.ndarray]
    reference: np.ndarray
    bands: dict[str, list[str]]
    normalisation: dict[str, dict[str, list[float]]]
    lonlat: tuple[np.ndarray, np.ndarray] | None = None
    region: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return tuple(self.reference.shape)


def band_stats(array: np.ndarray, mask: np.ndarray | None = None) -> dict[str, list[float]]:
    """Per-band min/max of a (C, H, W) array over ``mask`` pixels, ignoring NaN."""
    flat = array.reshape(array.shape[0], -1)
    if mask is not None:
        flat = flat[:, mask.ravel()]
    lo, hi = np.nanmin(flat, axis=1), np.nanmax(flat, axis=1)
    hi = np.where(hi > lo, hi, lo + 1.0)
    return {"min": lo.astype(float).tolist(), "max": hi.astype(float).tolist()}


def scene_from_stack(
    ds: Any,
    groups: Sequence[str] = ("optical", "dem"),
    normalisation: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    stats_mask: np.ndarray | None = None,
    region: str | None = None,
) -> TrainingScene:
    """Build a :class:`TrainingScene` from a stack (xr.Dataset of :func:`glacierlab.data.stack.stack_region`).

    Args:
        ds: Dataset with data variables named by ``groups`` (band, y, x) and ``reference`` (y, x).
        groups: Input groups to use, in model order.
        normalisation: Min/max per group; missing groups get min/max over ``stats_mask`` pixels
            (use the training area so statistics never look at held-out blocks).
        stats_mask: (H, W) bool pixels for computing statistics (default all).
        region: Region code for region encoding.

    Returns:
        The scene; pixel-centre lon/lat are computed when the dataset has a CRS (rioxarray).
    """
    missing = [g for g in (*groups, "reference") if g not in ds.data_vars]
    if missing:
        raise InputError(
            f"stack lacks {missing}; it has {list(ds.data_vars)}. Pass groups present in the stack."
        )
    stats = {k: {"min": list(v["min"]), "max": list(v["max"])} for k, v in (normalisation or {}).items()}
    inputs, bands = {}, {}
    for g in groups:
        da = ds[g]
        arr = np.asarray(da.values, dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[None]
        band_dim = next((d for d in da.dims if d not in ("y", "x")), None)
        if g not in stats:
            stats[g] = band_stats(arr, stats_mask)
        inputs[g] = normalise_group(arr, stats[g])
        bands[g] = [str(b) for b in da.coords[band_dim].values] if band_dim in da.coords else [g]
    reference = np.asarray(ds["reference"].values, dtype=np.uint8)
    return TrainingScene(inputs, reference, bands, stats, _lonlat(ds), region)


def _lonlat(ds: Any) -> tuple[np.ndarray, np.ndarray] | None:
    crs = getattr(getattr(ds, "rio", None), "crs", None)
    if crs is None or "x" not in ds.coords or "y" not in ds.coords:
        return None
    from pyproj import Transformer

    xx, yy = np.meshgrid(ds["x"].values, ds["y"].values)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xx, yy)
    return np.asarray(lon), np.asarray(lat)


def location_vector(kind: str, region: str | None, lon: float | None, lat: float | None) -> np.ndarray | None:
    """The model's location input for one window: None, region one-hot (12) or coordinates (4)."""
    if kind == "none":
        return None
    from glacierlab.models import coordinate_vector, region_vector

    if kind == "region":
        if region is None:
            raise InputError("location='region' needs a region name (one of the paper's 12 regions).")
        return np.asarray(region_vector(region), dtype=np.float32)
    if kind == "coordinates":
        if lon is None or lat is None:
            raise InputError("coordinate encoding needs pixel coordinates; the scene has no CRS/lonlat.")
        return np.asarray(coordinate_vector(lat, lon), dtype=np.float32)
    raise unknown_name("location encoding", kind, ("none", "region", "coordinates"))


class ScenePatches(Dataset):
    """Windows of one split of a :class:`TrainingScene`, as samples (see :mod:`glacierlab.training.augment`).

    ``mode="random"``: ``n_samples`` windows per epoch, uniformly among all windows of the split, each
    drawn (and augmented) from :func:`sample_rng` (seed, epoch, index); call :meth:`set_epoch` each epoch.
    ``mode="grid"``: the non-overlapping windows of :func:`grid_positions`, unaugmented.

    ``context`` says what a window may see outside the split's area:

    * ``"inside"`` (default): windows lie entirely inside the area (the window is limited by the
      block size and buffer);
    * ``"masked"``: windows need only ``min_inside`` of their pixels inside the area; every pixel
      outside it is blanked in the inputs (0 = no data, as a missing input) and in the target (no
      data), so the window is larger than a block yet reads no pixel of another split. Random mode
      samples such windows; grid mode takes the scene tiling (:func:`tiling_positions`);
    * ``"full"`` (grid mode only, for validation): the scene tiling with the inputs left whole, as
      a whole-scene prediction sees them, and the target blanked outside the area.
    """

    def __init__(
        self,
        scene: TrainingScene,
        split: SpatialSplit,
        name: str,
        window: int,
        *,
        mode: str = "random",
        n_samples: int | None = None,
        seed: int = 0,
        augment: AugmentConfig | None = None,
        location: str = "none",
        context: str = "inside",
        min_inside: float = 0.25,
    ) -> None:
        if split.shape != scene.shape:
            raise InputError(f"split shape {split.shape} differs from scene shape {scene.shape}.")
        if mode not in ("random", "grid"):
            raise unknown_name("sampling mode", mode, ("random", "grid"))
        if context not in CONTEXTS:
            raise unknown_name("window context", context, CONTEXTS)
        if context == "full" and mode != "grid":
            raise ConfigError(
                "context='full' shows pixels of other splits and is for grid (validation) windows only; "
                "use context='masked' for training windows larger than a block."
            )
        if not 0.0 < min_inside <= 1.0:
            raise ConfigError(f"min_inside must be in (0, 1], got {min_inside!r}.")
        self.context = context
        self.scene, self.split_name, self.window, self.mode = scene, name, int(window), mode
        self.seed, self.location, self.epoch = int(seed), location, 0
        self.augment = (
            augment if augment is not None else (AugmentConfig() if mode == "random" else AugmentConfig.off())
        )
        self.split_area = split.mask(name)
        area = self.split_area & (scene.reference != NODATA)
        if context == "inside":
            finder = window_positions if mode == "random" else grid_positions
            self.positions = finder(area, self.window)
        elif mode == "random":
            self.positions = window_positions(area, self.window, min_inside)
        else:
            self.positions = tiling_positions(area, self.window)
        if len(self.positions) == 0:
            raise NoDataError(
                f"no {self.window}-px window fits entirely inside the {name!r} area of the split "
                f"(blocks {split.block_size} px, buffer {split.buffer} px); "
                "use a smaller window or larger blocks."
            )
        self.n_samples = int(n_samples) if n_samples is not None else len(self.positions)
        self.bands, self.normalisation = scene.bands, scene.normalisation

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random windows and augmentations are drawn."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n_samples if self.mode == "random" else len(self.positions)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.mode == "random":
            rng = sample_rng(self.seed, self.epoch, index)
            r, c = self.positions[int(rng.integers(len(self.positions)))]
        else:
            rng, (r, c) = None, self.positions[index]
        w = self.window
        sl = (slice(r, r + w), slice(c, c + w))
        sample: dict[str, Any] = {
            "inputs": {g: a[:, sl[0], sl[1]] for g, a in self.scene.inputs.items()},
            "target": reference_to_onehot(self.scene.reference[sl]),
        }
        if self.context != "inside":
            outside = ~self.split_area[sl]
            sample["target"][:, outside] = 0.0  # no data outside the split
            if self.context == "masked":
                sample["inputs"] = {g: np.where(outside, 0.0, a) for g, a in sample["inputs"].items()}
        lon = lat = None
        if self.scene.lonlat is not None:
            lon = float(self.scene.lonlat[0][r + w // 2, c + w // 2])
            lat = float(self.scene.lonlat[1][r + w // 2, c + w // 2])
        loc = location_vector(self.location, self.scene.region, lon, lat)
        if loc is not None:
            sample["location"] = loc
        if rng is not None:
            sample = augment_sample(sample, rng, self.augment)
        sample["inputs"] = {g: np.ascontiguousarray(a, dtype=np.float32) for g, a in sample["inputs"].items()}
        return sample
