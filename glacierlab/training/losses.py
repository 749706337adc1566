"""Focal loss with soft labels and the deep-supervision total (docs/GLAVITU_SPEC.md §4 "Loss").

Targets are (N, 2, H, W) soft one-hot maps (channel 0 ice-free, 1 glacier). A no-data pixel has the
all-zero target (0, 0) and therefore contributes exactly 0 to the sum; the mean is still taken over all
pixels of the batch, as the paper's Keras loss does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from glacierlab.errors import InputError
from glacierlab.vocabulary import NODATA

#: Probabilities are clipped to [EPS, 1 - EPS] before the log (Keras backend epsilon).
EPS = 1e-7
#: Value of the uint8 reference raster that marks no data.


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Mean focal loss of softmax probabilities against soft labels, without class weights (alpha).

    Per pixel: ``sum_c -y_c (1 - p_c)^gamma log p_c`` with ``p = softmax(logits)`` clipped to
    [1e-7, 1 - 1e-7]; then the mean over pixels and batch.

    Args:
        logits: (N, C, H, W) pre-softmax scores (any float dtype; computed in float32).
        target: (N, C, H, W) soft labels in [0, 1]; all-zero pixels are no data.
        gamma: Focusing exponent, >= 0 (paper 2; 0 gives cross-entropy).

    Returns:
        Scalar tensor.

    Raises:
        InputError: If the shapes differ or gamma < 0.
    """
    if logits.shape != target.shape or logits.ndim != 4:
        raise InputError(
            f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must both be (N, C, H, W)."
        )
    if gamma < 0:
        raise InputError(f"focal gamma must be >= 0, got {gamma}.")
    p = F.softmax(logits.float(), dim=1).clamp(EPS, 1.0 - EPS)
    per_pixel = -(target.float() * (1.0 - p) ** gamma * torch.log(p)).sum(dim=1)
    return per_pixel.mean()


def total_loss(
    logits: torch.Tensor,
    aux_logits: torch.Tensor | None,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    aux_weight: float = 0.5,
) -> torch.Tensor:
    """Final-head focal loss plus ``aux_weight`` x the deep-supervision focal loss (same target).

    Args:
        logits: (N, 2, H, W) final-head logits.
        aux_logits: (N, 2, H, W) deep-supervision logits, or None for models without that head.
        target: (N, 2, H, W) soft labels.
        gamma: Focal exponent.
        aux_weight: Weight of the deep-supervision loss (paper 0.5).

    Returns:
        Scalar tensor.
    """
    loss = focal_loss(logits, target, gamma)
    if aux_logits is not None and aux_weight:
        loss = loss + aux_weight * focal_loss(aux_logits, target, gamma)
    return loss


def reference_to_onehot(reference: np.ndarray) -> np.ndarray:
    """Turn a uint8 reference (0 ice-free, 1 glacier, 255 no data) into a (2, H, W) float32 one-hot.

    Args:
        reference: (H, W) integer array with values in {0, 1, 255}.

    Returns:
        (2, H, W) float32; (1, 0) ice-free, (0, 1) glacier, (0, 0) no data.

    Raises:
        InputError: If other values occur.
    """
    ref = np.asarray(reference)
    bad = ~np.isin(ref, (0, 1, NODATA))
    if bad.any():
        raise InputError(
            f"reference values must be 0 (ice-free), 1 (glacier) or {NODATA} (no data); found "
            f"{np.unique(ref[bad])[:5].tolist()}."
        )
    out = np.zeros((2, *ref.shape), dtype=np.float32)
    out[0] = ref == 0
    out[1] = ref == 1
    return out


def smooth_labels(target: np.ndarray, factor: float) -> np.ndarray:
    """Label smoothing ``y <- (1 - factor) y + factor / C`` on valid pixels only.

    The paper smooths every pixel, so its padded pixels get (0.05, 0.05) and add a little loss; here
    no-data pixels stay (0, 0) so that they contribute nothing, as the loss contract says.

    Args:
        target: (C, H, W) one-hot (all-zero = no data).
        factor: Smoothing in [0, 1) (paper 0.1).

    Returns:
        A new float32 array.
    """
    if not 0.0 <= factor < 1.0:
        raise InputError(f"label smoothing must be in [0, 1), got {factor}.")
    valid = target.sum(axis=0, keepdims=True) > 0
    smoothed = (1.0 - factor) * target + factor / target.shape[0]
    return np.where(valid, smoothed, 0.0).astype(np.float32)
