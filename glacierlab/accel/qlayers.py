"""Int8 building blocks for CPU inference: quantized residual U-Net parts on PyTorch's x86 kernels.

Activations between the layers are ``quint8`` tensors (per-tensor affine, channels-last); weights are
``qint8`` (symmetric, per output channel). The up-convs run as one 2x2 convolution giving the four
output phases plus a pixel shuffle (PyTorch's quantized transposed convolution is several times slower
and only takes per-tensor weights). Every module is built from a BatchNorm-folded float module
plus the activation ranges observed on calibration windows (:mod:`glacierlab.accel.quantize`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
import torch.ao.nn.quantized as nnq
from torch import Tensor, nn
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

from glacierlab.accel.packed import PackedConv
from glacierlab.models.layers import ConvBNAct, ResBlock, UpConv
from glacierlab.models.resunet import ResUNet

#: (scale, zero point) of a quint8 tensor.
QParams = tuple[float, int]

_CL = torch.channels_last


def quantize_weight(weight: Tensor, *, per_channel: bool, axis: int = 0) -> Tensor:
    """Symmetric qint8 copy of a float weight (per channel along ``axis``, or per tensor)."""
    w = weight.detach().float()
    obs: nn.Module = (
        PerChannelMinMaxObserver(ch_axis=axis, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
        if per_channel
        else MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    )
    obs(w)
    scale, zp = obs.calculate_qparams()  # type: ignore[operator]
    if per_channel:
        return torch.quantize_per_channel(w, scale.double(), zp.long(), axis, torch.qint8)
    return torch.quantize_per_tensor(w, float(scale), int(zp), torch.qint8)


def quantized_conv(conv: nn.Conv2d, out: QParams) -> nnq.Conv2d:
    """A quantized copy of ``conv`` whose output is requantized to ``out``."""
    q = nnq.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    bias = None if conv.bias is None else conv.bias.detach().float()
    q.set_weight_bias(quantize_weight(conv.weight, per_channel=True), bias)
    q.scale, q.zero_point = float(out[0]), int(out[1])
    return q


class QConvAct(nn.Module):
    """Quantized conv (requantized to the pre-activation range) then quantized LeakyReLU."""

    def __init__(self, unit: ConvBNAct, ranges: Mapping[str, QParams]) -> None:
        super().__init__()
        self.conv = quantized_conv(unit.conv, ranges["pre"])
        slope = float(unit.act.negative_slope) if isinstance(unit.act, nn.LeakyReLU) else 0.0
        self.act = nnq.LeakyReLU(ranges["post"][0], ranges["post"][1], negative_slope=slope)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) quint8 -> (N, C_out, H, W) quint8."""
        return self.act(self.conv(x))


class QResBlock(nn.Module):
    """Quantized residual unit: two conv + LeakyReLU units plus the 1x1 projection, added in int8."""

    def __init__(self, block: ResBlock, ranges: Mapping[str, QParams]) -> None:
        super().__init__()
        self.block1 = QConvAct(block.main.block1, {"pre": ranges["pre1"], "post": ranges["post1"]})
        self.block2 = QConvAct(block.main.block2, {"pre": ranges["pre2"], "post": ranges["post2"]})
        self.proj = quantized_conv(block.proj, ranges["proj"])
        self.scale, self.zero_point = float(ranges["out"][0]), int(ranges["out"][1])

    def forward(self, x: Tensor) -> Tensor:
        """quint8 (N, C_in, H, W) -> quint8 (N, C_out, H, W)."""
        main = self.block2(self.block1(x))
        return torch.ops.quantized.add(main, self.proj(x), self.scale, self.zero_point)


def phase_kernel(weight: Tensor) -> Tensor:
    """The up-conv (nearest x2, then 2x2 conv with TF padding) as one 2x2 conv giving the four output phases.

    ``out[2i + a, 2j + b] = sum_{r, c} K[a, b][r, c] x[i + r, j + c]`` (x zero beyond the bottom/right
    edge), where along each axis phase 0 uses taps ``(w0 + w1, 0)`` and phase 1 ``(w0, w1)``. Channel
    ``4 o + 2 a + b`` of the result holds phase (a, b) of output channel ``o``, as
    :func:`torch.nn.functional.pixel_shuffle` expects.

    Args:
        weight: (C_out, C_in, 2, 2) kernel of the literal 2x2 conv (BN folded).

    Returns:
        (4 C_out, C_in, 2, 2) kernel.
    """
    w = weight.detach().float()
    mix = (torch.tensor([[1.0, 1.0], [0.0, 0.0]]), torch.eye(2))  # [phase][offset r, tap t]
    k = torch.stack([torch.einsum("rt,cu,oitu->oirc", mix[a], mix[b], w) for a in (0, 1) for b in (0, 1)], 1)
    return k.reshape(-1, *w.shape[1:])


class QUpConv(nn.Module):
    """Quantized up-conv: one int8 2x2 conv producing the four output phases, then a pixel shuffle.

    The 2x2 conv is padded by one pixel on every side and its first row and column dropped, which leaves
    the windows ``x[i:i+2, j:j+2]`` with zeros past the bottom/right edge (the TF "same" padding).
    """

    def __init__(self, up: UpConv, out: QParams) -> None:
        super().__init__()
        conv = up.conv
        bias = conv.bias.detach().float() if conv.bias is not None else torch.zeros(conv.out_channels)
        self.conv = nnq.Conv2d(conv.in_channels, 4 * conv.out_channels, 2, padding=1)
        self.conv.set_weight_bias(
            quantize_weight(phase_kernel(conv.weight), per_channel=True), bias.repeat_interleave(4)
        )
        self.conv.scale, self.conv.zero_point = float(out[0]), int(out[1])

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        """Upsample quint8 (N, C_in, H, W) and concatenate ``skip`` (N, C_s, 2H, 2W): (N, C_out + C_s, 2H, 2W).

        ``skip`` must carry this layer's output scale and zero point; the channels are then joined as
        bytes straight into one channels-last buffer (no requantization, no extra pass).
        """
        phases = self.conv(x).int_repr().permute(0, 2, 3, 1)[:, 1:, 1:, :]  # (N, H, W, 4 C_out)
        n, h, w, c4 = phases.shape
        c, cs = c4 // 4, skip.shape[1]
        if (skip.q_scale(), skip.q_zero_point()) != (self.conv.scale, self.conv.zero_point):
            raise ValueError("skip tensor must share the up-conv's quantization parameters")
        buf = torch.empty(n, 2 * h, 2 * w, c + cs, dtype=torch.uint8)
        buf[..., :c].view(n, h, 2, w, 2, c).copy_(phases.reshape(n, h, w, c, 2, 2).permute(0, 1, 4, 2, 5, 3))
        buf[..., c:].copy_(skip.int_repr().permute(0, 2, 3, 1))
        q = torch._make_per_tensor_quantized_tensor(buf, self.conv.scale, self.conv.zero_point)
        return q.permute(0, 3, 1, 2)


class QResUNet(nn.Module):
    """The residual U-Net in int8: float input (quantized once), float 1x1 head on the dequantized map.

    Args:
        net: The BatchNorm-folded float :class:`~glacierlab.models.resunet.ResUNet`.
        ranges: Observed quantization parameters by point name (see ``quantization_points``).
    """

    def __init__(self, net: ResUNet, ranges: Mapping[str, QParams]) -> None:
        super().__init__()
        self.scale, self.zero_point = float(ranges["input"][0]), int(ranges["input"][1])
        enc, dec = net.encoder, net.decoder
        steps = len(dec.blocks)
        ranges = dict(ranges)
        for j in range(steps):  # up-conv output and skip both take the concatenation's range
            ranges[f"encoder.{steps - 1 - j}.out"] = ranges[f"up.{j}"] = ranges[f"cat.{j}"]
        self.encoder = nn.ModuleList(
            QResBlock(b, _sub(ranges, f"encoder.{i}")) for i, b in enumerate(enc.blocks)  # type: ignore[arg-type]
        )
        self.up_convs = nn.ModuleList(
            QUpConv(u, ranges[f"up.{i}"]) for i, u in enumerate(dec.up_convs)  # type: ignore[arg-type]
        )
        self.decoder = nn.ModuleList(
            QResBlock(b, _sub(ranges, f"decoder.{i}")) for i, b in enumerate(dec.blocks)  # type: ignore[arg-type]
        )
        self.head = PackedConv(dec.head)  # float32: quantizing the output map costs agreement, saves little

    def forward(self, x: Tensor) -> Tensor:
        """Map float32 (N, C, H, W) to float32 (N, c_out, H, W)."""
        q = torch.quantize_per_tensor(x.contiguous(memory_format=_CL), self.scale, self.zero_point, torch.quint8)
        feats = []
        for i, block in enumerate(self.encoder):
            if i:
                q = torch.nn.functional.max_pool2d(q, 2)
            q = block(q)
            feats.append(q)
        q = feats[-1]
        for up, block, skip in zip(self.up_convs, self.decoder, feats[-2::-1], strict=True):
            q = block(up(q, skip))
        return self.head(q.dequantize())


def _sub(ranges: Mapping[str, QParams], prefix: str) -> dict[str, QParams]:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in ranges.items() if k.startswith(prefix + ".")}


def quantization_points(net: ResUNet) -> dict[str, tuple[nn.Module, str]]:
    """Where each activation range of :class:`QResUNet` is observed in the float ``net``.

    Returns:
        Point name -> (module, ``"input"`` or ``"output"``): the module's input or output tensor.
    """
    points: dict[str, tuple[nn.Module, str]] = {"input": (net, "input")}
    enc, dec = net.encoder, net.decoder
    for prefix, blocks in (("encoder", enc.blocks), ("decoder", dec.blocks)):
        for i, b in enumerate(blocks):
            block = cast(ResBlock, b)
            for j, unit in ((1, block.main.block1), (2, block.main.block2)):
                conv_unit = unit
                points[f"{prefix}.{i}.pre{j}"] = (conv_unit.conv, "output")
                points[f"{prefix}.{i}.post{j}"] = (conv_unit, "output")
            points[f"{prefix}.{i}.proj"] = (block.proj, "output")
            points[f"{prefix}.{i}.out"] = (block, "output")
    for i, (u, b) in enumerate(zip(dec.up_convs, dec.blocks, strict=True)):
        points[f"up.{i}"] = (u, "output")
        points[f"cat.{i}"] = (b, "input")
    return points
