"""Convolutional building blocks of GlaViTU with Keras-matching defaults (docs/GLAVITU_SPEC.md §1.2, 1.3, 1.5).

Keras defaults reproduced here: BatchNorm eps 1e-3 and momentum 0.01 (Keras 0.99), Glorot-uniform
kernels, zero biases, TF "same" padding (for the even 2x2 kernel: 0 before, 1 after).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def batch_norm(channels: int, dims: int = 2) -> nn.Module:
    """BatchNorm with the Keras defaults (eps 1e-3, PyTorch momentum 0.01 = Keras 0.99)."""
    cls = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    return cls(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def glorot_(weight: Tensor, fan_in: int | None = None, fan_out: int | None = None) -> None:
    """Glorot-uniform init in place; fans default to PyTorch's (Keras agrees for convs and dense)."""
    if fan_in is None or fan_out is None:
        nn.init.xavier_uniform_(weight)
        return
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        weight.uniform_(-limit, limit)


def keras_init_(module: nn.Module, recurse: bool = True) -> None:
    """Glorot-uniform kernels, zero biases for convs/linears in ``module`` (only it if not ``recurse``)."""
    for m in module.modules() if recurse else [module]:
        if isinstance(m, nn.Conv2d | nn.Linear):
            glorot_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def initialise(module: nn.Module) -> None:
    """``module.reset_parameters()``, unless the module was built on PyTorch's ``meta`` device.

    A meta model holds shapes only (checkpoint loading builds one to check a file before allocating), so
    there is nothing to initialise; and torch's ``normal_`` on a meta tensor imports ``torch._dynamo``
    (about 2.4 s of CPU, once per process).
    """
    if not any(p.is_meta for p in module.parameters()):
        module.reset_parameters()  # type: ignore[operator]


class Dropout(nn.Module):
    """Dropout slot that follows the reference code's switches rather than ``model.train()`` alone.

    Active when Monte-Carlo mode is on (``mc_active``), or when the module is in training mode and
    ``train_active`` is True. With the paper's released code ``train_active`` is False: dropout never
    acts during training (docs/GLAVITU_SPEC.md §1.6).

    Args:
        p: Drop probability in [0, 1).
        spatial: Drop whole channels (Keras SpatialDropout2D) instead of single values.
        train_active: Whether training mode alone activates the dropout.
    """

    def __init__(self, p: float, *, spatial: bool = False, train_active: bool = False) -> None:
        super().__init__()
        self.p = float(p)
        self.spatial = spatial
        self.train_active = train_active
        self.mc_active = False

    def forward(self, x: Tensor) -> Tensor:
        """Apply dropout when active (MC mode, or training with ``train_active``)."""
        active = self.p > 0 and (self.mc_active or (self.training and self.train_active))
        if not active:
            return x
        if self.spatial:
            return F.dropout2d(x, self.p, training=True)
        return F.dropout(x, self.p, training=True)

    def extra_repr(self) -> str:
        """Rate and switches, shown in ``print(model)``."""
        return f"p={self.p}, spatial={self.spatial}, train_active={self.train_active}"


class ConvBNAct(nn.Module):
    """Conv3x3 ("same", with bias) -> BatchNorm -> LeakyReLU."""

    def __init__(self, c_in: int, c_out: int, slope: float, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
        self.bn = batch_norm(c_out)
        self.act = nn.LeakyReLU(slope)

    def forward(self, x: Tensor) -> Tensor:
        """Conv, BN, LeakyReLU on (N, C, H, W)."""
        return self.act(self.bn(self.conv(x)))


class DoubleConv(nn.Module):
    """Two ConvBNAct units followed by an optional spatial dropout slot."""

    def __init__(self, c_in: int, c_out: int, slope: float, dropout: Dropout) -> None:
        super().__init__()
        self.block1 = ConvBNAct(c_in, c_out, slope)
        self.block2 = ConvBNAct(c_out, c_out, slope)
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        """Two conv units then the dropout slot."""
        return self.dropout(self.block2(self.block1(x)))


class SEGate(nn.Module):
    """Squeeze-excitation gate without bottleneck: GAP -> Dense+LeakyReLU -> Dense+sigmoid -> scale."""

    def __init__(self, channels: int, slope: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, channels)
        self.fc2 = nn.Linear(channels, channels)
        self.slope = slope

    def gate(self, x: Tensor) -> Tensor:
        """Per-channel gate values in (0, 1) for (N, C, H, W), shaped (N, C, 1, 1)."""
        s = x.mean(dim=(2, 3), dtype=torch.promote_types(x.dtype, torch.float32))  # bf16 maps: no float copy
        s = torch.sigmoid(self.fc2(F.leaky_relu(self.fc1(s), self.slope)))
        return s[:, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        """Scale the channels of (N, C, H, W) by the gate."""
        return x * self.gate(x)


class FusionBlock(nn.Module):
    """One branch per input group (double conv, optional SE gate), summed over groups (§1.2)."""

    def __init__(
        self,
        groups: dict[str, int],
        filters: int,
        *,
        gate: bool,
        slope: float,
        dropout: float,
        train_dropout: bool,
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleDict(
            {
                name: DoubleConv(
                    c, filters, slope, Dropout(dropout, spatial=True, train_active=train_dropout)
                )
                for name, c in groups.items()
            }
        )
        self.gates = nn.ModuleDict({name: SEGate(filters, slope) for name in groups}) if gate else None

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        """Sum of the (gated) branch outputs, (N, filters, H, W)."""
        outs = []
        for name, branch in self.branches.items():
            y = branch(inputs[name])
            outs.append(self.gates[name](y) if self.gates is not None else y)
        out = outs[0]
        for y in outs[1:]:
            out = out + y
        return out


class LocationBlock(nn.Module):
    """Location MLP: 2x [Dense -> BatchNorm1d -> LeakyReLU(0.3)] then dropout, giving one bias per channel."""

    def __init__(self, dim_in: int, filters: int, slope: float, dropout: float, train_dropout: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim_in, filters)
        self.bn1 = batch_norm(filters, dims=1)
        self.fc2 = nn.Linear(filters, filters)
        self.bn2 = batch_norm(filters, dims=1)
        self.act = nn.LeakyReLU(slope)
        self.dropout = Dropout(dropout, train_active=train_dropout)

    def forward(self, location: Tensor) -> Tensor:
        """Location vectors (N, L) -> per-channel biases (N, filters)."""
        x = self.act(self.bn1(self.fc1(location)))
        x = self.act(self.bn2(self.fc2(x)))
        return self.dropout(x)


class ResBlock(nn.Module):
    """Residual unit: double conv (BN, LeakyReLU, dropout) + bias-free 1x1 projection, summed (§1.5)."""

    def __init__(self, c_in: int, c_out: int, slope: float, dropout: Dropout) -> None:
        super().__init__()
        self.main = DoubleConv(c_in, c_out, slope, dropout)
        self.proj = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Main path plus projection shortcut."""
        return self.main(x) + self.proj(x)


class UpConv(nn.Module):
    """Nearest x2, conv 2x2 "same" (TF padding: 0 top/left, 1 bottom/right) without bias, BatchNorm."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 2, bias=False)
        self.bn = batch_norm(c_out)

    def forward(self, x: Tensor) -> Tensor:
        """Upsample x2: (N, C_in, H, W) -> (N, C_out, 2H, 2W)."""
        y = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.bn(self.conv(F.pad(y, (0, 1, 0, 1))))
