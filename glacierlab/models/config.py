"""Frozen, validated hyper-parameter configs for GlaViTU and the baselines (docs/GLAVITU_SPEC.md §1).

Every model is built from one of these dataclasses. They are frozen (hashable, safe to share) and
check their values in ``__post_init__``; a bad value raises :class:`~glacierlab.errors.ConfigError`
naming the field, the value and the valid range. ``config_to_dict`` / ``config_from_dict`` give the
JSON form stored in checkpoints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from glacierlab.errors import ConfigError, unknown_name
from glacierlab.vocabulary import GROUP_BANDS

#: Paper feature groups and their channel counts (docs/GLAVITU_SPEC.md §3.1). Custom groups are allowed.
STANDARD_GROUPS: dict[str, int] = {g: len(b) for g, b in GROUP_BANDS.items()}

#: Location encodings: name -> length of the location vector.
LOCATION_DIMS: dict[str, int] = {"none": 0, "coordinates": 4, "region": 12}


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}.")


def _groups(value: Any) -> tuple[tuple[str, int], ...]:
    """Normalise input groups (mapping or pairs) to an ordered tuple of (name, channels)."""
    items = list(value.items()) if isinstance(value, Mapping) else list(value)
    if not items:
        raise ConfigError("input_groups is empty; give at least one group, e.g. {'optical': 6, 'dem': 2}.")
    out = []
    for item in items:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise ConfigError(f"input_groups entries must be (name, channels) pairs, got {item!r}.")
        name, channels = item
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"input group name must be an identifier-like string, got {name!r}.")
        _positive(f"input_groups[{name!r}]", channels)
        out.append((name, int(channels)))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"input group names must be unique, got {names}.")
    return tuple(out)


@dataclass(frozen=True)
class ModelConfig:
    """Settings shared by every model: input groups, fusion block, dropout, classes.

    Attributes:
        input_groups: Ordered (group name, channels) pairs, e.g. ``(("optical", 6), ("dem", 2))``.
            A mapping is accepted and converted.
        n_classes: Output classes (2: non-glacier, glacier).
        fusion_filters: Channels of every fusion branch (and of the fused map), paper 64.
        fusion_gate: Squeeze-excitation gate per branch (paper True; IGARSS version False).
        fusion_slope: LeakyReLU slope in the fusion branches and residual blocks (paper 0.2, IGARSS 0.3).
        location: ``"none"``, ``"region"`` (12-long one-hot) or ``"coordinates"`` (sin/cos lat/lon).
        location_slope: LeakyReLU slope in the location block (Keras layer default 0.3).
        dropout: Dropout rate of every dropout slot, in [0, 1). Paper 0.1.
        dropout_in_training: If False (the released code's behaviour), dropout is inactive even in
            training mode; it only acts in Monte-Carlo mode (``set_mc_dropout``).
        image_size: Window side in pixels that the positional embedding is defined for (paper 384).
            Other window sizes interpolate the embedding.
    """

    input_groups: tuple[tuple[str, int], ...] = (("optical", 6), ("dem", 2))
    n_classes: int = 2
    fusion_filters: int = 64
    fusion_gate: bool = True
    fusion_slope: float = 0.2
    location: str = "none"
    location_slope: float = 0.3
    dropout: float = 0.1
    dropout_in_training: bool = False
    image_size: int = 384

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_groups", _groups(self.input_groups))
        _positive("n_classes", self.n_classes)
        _positive("fusion_filters", self.fusion_filters)
        _positive("image_size", self.image_size)
        if self.location not in LOCATION_DIMS:
            raise unknown_name("location encoding", self.location, LOCATION_DIMS)
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        for name in ("fusion_slope", "location_slope"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)!r}.")

    @property
    def location_dim(self) -> int:
        """Length of the location vector (0 without location encoding)."""
        return LOCATION_DIMS[self.location]

    @property
    def groups(self) -> dict[str, int]:
        """Input groups as an ordered dict name -> channels."""
        return dict(self.input_groups)


@dataclass(frozen=True)
class ViTSettings:
    """Transformer encoder settings (paper GlaViTU: patch 16, width 64, 12 blocks, 4 heads, MLP 256).

    Attributes:
        patch_size: Side of the square patches in pixels.
        dim: Token width.
        depth: Number of transformer blocks.
        heads: Attention heads; ``dim`` must be divisible by it.
        mlp_dim: Hidden width of the MLP.
        pup_filters: Filters of the PUP decoder's 3x3 convs.
    """

    patch_size: int = 16
    dim: int = 64
    depth: int = 12
    heads: int = 4
    mlp_dim: int = 256
    pup_filters: int = 64

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _positive(f.name, getattr(self, f.name))
        if self.dim % self.heads:
            raise ConfigError(f"ViT dim ({self.dim}) must be divisible by heads ({self.heads}).")


@dataclass(frozen=True)
class GlaViTUConfig(ModelConfig):
    """GlaViTU: fusion, optional location block, SETR branch (+ residual), ResU-Net (+ residual), heads.

    Attributes:
        vit: Transformer settings of the SETR branch.
        resunet_steps: Poolings of the residual U-Net (paper 3).
        resunet_filters: Filters of its first level (paper 64); doubled per level.
    """

    vit: ViTSettings = field(default_factory=ViTSettings)
    resunet_steps: int = 3
    resunet_filters: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.vit, Mapping):
            object.__setattr__(self, "vit", ViTSettings(**self.vit))
        _positive("resunet_steps", self.resunet_steps)
        _positive("resunet_filters", self.resunet_filters)
        if self.image_size % self.vit.patch_size:
            raise ConfigError(
                f"image_size {self.image_size} must be a multiple of patch_size {self.vit.patch_size}."
            )


@dataclass(frozen=True)
class SETRConfig(ModelConfig):
    """SETR baseline: fusion, ViT, PUP decoder ending in the class conv, bilinear x2 of probabilities.

    Attributes:
        vit: Transformer settings (SETR-B/16: width 768, MLP 3072, 12 blocks, 12 heads, PUP 256).
        upsample_probabilities: Apply the last bilinear x2 after the softmax, as the reference does;
            the returned logits are then the log of the upsampled probabilities.
    """

    vit: ViTSettings = field(
        default_factory=lambda: ViTSettings(
            patch_size=16, dim=768, depth=12, heads=12, mlp_dim=3072, pup_filters=256
        )
    )
    upsample_probabilities: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.vit, Mapping):
            object.__setattr__(self, "vit", ViTSettings(**self.vit))


@dataclass(frozen=True)
class ResUNetConfig(ModelConfig):
    """Residual U-Net baseline: fusion, ResU-Net whose final 1x1 layer is the classifier.

    Attributes:
        resunet_steps: Poolings (baseline 4: 64/128/256/512, bottleneck 1024).
        resunet_filters: Filters of the first level.
    """

    resunet_steps: int = 4
    resunet_filters: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive("resunet_steps", self.resunet_steps)
        _positive("resunet_filters", self.resunet_filters)


@dataclass(frozen=True)
class TransUNetConfig(ModelConfig):
    """TransU-Net baseline (IGARSS): ResU-Net encoder, ViT (patch 1) at 1/2^(steps+1), decoder, + fused map.

    Attributes:
        vit: Transformer settings; ``patch_size`` must be 1.
        resunet_steps: Poolings of the encoder (3).
        resunet_filters: Filters of the first level (64).
    """

    vit: ViTSettings = field(default_factory=lambda: ViTSettings(patch_size=1, pup_filters=1))
    resunet_steps: int = 3
    resunet_filters: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.vit, Mapping):
            object.__setattr__(self, "vit", ViTSettings(**self.vit))
        if self.vit.patch_size != 1:
            raise ConfigError(
                f"TransU-Net uses patch_size 1 (one token per pixel), got {self.vit.patch_size}."
            )
        _positive("resunet_steps", self.resunet_steps)
        _positive("resunet_filters", self.resunet_filters)


CONFIG_CLASSES: dict[str, type[ModelConfig]] = {
    c.__name__: c for c in (GlaViTUConfig, SETRConfig, ResUNetConfig, TransUNetConfig)
}


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    """JSON-ready dict of a config, with its class name under ``"config_class"``."""
    d = dataclasses.asdict(config)
    d["input_groups"] = [[n, c] for n, c in config.input_groups]
    d["config_class"] = type(config).__name__
    return d


def config_from_dict(data: Mapping[str, Any]) -> ModelConfig:
    """Rebuild a config written by :func:`config_to_dict`.

    Raises:
        ConfigError: The class name or a field is unknown or invalid.
    """
    data = dict(data)
    cls_name = data.pop("config_class", None)
    if cls_name not in CONFIG_CLASSES:
        raise unknown_name("config class", cls_name, CONFIG_CLASSES)
    cls = CONFIG_CLASSES[cls_name]
    names = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(set(data) - names)
    if extra:
        raise ConfigError(f"unknown fields for {cls_name}: {extra}; valid fields: {sorted(names)}.")
    data["input_groups"] = tuple((str(n), int(c)) for n, c in data.get("input_groups", ()))
    return cls(**data)
