"""GlaViTU and baselines in PyTorch (imports torch).

``build_model(name, input_groups=None, **overrides)`` builds a registered variant (``list_models()``);
``model(inputs, location=None) -> ModelOutput(logits, aux_logits)``. Checkpoints are safetensors with
a JSON header (``save_checkpoint`` / ``load_checkpoint``); ``import_keras`` converts the authors'
Keras ``.h5`` weights.
"""

from glacierlab.models.base import ModelOutput, set_mc_dropout
from glacierlab.models.checkpoint import load_checkpoint, load_weights, save_checkpoint
from glacierlab.models.config import GlaViTUConfig, ViTSettings
from glacierlab.models.keras_import import load_keras_weights
from glacierlab.models.location import (
    REGION_CODES,
    coordinate_vector,
    mean_binary_entropy,
    optimise_region_bias,
    region_vector,
)
from glacierlab.models.paper_import import import_keras
from glacierlab.models.registry import build_model, count_parameters, list_models

__all__ = [
    "REGION_CODES",
    "GlaViTUConfig",
    "ModelOutput",
    "ViTSettings",
    "build_model",
    "coordinate_vector",
    "count_parameters",
    "import_keras",
    "list_models",
    "load_checkpoint",
    "load_keras_weights",
    "load_weights",
    "mean_binary_entropy",
    "optimise_region_bias",
    "region_vector",
    "save_checkpoint",
    "set_mc_dropout",
]
