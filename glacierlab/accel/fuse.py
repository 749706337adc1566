"""Inference-only speed-ups that keep the function: fold BatchNorm into the preceding convolutions.

``fuse_for_inference(model)`` returns an eval-mode copy in which every conv -> BN pair (fusion
branches, residual blocks, PUP decoder, up-convs) is replaced by one conv with rescaled weights and
bias, and (optionally) channels-last memory format. Outputs agree with the original to float32
rounding (about 1e-5 on the logits). Do not train the fused copy: BatchNorm is gone.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from glacierlab.errors import ConfigError
from glacierlab.models.layers import ConvBNAct, UpConv
from glacierlab.models.vit import PUPDecoder


def require_float32(model: nn.Module, who: str) -> None:
    """Raise :class:`~glacierlab.errors.ConfigError` unless every parameter of ``model`` is float32.

    ``who`` names the inference copy being made (``pack_for_cpu`` ...) in the message.
    """
    dtypes = {p.dtype for p in model.parameters()}
    if dtypes - {torch.float32}:
        raise ConfigError(
            f"{who} needs a float32 model, got parameters of {sorted(map(str, dtypes))}; start from the "
            "checkpoint's float32 model."
        )


def _scale_shift(bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    var, mean = bn.running_var, bn.running_mean  # always tracked in glacierlab models
    assert var is not None and mean is not None  # noqa: S101 - internal invariant, not user input
    scale = bn.weight / torch.sqrt(var + bn.eps)
    return scale, bn.bias - mean * scale


@torch.no_grad()
def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    scale, shift = _scale_shift(bn)
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
    conv.bias = nn.Parameter(bias * scale + shift)


def fuse_for_inference(model: nn.Module, *, channels_last: bool = True) -> nn.Module:
    """Eval-mode copy of ``model`` with BatchNorm folded into convolutions.

    Args:
        model: A glacierlab model (left unchanged).
        channels_last: Also convert to channels-last memory format (faster oneDNN convolutions on CPU).

    Returns:
        The fused copy, in eval mode, with ``requires_grad`` off; its up-convolutions run as transposed
        convolutions (:func:`~glacierlab.accel.rewrites.subpixel_upsampling`).
    """
    from glacierlab.accel.rewrites import subpixel_upsampling

    fused = subpixel_upsampling(copy.deepcopy(model).eval())
    for m in fused.modules():
        if isinstance(m, ConvBNAct | UpConv):
            _fold(m.conv, m.bn)  # type: ignore[arg-type]
            m.bn = nn.Identity()
        elif isinstance(m, PUPDecoder):
            for i, conv in enumerate(m.convs):
                _fold(conv, m.bns[i])  # type: ignore[arg-type]
                m.bns[i] = nn.Identity()
    for p in fused.parameters():
        p.requires_grad_(False)
    if channels_last:
        fused = fused.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return fused
