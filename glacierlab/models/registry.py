"""Named model variants and the single factory ``build_model(name, input_groups=None, **overrides)``.

| name | model |
|---|---|
| ``glavitu`` | the paper model (optical 6 + DEM 2: 10,031,938 Keras-counted parameters without the DS head) |
| ``glavitu_lite`` | CPU-friendly GlaViTU (about 1.06 M parameters, 16 channels, 4 transformer blocks) |
| ``glavitu_tiny`` | a few thousand parameters, for tests |
| ``setr_b16``, ``resunet``, ``transunet`` | baselines of §1.7 with the IGARSS defaults |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from glacierlab.errors import ConfigError, unknown_name
from glacierlab.models.base import SegmentationModel
from glacierlab.models.baselines import SETR, ResUNetModel, TransUNet
from glacierlab.models.config import (
    GlaViTUConfig,
    ModelConfig,
    ResUNetConfig,
    SETRConfig,
    TransUNetConfig,
    ViTSettings,
)
from glacierlab.models.glavitu import GlaViTU

_IGARSS = {"fusion_gate": False, "fusion_slope": 0.3, "dropout_in_training": True}

#: name -> (config class, default overrides, one-line description)
_VARIANTS: dict[str, tuple[type[ModelConfig], dict[str, Any], str]] = {
    "glavitu": (GlaViTUConfig, {}, "GlaViTU as in the paper (10.03 M parameters for optical + DEM)"),
    "glavitu_lite": (
        GlaViTUConfig,
        {
            "fusion_filters": 16,
            "resunet_filters": 16,
            "resunet_steps": 3,
            "vit": ViTSettings(patch_size=16, dim=64, depth=4, heads=4, mlp_dim=256, pup_filters=32),
        },
        "CPU-friendly GlaViTU: 16 channels at full resolution, 4 transformer blocks",
    ),
    "glavitu_tiny": (
        GlaViTUConfig,
        {
            "fusion_filters": 8,
            "resunet_filters": 8,
            "resunet_steps": 2,
            "image_size": 64,
            "vit": ViTSettings(patch_size=8, dim=16, depth=1, heads=2, mlp_dim=32, pup_filters=8),
        },
        "tiny GlaViTU for tests (windows that are multiples of 8 px)",
    ),
    "setr_b16": (SETRConfig, dict(_IGARSS), "SETR-B/16 baseline (about 101.7 M parameters)"),
    "resunet": (ResUNetConfig, dict(_IGARSS), "residual U-Net baseline, 4 steps (about 32.6 M parameters)"),
    "transunet": (TransUNetConfig, dict(_IGARSS), "TransU-Net baseline of the IGARSS paper (about 8.9 M)"),
}

_MODEL_CLASSES: dict[type[ModelConfig], type[SegmentationModel]] = {
    GlaViTUConfig: GlaViTU,
    SETRConfig: SETR,
    ResUNetConfig: ResUNetModel,
    TransUNetConfig: TransUNet,
}


def list_models() -> dict[str, str]:
    """Registered variant names with a one-line description, in registration order."""
    return {name: desc for name, (_, _, desc) in _VARIANTS.items()}


def variant_config(name: str, input_groups: Mapping[str, int] | None = None, **overrides: Any) -> ModelConfig:
    """The config of a named variant with overrides applied (no model is built).

    ``vit`` may be overridden by a partial mapping, e.g. ``vit={"depth": 2}``.

    Raises:
        UnknownNameError: ``name`` or an override key is unknown.
        ConfigError: An override value is invalid.
    """
    if name not in _VARIANTS:
        raise unknown_name("model", name, _VARIANTS, hint="See glacierlab.models.list_models().")
    cls, defaults, _ = _VARIANTS[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in overrides:
        if key not in fields:
            raise unknown_name(f"{name} config field", key, fields)
    kwargs: dict[str, Any] = {**defaults, **overrides}
    if isinstance(overrides.get("vit"), Mapping):
        vit_field: Any = next(f for f in dataclasses.fields(cls) if f.name == "vit")
        base = defaults.get("vit") or vit_field.default_factory()
        try:
            kwargs["vit"] = dataclasses.replace(base, **overrides["vit"])
        except TypeError as err:
            raise ConfigError(f"bad vit override {overrides['vit']!r}: {err}") from err
    if input_groups is not None:
        kwargs["input_groups"] = input_groups
    return cls(**kwargs)


def build_from_config(
    config: ModelConfig, variant: str = "custom", *, device: str | torch.device | None = None
) -> SegmentationModel:
    """Build the model class matching ``config``.

    Args:
        config: The model's config.
        variant: Registry name to record on the model.
        device: Where its weights live (default torch's default device), freshly initialised Keras-style.
            ``"meta"`` gives shapes only: no memory, no initialisation (fill it with ``to_empty`` and a
            complete state, as :func:`~glacierlab.models.checkpoint.load_checkpoint` does).
    """
    model_cls = _MODEL_CLASSES.get(type(config))
    if model_cls is None:
        raise ConfigError(
            f"no model for config class {type(config).__name__}; "
            f"valid: {[c.__name__ for c in _MODEL_CLASSES]}."
        )
    with torch.device("meta"):  # build without allocating or initialising twice
        model = model_cls(config)
    model.variant = variant
    if torch.device(device or torch.get_default_device()).type == "meta":
        return model
    model = model.to_empty(device=device or torch.get_default_device())
    model.reset_parameters()
    return model


def build_model(
    name: str, input_groups: Mapping[str, int] | None = None, **overrides: Any
) -> SegmentationModel:
    """Build a registered model.

    Args:
        name: Variant name, one of :func:`list_models`.
        input_groups: Group name -> channels, in order (default optical 6 + DEM 2); custom groups
            such as ``{"optical": 4}`` (Landsat NIR+RGB) are fine.
        **overrides: Config fields to change, e.g. ``location="region"``, ``dropout_in_training=True``.

    Returns:
        The model in training mode (``model.eval()`` before inference).

    Raises:
        UnknownNameError: ``name`` or an override key is unknown (lists valid names, closest first).
        ConfigError: An override value is invalid.
    """
    return build_from_config(variant_config(name, input_groups, **overrides), variant=name)


def count_parameters(model: nn.Module, *, keras: bool = True, aux_head: bool = True) -> int:
    """Number of parameters.

    Args:
        model: The model.
        keras: Count BatchNorm moving mean/variance too, as Keras does (not ``num_batches_tracked``).
        aux_head: Include the deep-supervision head (Keras "training model"); False gives the
            "test model" count of the paper (10,031,938 for GlaViTU optical + DEM).
    """
    total = 0
    for name, p in model.named_parameters():
        if aux_head or not name.startswith("aux_head."):
            total += p.numel()
    if keras:
        for name, b in model.named_buffers():
            if name.endswith(("running_mean", "running_var")):
                total += b.numel()
    return total
