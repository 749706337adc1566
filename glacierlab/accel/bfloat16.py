"""bf16 CPU inference copy: the prepacked oneDNN convolutions in bfloat16, the rest under autocast.

On CPUs with AMX or AVX512-BF16 (Intel Xeon since Cooper Lake / Sapphire Rapids, recent AMD EPYC)
oneDNN's bf16 convolutions are about twice as fast as float32 (``benchmarks/bench_model.py --only
lowp``). The copy made by :func:`bfloat16_for_cpu` is :func:`~glacierlab.accel.packed.pack_for_cpu`
with bf16 weights and maps, except what stays float32:

* the class heads (they set the 0.5 decision);
* the convolutions oneDNN gets wrong in bf16 (:func:`~glacierlab.accel.rewrites.bf16_exact`);
* the ViT encoder (:class:`Float32Island`: on its few hundred tokens, casts cost more than bf16 saves).

The deep-supervision head, a training aid, is skipped (``aux_logits`` is None).

Its masks differ from float32 on a few pixels per thousand, those whose glacier probability is within
about 0.01 of 0.5; ``predict_scene`` checks every bf16 CPU run on held-out windows
(:mod:`glacierlab.inference.precision`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from glacierlab.errors import ConfigError
from glacierlab.models.base import ModelOutput


def cpu_bf16_support() -> tuple[bool, str]:
    """Whether this CPU runs bf16 convolutions natively, and a one-line description for messages.

    Returns:
        ``(native, description)``: native is True with AMX tiles or AVX512-BF16; without them oneDNN
        emulates bf16 (correct, but about 4x slower than float32).
    """
    cpu = torch.cpu
    if cpu._is_amx_tile_supported():
        return True, "AMX bf16 tiles"
    if cpu._is_avx512_bf16_supported():
        return True, "AVX512-BF16"
    return False, (
        "no native bf16 instructions (AVX512-BF16 or AMX): oneDNN emulates bf16, about 4x slower than float32 "
        "(benchmarks/bench_model.py --only lowp --onednn-isa AVX512_CORE_VNNI)"
    )


class Float32Island(nn.Module):
    """Runs the wrapped module in float32 with autocast off (the ViT encoder of a bf16 copy).

    The transformer works on a few dozen to a few hundred tokens: under autocast its many small ops
    would mostly cast (LayerNorm in float32, dense layers in bf16), costing more than bf16 saves there.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        """``module(x)`` in float32; (N, C, H, W) in, float32 out."""
        with torch.autocast("cpu", enabled=False):
            return self.module(x.float()).float()


class _NoAuxiliary(nn.Module):
    """Stands in for the deep-supervision head, a training aid that inference never reads."""

    def forward(self, x: Tensor) -> None:
        """Nothing: ``aux_logits`` is None."""
        return None


class BFloat16CPU(nn.Module):
    """Wraps a bf16-packed copy: casts the inputs, runs it under CPU bf16 autocast, returns float32 logits.

    Attributes:
        precision: ``"bfloat16"`` (what :class:`glacierlab.inference.runner.Runner` reads).
        input_groups: The wrapped model's input groups (group name -> channels).
        record: How it was made: ``kernels`` (the CPU's bf16 instructions), ``packed`` (oneDNN prepacked
            weights) and ``float32_parts`` (names of the modules kept in float32).
    """

    precision = "bfloat16"
    record: dict[str, Any]

    def __init__(self, packed: nn.Module, input_groups: Mapping[str, int]) -> None:
        super().__init__()
        self.model = packed
        self.input_groups = dict(input_groups)
        self.record = {}

    def forward(self, inputs: Mapping[str, Tensor], location: Tensor | None = None) -> ModelOutput:
        """As the model: ``inputs`` group -> (N, C, H, W) normalised float maps; logits in float32."""
        x = {g: t.to(torch.bfloat16).contiguous(memory_format=torch.channels_last) for g, t in inputs.items()}
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = self.model(x, location=location)
        aux = None if out.aux_logits is None else out.aux_logits.float()
        return ModelOutput(out.logits.float(), aux)


def bfloat16_for_cpu(model: nn.Module) -> BFloat16CPU:
    """bf16 CPU inference copy of a float32 glacierlab model (inference only, no autograd).

    Args:
        model: A float32 model (left unchanged).

    Returns:
        The copy, in eval mode, called like the model; ``precision == "bfloat16"``.

    Raises:
        ConfigError: The model is not float32, or this torch build has no oneDNN bf16 support.
    """
    from glacierlab.accel.fuse import fuse_for_inference, require_float32
    from glacierlab.accel.packed import PackedConv, onednn_bf16_supported, pack_for_cpu, packing_available

    if not onednn_bf16_supported():
        raise ConfigError(
            "bf16 CPU inference needs oneDNN with bf16 support, which this torch build or CPU lacks; "
            "use precision='float32' (or 'int8')."
        )
    require_float32(model, "bfloat16_for_cpu")
    groups = getattr(model, "input_groups", None)
    if groups is None:
        raise ConfigError(f"bfloat16_for_cpu needs a glacierlab model with input_groups, got {type(model).__name__}.")
    copy: Any = pack_for_cpu(model, torch.bfloat16) if packing_available() else fuse_for_inference(model)
    if isinstance(getattr(copy, "vit", None), nn.Module):
        copy.vit = Float32Island(copy.vit)
    if isinstance(getattr(copy, "aux_head", None), nn.Module):
        copy.aux_head = _NoAuxiliary()
    for name, m in copy.named_modules():  # other dense layers (SE gates) hold bf16 weights: no cast per call
        if isinstance(m, nn.Linear) and not name.startswith("vit."):
            m.to(torch.bfloat16)
    out = BFloat16CPU(copy, groups).eval()
    kernels = cpu_bf16_support()[1]
    islands = [n for n, m in copy.named_modules() if isinstance(m, Float32Island)]
    out.record = {
        "kernels": kernels,
        "packed": packing_available(),
        "float32_parts": islands
        + [
            n
            for n, m in copy.named_modules()
            if isinstance(m, PackedConv) and m.dtype == torch.float32 and not n.startswith(tuple(islands))
        ],
    }
    return out
