"""Non-deep baselines on the same normalised inputs and the same blocks as the model.

* :func:`fit_random_forest`: a per-pixel scikit-learn ``RandomForestClassifier`` on every normalised band
  (optical, elevation, slope, ...) plus band ratios, trained on pixels sampled from the training area.
* :func:`fit_ratio_threshold`: one band ratio or index (NIR/red, brightness, NDSI when SWIR exists) and
  one threshold, both chosen to maximise glacier IoU on the training area.

Both take the :class:`~glacierlab.training.scene_dataset.TrainingScene` inputs (group -> (C, H, W) float32,
normalised) and its band names, and predict a (H, W) uint8 mask (1 = glacier).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from glacierlab.errors import InputError, NoDataError, unknown_name
from glacierlab.metrics import confusion_counts
from glacierlab.vocabulary import NODATA

_EPS = 1e-6
# Band-name aliases understood by the ratio features (lower case).
_ALIASES = {
    "nir": ("nir", "b4_nir", "b8", "near_infrared"),
    "red": ("red", "r", "b4"),
    "green": ("green", "g", "b3"),
    "swir": ("swir1", "swir", "b11"),
}


def _band(
    inputs: Mapping[str, np.ndarray], bands: Mapping[str, Sequence[str]], key: str
) -> np.ndarray | None:
    """The first band whose name matches ``key``'s aliases, or None."""
    for group, names in bands.items():
        for i, name in enumerate(names):
            if str(name).lower() in _ALIASES[key]:
                return inputs[group][i]
    return None


def ratio_features(
    inputs: Mapping[str, np.ndarray], bands: Mapping[str, Sequence[str]]
) -> dict[str, np.ndarray]:
    """Band ratios available from the band names: ``brightness`` (mean optical), ``nir_red``, ``ndsi``.

    Args:
        inputs: Group -> (C, H, W) normalised arrays (must contain ``optical``).
        bands: Group -> band names.

    Returns:
        Name -> (H, W) float32 feature.
    """
    if "optical" not in inputs:
        raise InputError(f"ratio features need an 'optical' group, got {list(inputs)}.")
    out = {"brightness": inputs["optical"].mean(axis=0)}
    nir, red, green, swir = (_band(inputs, bands, k) for k in ("nir", "red", "green", "swir"))
    if nir is not None and red is not None:
        out["nir_red"] = nir / (red + _EPS)
    if green is not None and swir is not None:
        out["ndsi"] = (green - swir) / (green + swir + _EPS)
    return {k: v.astype(np.float32) for k, v in out.items()}


def pixel_features(
    inputs: Mapping[str, np.ndarray], bands: Mapping[str, Sequence[str]]
) -> tuple[np.ndarray, list[str]]:
    """Stack every input band and the ratio features into (F, H, W) float32, with their names."""
    layers, names = [], []
    for group, arr in inputs.items():
        for i in range(arr.shape[0]):
            layers.append(arr[i])
            names.append(f"{group}:{bands.get(group, [str(j) for j in range(arr.shape[0])])[i]}")
    for name, feat in ratio_features(inputs, bands).items():
        layers.append(feat)
        names.append(name)
    return np.stack(layers).astype(np.float32), names


def _train_pixels(
    reference: np.ndarray, area: np.ndarray, n: int | None, rng: np.random.Generator
) -> np.ndarray:
    idx = np.flatnonzero(area & (reference != NODATA))
    if idx.size == 0:
        raise NoDataError(
            "the training area has no labelled pixel; check the split and the reference raster."
        )
    if n is not None and idx.size > n:
        idx = rng.choice(idx, size=n, replace=False)
    return idx


def fit_random_forest(
    inputs: Mapping[str, np.ndarray],
    bands: Mapping[str, Sequence[str]],
    reference: np.ndarray,
    area: np.ndarray,
    *,
    n_pixels: int | None = 50_000,
    seed: int = 0,
    **rf_kwargs: Any,
) -> Any:
    """Fit a per-pixel random forest on pixels of ``area`` (the training blocks).

    Args:
        inputs: Group -> (C, H, W) normalised arrays.
        bands: Group -> band names.
        reference: (H, W) uint8 (0, 1, 255 = no data).
        area: (H, W) bool training pixels.
        n_pixels: Pixels sampled (without replacement) for fitting; None = all.
        seed: Seed of the sampling and of the forest.
        **rf_kwargs: ``RandomForestClassifier`` arguments (default 100 trees, min 5 samples per leaf).

    Returns:
        The fitted classifier (its ``feature_names_in_`` are not set; see :func:`pixel_features`).
    """
    from sklearn.ensemble import RandomForestClassifier

    feats, _ = pixel_features(inputs, bands)
    idx = _train_pixels(reference, area, n_pixels, np.random.default_rng(seed))
    x = feats.reshape(feats.shape[0], -1)[:, idx].T
    y = reference.ravel()[idx]
    kw = {"n_estimators": 100, "min_samples_leaf": 5, "n_jobs": 1, "random_state": seed} | rf_kwargs
    return RandomForestClassifier(**kw).fit(x, y)


def predict_random_forest(
    forest: Any, inputs: Mapping[str, np.ndarray], bands: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """(H, W) uint8 glacier mask predicted by a forest from :func:`fit_random_forest`."""
    feats, _ = pixel_features(inputs, bands)
    c, h, w = feats.shape
    pred = forest.predict(feats.reshape(c, -1).T)
    return pred.reshape(h, w).astype(np.uint8)


@dataclass(frozen=True)
class RatioThreshold:
    """One-feature threshold classifier: glacier where ``feature`` > threshold (< when ``above`` is False)."""

    feature: str
    threshold: float
    above: bool
    train_iou: float

    def predict(self, inputs: Mapping[str, np.ndarray], bands: Mapping[str, Sequence[str]]) -> np.ndarray:
        """(H, W) uint8 glacier mask."""
        feats = ratio_features(inputs, bands)
        if self.feature not in feats:
            raise unknown_name("ratio feature", self.feature, feats)
        f = feats[self.feature]
        return (f > self.threshold if self.above else f < self.threshold).astype(np.uint8)


def fit_ratio_threshold(
    inputs: Mapping[str, np.ndarray],
    bands: Mapping[str, Sequence[str]],
    reference: np.ndarray,
    area: np.ndarray,
    features: Sequence[str] | None = None,
    n_thresholds: int = 200,
) -> RatioThreshold:
    """Choose the ratio feature, direction and threshold with the best glacier IoU on ``area``.

    Args:
        inputs: Group -> (C, H, W) normalised arrays.
        bands: Group -> band names.
        reference: (H, W) uint8 (0, 1, 255 = no data).
        area: (H, W) bool training pixels.
        features: Candidate features (default all of :func:`ratio_features`).
        n_thresholds: Candidate thresholds (quantiles of the feature on the training pixels).

    Returns:
        The fitted :class:`RatioThreshold`.
    """
    feats = ratio_features(inputs, bands)
    names = list(features) if features is not None else list(feats)
    idx = _train_pixels(reference, area, None, np.random.default_rng(0))
    y = reference.ravel()[idx] == 1
    best = RatioThreshold("brightness", 0.0, True, -1.0)
    for name in names:
        if name not in feats:
            raise unknown_name("ratio feature", name, feats)
        v = feats[name].ravel()[idx]
        for t in np.unique(np.quantile(v, np.linspace(0.0, 1.0, n_thresholds))):
            for above in (True, False):
                iou = confusion_counts(v > t if above else v < t, y).iou
                if iou > best.train_iou:
                    best = RatioThreshold(name, float(t), above, float(iou))
    return best
