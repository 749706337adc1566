"""Common model interface: typed output, input checking, fusion + location encoding, MC-dropout switch.

Every glacierlab model is called as ``model(inputs, location=None) -> ModelOutput`` where ``inputs``
maps group names to float tensors (N, C_g, H, W) and ``location`` is (N, L) or (L,) or None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor, nn

from glacierlab.errors import ConfigError, InputError
from glacierlab.models.config import ModelConfig
from glacierlab.models.layers import Dropout, FusionBlock, LocationBlock, keras_init_
from glacierlab.models.vit import ViTEncoder


class ModelOutput(NamedTuple):
    """Model output. ``logits``: (N, n_classes, H, W) before softmax (class 0 non-glacier, 1 glacier).

    ``aux_logits``: deep-supervision logits of the same shape for models with that head, else None.
    """

    logits: Tensor
    aux_logits: Tensor | None


class SegmentationModel(nn.Module):
    """Base class: owns the config, the fusion block and the optional location block.

    Attributes:
        config: The frozen config the model was built from.
        variant: Registry name the model was built under (``"custom"`` when built from a config).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.variant = "custom"
        self.fusion = FusionBlock(
            config.groups,
            config.fusion_filters,
            gate=config.fusion_gate,
            slope=config.fusion_slope,
            dropout=config.dropout,
            train_dropout=config.dropout_in_training,
        )
        self.location_block = (
            LocationBlock(
                config.location_dim,
                config.fusion_filters,
                config.location_slope,
                config.dropout,
                config.dropout_in_training,
            )
            if config.location_dim
            else None
        )

    def reset_parameters(self) -> None:
        """Keras initialisation: Glorot-uniform kernels, zero biases, BN/LN 1/0, normal(0.05) positions."""
        inside_vit: set[int] = set()
        for m in self.modules():
            if isinstance(m, ViTEncoder):
                m.reset_parameters()
                inside_vit.update(id(c) for c in m.modules())
        for m in self.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d | nn.LayerNorm):
                m.reset_parameters()
            elif id(m) not in inside_vit:
                keras_init_(m, recurse=False)

    @property
    def input_groups(self) -> dict[str, int]:
        """Input group name -> channels, in the model's order."""
        return self.config.groups

    @property
    def location_dim(self) -> int:
        """Length of the location vector: 0 (none), 4 (coordinates) or 12 (regions)."""
        return self.config.location_dim

    @property
    def size_multiple(self) -> int:
        """Window height and width must be multiples of this many pixels."""
        return 1

    def _check(
        self, inputs: Mapping[str, Tensor], location: Tensor | None
    ) -> tuple[dict[str, Tensor], Tensor | None]:
        """Validate inputs and location; returns them (location broadcast to (N, L))."""
        if not isinstance(inputs, Mapping):
            raise InputError(
                f"model inputs must be a mapping group -> tensor (N, C, H, W), got {type(inputs).__name__}; "
                f"expected groups {self.input_groups}."
            )
        missing = [g for g in self.input_groups if g not in inputs]
        extra = [g for g in inputs if g not in self.input_groups]
        if missing or extra:
            raise InputError(
                f"input groups do not match the model: missing {missing}, unexpected {extra}; "
                f"expected {self.input_groups}. Build the model with input_groups=... to change them."
            )
        shape = None
        for name, c in self.input_groups.items():
            x = inputs[name]
            if not isinstance(x, Tensor) or x.ndim != 4 or not x.is_floating_point():
                got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
                raise InputError(f"input {name!r} must be a float tensor (N, C, H, W), got {got}.")
            if x.shape[1] != c:
                raise InputError(f"input {name!r} has {x.shape[1]} channels, the model expects {c}.")
            if shape is None:
                shape = (x.shape[0], *x.shape[2:])
            elif (x.shape[0], *x.shape[2:]) != shape:
                raise InputError(
                    f"input {name!r} has batch/size {tuple(x.shape)}, other groups have N, H, W = {shape}."
                )
            if not torch.compiler.is_compiling() and bool(torch.isnan(x).any()):
                raise InputError(
                    f"input {name!r} contains NaN; replace no-data by 0 (glacierlab.data.normalise does)."
                )
        assert shape is not None  # the config guarantees at least one group
        n, h, w = shape
        m = self.size_multiple
        if h % m or w % m:
            raise InputError(
                f"window {h}x{w} is not a multiple of {m} pixels; pad or crop to a multiple of {m} "
                "(e.g. 384)."
            )
        return dict(inputs), self._check_location(location, n, inputs[next(iter(self.input_groups))])

    def _check_location(self, location: Tensor | None, n: int, like: Tensor) -> Tensor | None:
        L = self.location_dim
        if L == 0:
            if location is not None:
                raise InputError(
                    "this model has no location encoding; pass location=None or build with location=..."
                )
            return None
        if location is None:
            if self.config.location != "region":
                raise InputError(
                    f"this model needs a location vector (N, {L}): use coordinate_vector(lat, lon)."
                )
            location = torch.zeros(L, device=like.device, dtype=like.dtype)
            location[-1] = 1.0  # the "unknown" region
        if not isinstance(location, Tensor) or location.shape[-1] != L or location.ndim not in (1, 2):
            got = tuple(location.shape) if isinstance(location, Tensor) else type(location).__name__
            raise InputError(f"location must be a tensor (N, {L}) or ({L},), got {got}.")
        location = location.to(device=like.device, dtype=like.dtype)
        if location.ndim == 1:
            location = location.expand(n, L)
        if location.shape[0] != n:
            raise InputError(f"location has {location.shape[0]} rows for a batch of {n}.")
        if self.training and n == 1:
            raise InputError(
                "the location block's BatchNorm needs a batch of >= 2 in training; use model.eval()."
            )
        return location

    def fuse(self, inputs: dict[str, Tensor], location: Tensor | None) -> Tensor:
        """Fusion block output plus the location embedding (broadcast over pixels) when present."""
        x = self.fusion(inputs)
        if self.location_block is not None and location is not None:
            x = x + self.location_block(location)[:, :, None, None]
        return x


def lcm(*values: int) -> int:
    """Least common multiple of positive integers."""
    out = 1
    for v in values:
        out = out * v // math.gcd(out, v)
    return out


def set_mc_dropout(model: nn.Module, enabled: bool) -> int:
    """Switch Monte-Carlo dropout on or off: dropout then acts even in ``model.eval()`` mode.

    BatchNorm keeps its mode (eval: moving statistics), as in the reference code's ``--mcdropout``.

    Args:
        model: A glacierlab model.
        enabled: True to sample dropout masks at inference.

    Returns:
        The number of dropout slots switched.

    Raises:
        ConfigError: ``enabled`` is True but the model has no dropout slot with a rate > 0.
    """
    slots = [m for m in model.modules() if isinstance(m, Dropout)]
    if enabled and not any(m.p > 0 for m in slots):
        raise ConfigError("the model has no dropout with rate > 0; build it with dropout=0.1 for MC dropout.")
    for m in slots:
        m.mc_active = bool(enabled)
    return len(slots)
