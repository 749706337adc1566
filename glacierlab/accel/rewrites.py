"""Module rewrites that make a GlaViTU fast or correct on CPU without changing what it computes.

The model files describe the paper's network; the oneDNN-specific knowledge is here:

* :func:`subpixel_upsampling`: each ``UpConv`` (nearest x2, then a 2x2 conv) runs without autograd as the
  equivalent stride-2 transposed 3x3 conv on the small map (same function, 9/16 of the multiply-adds);
* :func:`autocast_safe`: the convolutions oneDNN computes wrongly in bf16 (:func:`bf16_exact`) run in
  float32 under CPU autocast.

Both replace modules in place by ones holding the same parameters under the same names, so state dicts,
optimisers and checkpoints are unaffected.
"""

from __future__ import annotations

from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glacierlab.models.layers import UpConv

M = TypeVar("M", bound=nn.Module)


def bf16_exact(conv: nn.Conv2d) -> bool:
    """Whether oneDNN computes this convolution correctly in bf16 on CPU (torch 2.13).

    It does not for a kernel equal to a stride of 8 or more on fewer than 32 input channels (a ViT patch
    embedding on the fused maps of ``glavitu_lite``): the outputs differ from float32 by more than their
    own size. Such convolutions stay float32 in bf16 copies (:func:`glacierlab.accel.packed.pack_for_cpu`)
    and under CPU autocast (:func:`autocast_safe`).
    """
    k, s = tuple(conv.kernel_size), tuple(conv.stride)
    return not (k == s and min(s) >= 8 and conv.in_channels < 32)


def subpixel_kernel(w: Tensor) -> Tensor:
    """Turn a 2x2 conv kernel (O, I, 2, 2) applied after nearest x2 into a conv-transpose kernel (I, O, 3, 3).

    Along one axis the transposed conv gives out[2i] = K[1] x[i] and out[2i+1] = K[2] x[i] + K[0] x[i+1];
    nearest x2 followed by the 2-tap kernel (w0, w1) gives out[2i] = (w0 + w1) x[i] and
    out[2i+1] = w0 x[i] + w1 x[i+1]. Hence K = (w1, w0 + w1, w0) per axis.
    """
    rows = torch.stack([w[:, :, 1], w[:, :, 0] + w[:, :, 1], w[:, :, 0]], dim=2)  # (O, I, 3, 2)
    k = torch.stack([rows[..., 1], rows[..., 0] + rows[..., 1], rows[..., 0]], dim=3)  # (O, I, 3, 3)
    return k.transpose(0, 1).contiguous()


class SubpixelUpConv(UpConv):
    """An :class:`~glacierlab.models.layers.UpConv` computed as a transposed conv when autograd is off."""

    def __init__(self, up: UpConv) -> None:
        nn.Module.__init__(self)
        self.conv, self.bn = up.conv, up.bn
        self.train(up.training)

    def forward(self, x: Tensor) -> Tensor:
        """Upsample x2: (N, C_in, H, W) -> (N, C_out, 2H, 2W); the literal path while training."""
        if torch.is_grad_enabled():
            return super().forward(x)
        w = subpixel_kernel(self.conv.weight)
        return self.bn(F.conv_transpose2d(x, w, self.conv.bias, stride=2, padding=1, output_padding=1))


class AutocastFloat32Conv2d(nn.Conv2d):
    """A convolution that leaves CPU autocast and runs in float32 (one multiply-add per input value)."""

    @classmethod
    def of(cls, conv: nn.Conv2d) -> AutocastFloat32Conv2d:
        """The same convolution (shared parameters, same names), float32 under CPU autocast."""
        new = cls.__new__(cls)
        new.__dict__.update(conv.__dict__)  # parameters, buffers, hooks and settings, shared
        return new

    def forward(self, x: Tensor) -> Tensor:
        """Float32 convolution under CPU autocast, the plain one otherwise."""
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


def _replace(model: M, pick: type[nn.Module], make: object) -> M:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            new = make(child) if type(child) is pick else None  # type: ignore[operator]
            if new is not None:
                setattr(parent, name, new)
    return model


def subpixel_upsampling(model: M) -> M:
    """Every ``UpConv`` of ``model`` (in place) computed as a transposed conv without autograd; returns it."""
    return _replace(model, UpConv, SubpixelUpConv)


def autocast_safe(model: M) -> M:
    """Keep the convolutions oneDNN gets wrong in bf16 (:func:`bf16_exact`) float32 under CPU autocast.

    In place; returns ``model``.
    """
    return _replace(model, nn.Conv2d, lambda c: None if bf16_exact(c) else AutocastFloat32Conv2d.of(c))
