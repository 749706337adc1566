"""Location encodings (docs/GLAVITU_SPEC.md §1.3) and the region-bias optimisation for unseen regions (§2.4).

* Region one-hot: 11 region codes in the reference code's alphabetical order plus ``"unknown"``.
* Coordinates: ``[sin lat, cos lat, sin lon, cos lon]`` with the angles in radians.
* :func:`optimise_region_bias`: freeze the network and fit a softmaxed 12-logit region vector that
  minimises the mean binary entropy of the predictions on the target scene.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from glacierlab.errors import ConfigError, InputError, unknown_name

#: Region codes of the reference code, in one-hot order; the last slot is "unknown".
REGION_CODES: tuple[str, ...] = (
    "ALP",
    "AN",
    "AWA",
    "CA",
    "GR",
    "HMA",
    "LL",
    "NZ",
    "SA",
    "SC",
    "SVAL",
    "unknown",
)

#: Paper/figure region codes -> the reference code's codes (docs/GLAVITU_SPEC.md §3.2).
REGION_ALIASES: dict[str, str] = {
    "ANT": "AN",
    "CAU": "CA",
    "GRL": "GR",
    "TRP": "LL",
    "NZL": "NZ",
    "SAN": "SA",
    "SCA": "SC",
}


def region_vector(code: str) -> Tensor:
    """One-hot region vector (12,) float32 for a region code (paper aliases such as ``"GRL"`` accepted).

    Raises:
        UnknownNameError: The code is not a known region.
    """
    key = REGION_ALIASES.get(code, code)
    if key not in REGION_CODES:
        raise unknown_name("region code", code, [*REGION_CODES, *REGION_ALIASES])
    v = torch.zeros(len(REGION_CODES), dtype=torch.float32)
    v[REGION_CODES.index(key)] = 1.0
    return v


def coordinate_vector(lat_deg: float | Any, lon_deg: float | Any) -> Tensor:
    """``[sin lat, cos lat, sin lon, cos lon]`` (radians inside) as float32: (4,) or (N, 4) for arrays.

    Args:
        lat_deg: Latitude in degrees, [-90, 90] (scalar or array).
        lon_deg: Longitude in degrees, [-180, 360] (scalar or array).

    Raises:
        InputError: Values out of range or not finite.
    """
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    if not (np.all(np.isfinite(lat)) and np.all(np.abs(lat) <= 90.0)):
        raise InputError(f"latitude must be finite degrees in [-90, 90], got {lat_deg!r}.")
    if not (np.all(np.isfinite(lon)) and np.all((lon >= -180.0) & (lon <= 360.0))):
        raise InputError(f"longitude must be finite degrees in [-180, 360], got {lon_deg!r}.")
    lat, lon = np.broadcast_arrays(np.radians(lat), np.radians(lon))
    v = np.stack([np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)], axis=-1)
    return torch.from_numpy(v.astype(np.float32))


def _random_crops(
    scene: Mapping[str, Tensor], window: int, batch: int, gen: torch.Generator
) -> dict[str, Tensor]:
    first = next(iter(scene.values()))
    h, w = first.shape[-2:]
    ys = torch.randint(0, h - window + 1, (batch,), generator=gen).tolist()
    xs = torch.randint(0, w - window + 1, (batch,), generator=gen).tolist()
    out = {}
    for name, t in scene.items():
        t = t if t.ndim == 4 else t[None]
        idx = torch.randint(0, t.shape[0], (batch,), generator=gen).tolist()
        out[name] = torch.stack(
            [t[i, :, y : y + window, x : x + window] for i, y, x in zip(idx, ys, xs, strict=True)]
        )
    return out


def mean_binary_entropy(logits: Tensor) -> Tensor:
    """Mean binary Shannon entropy (nats) of the glacier probability, p clipped to [1e-6, 1 - 1e-6]."""
    p = torch.softmax(logits, dim=1)[:, 1].clamp(1e-6, 1 - 1e-6)
    return -(p * p.log() + (1 - p) * (1 - p).log()).mean()


def optimise_region_bias(
    model: nn.Module,
    data: Mapping[str, Tensor] | Iterable[Mapping[str, Tensor]],
    *,
    window: int = 384,
    batch_size: int = 8,
    steps_per_epoch: int | None = None,
    max_epochs: int = 100,
    lr: float = 1e-4,
    patience: int = 5,
    tol: float = 1e-8,
    seed: int = 0,
) -> Tensor:
    """Fit the region vector of a region-encoding model on an unlabelled scene (§2.4, "bias optimisation").

    The network is frozen and in eval mode; a free 12-logit vector (initialised to ones) is softmaxed
    and fed as the location; Adam (eps 1e-7) minimises the mean binary entropy of the predictions.
    Training stops after ``max_epochs`` or once the squared change of the logits over an epoch stays
    below ``tol`` for ``patience`` consecutive epochs.

    Args:
        model: A model with ``location_dim == 12``; its parameters are left unchanged.
        data: Either a scene as a mapping group -> (C, H, W) or (N, C, H, W) tensor (random
            ``window`` crops are drawn, ``batch_size`` per step), or an iterable of ready batches
            (mappings group -> (N, C, h, w)) re-used every epoch.
        window: Crop side in pixels for a scene (clipped to the scene size, rounded down to the
            model's ``size_multiple``).
        batch_size: Crops per step for a scene.
        steps_per_epoch: Steps per epoch for a scene; default ``max(1, H*W // window**2 // batch_size)``.
        max_epochs: Upper bound on epochs.
        lr: Adam learning rate (reference 1e-4).
        patience: Epochs with a change below ``tol`` before stopping.
        tol: Threshold on the squared logit change per epoch.
        seed: Seed of the crop sampler.

    Returns:
        The region weights (12,), non-negative and summing to 1; pass them as ``location``.

    Raises:
        ConfigError: The model has no region encoding.
        InputError: ``data`` is empty or smaller than the model's minimum window.
    """
    if getattr(model, "location_dim", 0) != len(REGION_CODES):
        raise ConfigError(
            "bias optimisation needs a region-encoding model: build_model(..., location='region')."
        )
    first_param = next(model.parameters())
    device, dtype = first_param.device, first_param.dtype
    if isinstance(data, Mapping):
        scene = {k: torch.as_tensor(v).to(device=device, dtype=dtype) for k, v in data.items()}
        h, w = next(iter(scene.values())).shape[-2:]
        m = int(getattr(model, "size_multiple", 1))
        win = min(window, h, w) // m * m
        if win < m:
            raise InputError(f"scene {h}x{w} is smaller than the model's minimum window of {m} px.")
        n_steps = steps_per_epoch or max(1, (h * w) // (win * win) // batch_size)
        gen = torch.Generator().manual_seed(seed)

        def batches() -> Iterable[Mapping[str, Tensor]]:
            return (_random_crops(scene, win, batch_size, gen) for _ in range(n_steps))

    else:
        fixed = list(data)
        if not fixed:
            raise InputError("no batches given to optimise_region_bias.")

        def batches() -> Iterable[Mapping[str, Tensor]]:
            return ({k: v.to(device=device, dtype=dtype) for k, v in b.items()} for b in fixed)

    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    logits = torch.ones(len(REGION_CODES), device=device, dtype=dtype, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=lr, eps=1e-7)
    calm = 0
    try:
        for _ in range(max_epochs):
            before = logits.detach().clone()
            for batch in batches():
                n = next(iter(batch.values())).shape[0]
                out = model(batch, torch.softmax(logits, dim=0).expand(n, -1))
                loss = mean_binary_entropy(out.logits)
                opt.zero_grad()
                loss.backward()
                opt.step()
            change = float(((logits.detach() - before) ** 2).sum())
            calm = calm + 1 if change < tol else 0
            if calm >= patience or not math.isfinite(change):
                break
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)
    return torch.softmax(logits.detach(), dim=0)
