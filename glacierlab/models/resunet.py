"""Residual U-Net (docs/GLAVITU_SPEC.md §1.5): ResBlock + max-pool encoder, up-conv + concat + ResBlock decoder."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from glacierlab.models.layers import Dropout, ResBlock, UpConv


class ResUNetEncoder(nn.Module):
    """``steps`` levels of ResBlock then 2x2 max-pool, then a bottleneck ResBlock.

    Channels double per level from ``filters``; the bottleneck has ``filters * 2**steps``. Returns the
    block outputs of every level (before pooling) and of the bottleneck, highest resolution first.
    """

    def __init__(
        self, c_in: int, filters: int, steps: int, slope: float, dropout: float, train_dropout: bool
    ) -> None:
        super().__init__()
        chans = [filters * 2**i for i in range(steps + 1)]
        ins = [c_in, *chans[:-1]]
        self.blocks = nn.ModuleList(
            ResBlock(i, o, slope, Dropout(dropout, spatial=True, train_active=train_dropout))
            for i, o in zip(ins, chans, strict=True)
        )
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Return the block outputs of every level, highest resolution first."""
        outs = []
        for i, block in enumerate(self.blocks):
            if i:
                x = self.pool(x)
            x = block(x)
            outs.append(x)
        return outs


class ResUNetDecoder(nn.Module):
    """``steps`` x [UpConv, concatenate [up, skip], ResBlock], then a linear 1x1 conv to ``c_out``."""

    def __init__(
        self, filters: int, steps: int, c_out: int, slope: float, dropout: float, train_dropout: bool
    ) -> None:
        super().__init__()
        chans = [filters * 2**i for i in range(steps + 1)]
        self.up_convs = nn.ModuleList(UpConv(chans[i + 1], chans[i]) for i in reversed(range(steps)))
        self.blocks = nn.ModuleList(
            ResBlock(
                2 * chans[i], chans[i], slope, Dropout(dropout, spatial=True, train_active=train_dropout)
            )
            for i in reversed(range(steps))
        )
        self.head = nn.Conv2d(filters, c_out, 1)

    def forward(self, features: list[Tensor]) -> Tensor:
        """Decode encoder outputs (highest resolution first) into (N, c_out, H, W)."""
        x = features[-1]
        skips = features[-2::-1]
        for up, block, skip in zip(self.up_convs, self.blocks, skips, strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x)


class ResUNet(nn.Module):
    """Encoder + decoder; output ``c_out`` channels at the input resolution (linear)."""

    def __init__(
        self,
        c_in: int,
        filters: int,
        steps: int,
        c_out: int,
        slope: float,
        dropout: float,
        train_dropout: bool,
    ) -> None:
        super().__init__()
        self.steps = steps
        self.encoder = ResUNetEncoder(c_in, filters, steps, slope, dropout, train_dropout)
        self.decoder = ResUNetDecoder(filters, steps, c_out, slope, dropout, train_dropout)

    def forward(self, x: Tensor) -> Tensor:
        """Map (N, c_in, H, W) to (N, c_out, H, W)."""
        return self.decoder(self.encoder(x))
