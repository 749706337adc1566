"""Registry, configs and factory errors."""

from __future__ import annotations

import pytest
import torch

from glacierlab.errors import ConfigError, UnknownNameError
from glacierlab.models import GlaViTUConfig, ViTSettings, build_model, list_models
from glacierlab.models.config import config_from_dict, config_to_dict
from glacierlab.models.registry import variant_config


def test_list_models_names_every_variant() -> None:
    names = list(list_models())
    assert names == ["glavitu", "glavitu_lite", "glavitu_tiny", "setr_b16", "resunet", "transunet"]
    assert all(isinstance(d, str) and d for d in list_models().values())


def test_unknown_model_lists_valid_and_closest() -> None:
    with pytest.raises(UnknownNameError) as err:
        build_model("glavitu_tyni")
    msg = str(err.value)
    assert "glavitu_tiny" in msg and "Did you mean" in msg and "setr_b16" in msg


def test_unknown_override_field() -> None:
    with pytest.raises(UnknownNameError, match="dropuot"):
        build_model("glavitu_tiny", dropuot=0.2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dropout": 1.5},
        {"fusion_filters": 0},
        {"input_groups": {}},
        {"input_groups": {"optical": 0}},
        {"vit": {"dim": 10, "heads": 3}},
        {"image_size": 100},  # not a multiple of the patch size (8)
    ],
)
def test_invalid_values_raise_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        variant_config("glavitu_tiny", **kwargs)


def test_unknown_location_name() -> None:
    with pytest.raises(UnknownNameError, match="region"):
        GlaViTUConfig(location="regions")


def test_partial_vit_override_keeps_other_fields() -> None:
    cfg = variant_config("glavitu", vit={"depth": 2})
    assert cfg.vit == ViTSettings(depth=2)
    model = build_model("glavitu_tiny", vit={"depth": 3})
    assert len(model.vit.blocks) == 3 and model.variant == "glavitu_tiny"


def test_config_is_frozen_and_round_trips() -> None:
    cfg = variant_config("glavitu_lite", input_groups={"optical": 4, "thermal": 1}, location="coordinates")
    with pytest.raises(AttributeError):
        cfg.dropout = 0.5  # type: ignore[misc]
    again = config_from_dict(config_to_dict(cfg))
    assert again == cfg and again.groups == {"optical": 4, "thermal": 1} and again.location_dim == 4


def test_config_from_dict_rejects_unknown_fields() -> None:
    d = config_to_dict(GlaViTUConfig())
    d["bogus"] = 1
    with pytest.raises(ConfigError, match="bogus"):
        config_from_dict(d)


def test_model_exposes_interface_attributes() -> None:
    m = build_model("glavitu_tiny", input_groups={"optical": 4}, location="region")
    assert m.input_groups == {"optical": 4} and m.location_dim == 12
    assert isinstance(m.config, GlaViTUConfig)
    with torch.device("meta"):
        assert build_model("resunet").location_dim == 0
