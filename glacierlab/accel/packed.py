"""Fastest exact CPU inference copy: BatchNorm folded, oneDNN weights prepacked, conv epilogues fused.

``pack_for_cpu(model)`` starts from :func:`glacierlab.accel.fuse.fuse_for_inference` (BatchNorm folded
into the convolutions, channels-last) and then replaces

* every conv -> LeakyReLU unit by one oneDNN convolution with the bias and the LeakyReLU in its epilogue;
* every residual block's ``main(x) + proj(x)`` by a 1x1 convolution that accumulates into ``main(x)``
  in place (oneDNN "sum" post-op);
* every up-conv (nearest x2 + 2x2 conv) by one stride-2 transposed 3x3 convolution, its kernel built
  once (:func:`glacierlab.accel.rewrites.subpixel_kernel`, 9/16 of the literal multiply-adds);
* the fusion block's gated sum by an in-place multiply and multiply-add;
* every other 2-D convolution (heads, patch embedding, PUP decoder) by a prepacked oneDNN convolution.

Weights are reordered once into oneDNN's blocked layout instead of on every call, and activations stay
channels-last throughout, so no layout conversion happens between layers. Results equal the plain
model to float32 rounding (tests/accel/test_packed.py). The copy is for inference only: no autograd,
no training, no ``state_dict`` round trip (the packed weights are opaque oneDNN tensors).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from glacierlab.accel.fuse import fuse_for_inference, require_float32
from glacierlab.accel.rewrites import bf16_exact, subpixel_kernel
from glacierlab.errors import ConfigError
from glacierlab.models.layers import ConvBNAct, FusionBlock, ResBlock, UpConv

_CL = torch.channels_last


@functools.cache
def packing_available() -> bool:
    """Whether this torch build has the oneDNN fused-convolution operators (x86-64 CPU builds do)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        x = torch.ones(1, 2, 4, 4).contiguous(memory_format=_CL)
        w = torch.ops.mkldnn._reorder_convolution_weight(torch.ones(2, 2, 3, 3), [1, 1], [1, 1], [1, 1], 1)
        with torch.inference_mode():
            y = torch.ops.mkldnn._convolution_pointwise(
                x, w, None, [1, 1], [1, 1], [1, 1], 1, "leaky_relu", [0.5], ""
            )
        return bool(y[0, 0, 1, 1] == 18.0)
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


@functools.cache
def onednn_bf16_supported() -> bool:
    """Whether oneDNN can run bf16 convolutions on this CPU (natively or emulated)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


class PackedConv(nn.Module):
    """A 2-D convolution with prepacked oneDNN weights and an optional fused LeakyReLU.

    Args:
        conv: The float32 convolution to copy (zero padding given as numbers).
        slope: LeakyReLU slope applied in the epilogue, or None for a linear convolution.
        dtype: What it computes in: ``torch.float32`` or ``torch.bfloat16`` (inputs are cast to it;
            oneDNN accumulates in float32 either way).
    """

    def __init__(self, conv: nn.Conv2d, slope: float | None = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ConfigError(
                f"pack_for_cpu supports zero-padded convolutions with numeric padding, got "
                f"padding={conv.padding!r}, padding_mode={conv.padding_mode!r}."
            )
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size = tuple(conv.kernel_size)
        self.padding = [int(p) for p in conv.padding]
        self.stride = [int(s) for s in conv.stride]
        self.dilation = [int(d) for d in conv.dilation]
        self.groups = conv.groups
        self.attr, self.scalars = ("none", []) if slope is None else ("leaky_relu", [float(slope)])
        self.dtype = dtype
        w = conv.weight.detach().to(dtype).contiguous()
        self.packed_weight = torch.ops.mkldnn._reorder_convolution_weight(
            w, self.padding, self.stride, self.dilation, self.groups
        )
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().to(dtype).clone())

    def _args(self) -> tuple[list[int], list[int], list[int], int]:
        return self.padding, self.stride, self.dilation, self.groups

    def forward(self, x: Tensor) -> Tensor:
        """Convolve (N, C_in, H, W) -> (N, C_out, H', W'), channels-last, activation applied."""
        return torch.ops.mkldnn._convolution_pointwise(
            x.to(self.dtype).contiguous(memory_format=_CL),
            self.packed_weight,
            self.bias,
            *self._args(),
            self.attr,
            self.scalars,
            "",
        )

    def accumulate(self, x: Tensor, into: Tensor) -> Tensor:
        """``into += conv(x)`` in place (no activation); ``into`` must be a channels-last output map."""
        if self.attr != "none":
            raise ConfigError("accumulate() is only defined for linear convolutions (no activation).")
        return torch.ops.mkldnn._convolution_pointwise_.binary(
            into,
            x.to(self.dtype).contiguous(memory_format=_CL),
            self.packed_weight,
            self.bias,
            *self._args(),
            "add",
            1.0,
            None,
            [],
            None,
        )

    def extra_repr(self) -> str:
        """Shape, stride and fused activation, shown in ``print(model)``."""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={tuple(self.stride)}, padding={tuple(self.padding)}, epilogue={self.attr}"
            + (f"({self.scalars[0]})" if self.scalars else "")
            + ("" if self.dtype == torch.float32 else f", {str(self.dtype).removeprefix('torch.')}")
        )


class PackedUpConv(nn.Module):
    """Folded :class:`~glacierlab.models.layers.UpConv` as one prepacked stride-2 transposed 3x3 conv."""

    def __init__(self, up: UpConv, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        conv = up.conv
        kernel = subpixel_kernel(conv.weight.detach().float()).to(dtype).contiguous()  # (C_in, C_out, 3, 3)
        self.in_channels, self.out_channels, self.dtype = conv.in_channels, conv.out_channels, dtype
        self.packed_weight = torch.ops.mkldnn._reorder_convolution_transpose_weight(
            kernel, [1, 1], [1, 1], [2, 2], [1, 1], 1
        )
        bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
        self.register_buffer("bias", bias.detach().to(dtype).clone())

    def forward(self, x: Tensor) -> Tensor:
        """Upsample x2: (N, C_in, H, W) -> (N, C_out, 2H, 2W), channels-last."""
        return torch.ops.mkldnn._convolution_transpose_pointwise(
            x.to(self.dtype).contiguous(memory_format=_CL),
            self.packed_weight,
            self.bias,
            [1, 1],
            [1, 1],
            [2, 2],
            [1, 1],
            1,
            "none",
            [],
            "",
        )

    def extra_repr(self) -> str:
        """Channels, shown in ``print(model)``."""
        return f"{self.in_channels}, {self.out_channels}, transposed 3x3 stride 2"


class PackedResBlock(nn.Module):
    """Residual unit whose 1x1 projection accumulates into the double-conv output in place."""

    def __init__(self, block: ResBlock, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.main = block.main
        self.proj = PackedConv(block.proj, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        """``main(x) + proj(x)`` with the sum done inside the projection's convolution."""
        return self.proj.accumulate(x, self.main(x).contiguous(memory_format=_CL))


class PackedFusion(nn.Module):
    """Fusion block: per-group branches, gated and summed in place (no temporary per group)."""

    def __init__(self, block: FusionBlock) -> None:
        super().__init__()
        self.branches = block.branches
        self.gates = block.gates

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        """Sum over groups of ``branch(x) * gate(branch(x))`` (or of the branch outputs without gates)."""
        out: Tensor | None = None
        for name, branch in self.branches.items():
            y = branch(inputs[name])
            if self.gates is None:
                out = y if out is None else out.add_(y)
            elif out is None:
                out = y.mul_(self.gates[name].gate(y))  # type: ignore[operator]
            elif out.dtype == torch.float32:
                out.addcmul_(y, self.gates[name].gate(y))  # type: ignore[operator]
            else:  # mul_ then add_: a broadcast addcmul_ is 4x slower in bf16 (torch 2.13 CPU)
                out.add_(y.mul_(self.gates[name].gate(y)))  # type: ignore[operator]
        assert out is not None  # noqa: S101 - a fusion block has at least one branch
        return out


#: The model's class-logit convolutions: kept float32 in bf16 copies (cheap; they set the 0.5 decision).
_FLOAT_HEADS = frozenset({"head", "aux_head"})


def _pack_children(module: nn.Module, dtype: torch.dtype, keep_float: frozenset[str] = frozenset()) -> None:
    for name, child in list(module._modules.items()):
        new: nn.Module
        if child is None:
            continue
        if isinstance(child, ConvBNAct):
            act = child.act
            slope = float(act.negative_slope) if isinstance(act, nn.LeakyReLU) else None
            if not isinstance(child.bn, nn.Identity) or (slope is None and not isinstance(act, nn.Identity)):
                raise ConfigError(f"cannot pack {child!r}: BatchNorm must be folded, activation LeakyReLU.")
            new = PackedConv(child.conv, slope, dtype if bf16_exact(child.conv) else torch.float32)
        elif isinstance(child, ResBlock):
            _pack_children(child.main, dtype)
            new = PackedResBlock(child, dtype)
        elif isinstance(child, UpConv):
            if not isinstance(child.bn, nn.Identity):
                raise ConfigError("cannot pack an UpConv whose BatchNorm is not folded.")
            new = PackedUpConv(child, dtype)
        elif isinstance(child, FusionBlock):
            _pack_children(child, dtype)
            new = PackedFusion(child)
        elif type(child) is nn.Conv2d:
            exact = bf16_exact(child) and name not in keep_float
            new = PackedConv(child, dtype=dtype if exact else torch.float32)
        else:
            _pack_children(child, dtype)
            continue
        module._modules[name] = new


def pack_for_cpu(model: nn.Module, dtype: torch.dtype = torch.float32) -> nn.Module:
    """Inference-only CPU copy of a glacierlab model with prepacked, fused oneDNN convolutions.

    Args:
        model: A float32 glacierlab model (left unchanged).
        dtype: ``torch.float32`` (exact) or ``torch.bfloat16``: the convolutions then take and return bf16
            maps, except the class heads and those :func:`~glacierlab.accel.rewrites.bf16_exact` rules
            out. Run a bf16 copy under ``torch.autocast("cpu", torch.bfloat16)``
            (:func:`glacierlab.accel.bfloat16.bfloat16_for_cpu` does) so that the other layers follow.

    Returns:
        The packed copy in eval mode; call it like the model with channels-last (or any) inputs.
        float32 outputs equal the model's to float32 rounding.

    Raises:
        ConfigError: torch was built without the oneDNN operators (use
            :func:`~glacierlab.accel.fuse.fuse_for_inference` there), or the model is not float32.
    """
    if not packing_available():
        raise ConfigError(
            "this torch build lacks the oneDNN fused convolutions (torch.ops.mkldnn); use "
            "glacierlab.accel.fuse.fuse_for_inference(model) instead."
        )
    require_float32(model, "pack_for_cpu")
    packed = fuse_for_inference(model, channels_last=True)
    _pack_children(packed, dtype, _FLOAT_HEADS)
    return packed.eval()
