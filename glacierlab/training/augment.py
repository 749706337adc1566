"""Training augmentations of docs/GLAVITU_SPEC.md §4, on one sample, driven by a numpy Generator.

A *sample* is a dict with

* ``"inputs"``: group name -> float32 array (C, H, W), normalised (no-data = 0);
* ``"target"``: float32 (2, H, W) one-hot (channel 1 glacier; all-zero = no data);
* ``"location"`` (optional): float32 (L,) region one-hot (L = 12, last slot "unknown") or coordinates.

:func:`augment_sample` applies, in the paper's order: vertical and horizontal flips, a 90/180/270°
rotation, crop-and-rescale (nearest), then per group gamma ("contrast"), occlusion, a per-channel shift
and per-pixel noise, then label smoothing and "region -> unknown". Every random draw comes from the
Generator passed in, so a sample is reproducible from its seed whatever the worker or process.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from glacierlab.errors import ConfigError
from glacierlab.training.losses import smooth_labels

Sample = dict[str, Any]


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and strengths of the augmentations (defaults: the paper's training command).

    Attributes:
        flip_p: Probability of each of the vertical and horizontal flips.
        rotate_p: Probability of a rotation by 90, 180 or 270 degrees (chosen uniformly).
        crop_p: Probability of crop-and-rescale.
        crop_min: Smallest crop side as a fraction of the window (paper 0.8; the largest is 1.0).
        gamma_p: Probability, per group, of raising each channel to a power in ``gamma_range``.
        gamma_range: (low, high) of the uniform gamma.
        occlusion_p: Probability, per group, of zeroing a rectangle across its channels.
        occlusion_max: Largest rectangle side as a fraction of the window (paper 192 / 384 = 0.5).
        shift_p: Probability, per group, of a constant offset per channel.
        shift_sigma: Standard deviation of that offset (normalised units, paper 0.025).
        noise_p: Probability, per group, of per-pixel Gaussian noise.
        noise_sigma: Its standard deviation (paper 0.005).
        label_smoothing: y <- (1 - s) y + s / 2 on valid pixels (paper 0.1); 0 disables.
        unknown_region_p: Probability of replacing a 12-long region vector by "unknown" (paper 0.1).
        drop_groups: Input groups that may be blanked whole (set to 0 = no data), e.g. ``("dem",)``
            for scenes where the DEM covers only part of the frame (not in the paper; default none).
        drop_group_p: Probability, per listed group, of blanking it in a sample.
    """

    flip_p: float = 0.5
    rotate_p: float = 0.75
    crop_p: float = 0.5
    crop_min: float = 0.8
    gamma_p: float = 0.5
    gamma_range: tuple[float, float] = (0.8, 1.2)
    occlusion_p: float = 0.5
    occlusion_max: float = 0.5
    shift_p: float = 0.5
    shift_sigma: float = 0.025
    noise_p: float = 0.5
    noise_sigma: float = 0.005
    label_smoothing: float = 0.1
    unknown_region_p: float = 0.1
    drop_groups: tuple[str, ...] = ()
    drop_group_p: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name.endswith("_p") or f.name in ("crop_min", "occlusion_max", "label_smoothing"):
                v = getattr(self, f.name)
                if not 0.0 <= v <= 1.0:
                    raise ConfigError(f"augmentation {f.name} must be in [0, 1], got {v!r}.")
        lo, hi = self.gamma_range
        if not 0 < lo <= hi:
            raise ConfigError(f"gamma_range must satisfy 0 < low <= high, got {self.gamma_range!r}.")
        if self.shift_sigma < 0 or self.noise_sigma < 0:
            raise ConfigError("shift_sigma and noise_sigma must be >= 0.")
        if self.crop_min <= 0:
            raise ConfigError(f"crop_min must be > 0, got {self.crop_min}.")
        object.__setattr__(self, "drop_groups", tuple(str(g) for g in self.drop_groups))

    @classmethod
    def off(cls) -> AugmentConfig:
        """No augmentation at all (validation, tests)."""
        return cls(0.0, 0.0, 0.0, 1.0, 0.0, (1.0, 1.0), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _map_arrays(sample: Sample, fn: Any) -> Sample:
    """Apply a spatial function to every input group and the target (arrays (C, H, W))."""
    out = dict(sample)
    out["inputs"] = {k: fn(v) for k, v in sample["inputs"].items()}
    out["target"] = fn(sample["target"])
    return out


def _crop_rescale(sample: Sample, rng: np.random.Generator, crop_min: float) -> Sample:
    """Random square crop of side U(crop_min, 1) x window, resized back with nearest neighbour."""
    h, w = sample["target"].shape[-2:]
    side = min(h, w)
    s = max(1, int(round(rng.uniform(crop_min, 1.0) * side)))
    y0 = int(rng.integers(0, h - s + 1))
    x0 = int(rng.integers(0, w - s + 1))
    # Nearest-neighbour index of every output pixel (pixel-centre convention).
    iy = y0 + np.minimum(((np.arange(h) + 0.5) * s / h).astype(np.int64), s - 1)
    ix = x0 + np.minimum(((np.arange(w) + 0.5) * s / w).astype(np.int64), s - 1)
    return _map_arrays(sample, lambda a: a[:, iy][:, :, ix])


def _photometric(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Gamma, occlusion, shift and noise on one group (C, H, W); each with its own probability."""
    c, h, w = x.shape
    if rng.random() < cfg.gamma_p:
        g = rng.uniform(*cfg.gamma_range, size=(c, 1, 1))
        with np.errstate(invalid="ignore"):
            x = np.nan_to_num(np.power(x, g), nan=0.0, posinf=0.0, neginf=0.0)
    if rng.random() < cfg.occlusion_p:
        oh = int(rng.integers(0, max(1, int(cfg.occlusion_max * h))))
        ow = int(rng.integers(0, max(1, int(cfg.occlusion_max * w))))
        y0 = int(rng.integers(0, h - oh + 1))
        x0 = int(rng.integers(0, w - ow + 1))
        x = x.copy()
        x[:, y0 : y0 + oh, x0 : x0 + ow] = 0.0
    if rng.random() < cfg.shift_p:
        x = x + rng.normal(0.0, cfg.shift_sigma, size=(c, 1, 1))
    if rng.random() < cfg.noise_p:
        x = x + rng.normal(0.0, cfg.noise_sigma, size=x.shape)
    return x.astype(np.float32, copy=False)


def unknown_region_vector(length: int = 12) -> np.ndarray:
    """The region one-hot with only the last ("unknown") slot set, float32 (length,)."""
    v = np.zeros(length, dtype=np.float32)
    v[-1] = 1.0
    return v


def augment_sample(sample: Sample, rng: np.random.Generator, config: AugmentConfig | None = None) -> Sample:
    """Augment one sample (a new dict; the input arrays are not modified).

    Args:
        sample: ``{"inputs": {group: (C, H, W)}, "target": (2, H, W), "location"?: (L,)}``; H and W
            must be equal when rotations are enabled.
        rng: Source of every random draw.
        config: Probabilities and strengths (default: the paper's).

    Returns:
        The augmented sample, arrays float32 and C-contiguous. ``"location"`` is replaced by the
        "unknown" region vector with ``unknown_region_p`` only when it is 12 long (region encoding).
    """
    cfg = config or AugmentConfig()
    out: Sample = dict(sample)
    if rng.random() < cfg.flip_p:
        out = _map_arrays(out, lambda a: a[:, ::-1, :])
    if rng.random() < cfg.flip_p:
        out = _map_arrays(out, lambda a: a[:, :, ::-1])
    if rng.random() < cfg.rotate_p:
        k = int(rng.integers(1, 4))
        out = _map_arrays(out, lambda a: np.rot90(a, k, axes=(1, 2)))
    if rng.random() < cfg.crop_p:
        out = _crop_rescale(out, rng, cfg.crop_min)
    out["inputs"] = {
        k: _photometric(np.asarray(v, dtype=np.float32), rng, cfg) for k, v in out["inputs"].items()
    }
    if cfg.drop_groups and cfg.drop_group_p > 0:  # after the noise: a missing group is exactly 0
        for g in cfg.drop_groups:
            if g in out["inputs"] and rng.random() < cfg.drop_group_p:
                out["inputs"][g] = np.zeros_like(out["inputs"][g])
    target = np.asarray(out["target"], dtype=np.float32)
    if cfg.label_smoothing:
        target = smooth_labels(target, cfg.label_smoothing)
    out["target"] = np.ascontiguousarray(target)
    out["inputs"] = {k: np.ascontiguousarray(v) for k, v in out["inputs"].items()}
    loc = out.get("location")
    if loc is not None and len(loc) == 12 and rng.random() < cfg.unknown_region_p:
        out["location"] = unknown_region_vector(12)
    return out


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The Generator of one training sample: a pure function of (seed, epoch, index).

    Deriving every sample's randomness this way makes a run reproducible whatever the number of
    DataLoader workers, and makes resuming at an epoch boundary draw exactly the same samples.
    """
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), int(index)])
