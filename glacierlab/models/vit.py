"""Vision-transformer encoder and SETR progressive-upsampling (PUP) decoder (docs/GLAVITU_SPEC.md §1.4).

Faithful to the Keras reference: patch embedding as a 16x16 stride-16 conv (equal to the Dense on
(row, col, channel)-flattened patches), learned positional embedding (no class token), pre-norm
blocks with LayerNorm eps 1e-3, 4-head attention with biases, MLP with exact GELU after *both*
dense layers, no final LayerNorm; PUP decoder without nonlinearities and bilinear resizing with
``align_corners=False`` (TF half-pixel centres).
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glacierlab.errors import ConfigError
from glacierlab.models.layers import Dropout, batch_norm, glorot_, initialise

LN_EPS = 1e-3


class Attention(nn.Module):
    """Multi-head self-attention with Q/K/V/O biases; Q, K and V share one fused projection."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Attend over tokens (N, T, dim); returns (N, T, dim)."""
        n, t, d = x.shape
        qkv = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (n, heads, t, d_head)
        return self.out(y.transpose(1, 2).reshape(n, t, d))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + MHSA(LN(x)), then x + MLP(LN(x)) with GELU after both MLP layers."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float, train_dropout: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.fc1 = nn.Linear(dim, mlp_dim)
        self.drop1 = Dropout(dropout, train_active=train_dropout)
        self.fc2 = nn.Linear(mlp_dim, dim)
        self.drop2 = Dropout(dropout, train_active=train_dropout)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to tokens (N, T, dim)."""
        x = x + self.attn(self.norm1(x))
        h = self.drop1(F.gelu(self.fc1(self.norm2(x))))
        return x + self.drop2(F.gelu(self.fc2(h)))

    def reset_parameters(self) -> None:
        """Keras init: Glorot-uniform per Q/K/V/O projection and MLP layer, zero biases."""
        d = self.attn.out.in_features
        for i in range(3):  # Q, K and V are separate (d, d) projections in Keras
            glorot_(self.attn.qkv.weight[i * d : (i + 1) * d], d, d)
        for lin in (self.attn.out, self.fc1, self.fc2):
            glorot_(lin.weight)
        for lin in (self.attn.qkv, self.attn.out, self.fc1, self.fc2):
            nn.init.zeros_(lin.bias)


class ViTEncoder(nn.Module):
    """Patch embedding + positional embedding + transformer blocks; returns a (N, dim, H/p, W/p) map.

    Args:
        c_in: Input channels.
        patch_size: Patch side in pixels.
        dim: Token width.
        depth: Number of blocks.
        heads: Attention heads.
        mlp_dim: MLP hidden width.
        grid: Token grid side the positional embedding is learned for (384 / 16 = 24 in the paper).
            Other grids bicubically interpolate it.
        dropout: Dropout rate of the MLP slots.
        train_dropout: Whether training mode activates dropout.
    """

    def __init__(
        self,
        c_in: int,
        patch_size: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_dim: int,
        grid: int,
        dropout: float,
        train_dropout: bool,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.grid = grid
        self.patch_embedding = nn.Conv2d(c_in, dim, patch_size, stride=patch_size)
        self.pos_embedding = nn.Parameter(torch.empty(grid * grid, dim))
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, heads, mlp_dim, dropout, train_dropout) for _ in range(depth)
        )
        initialise(self)

    def reset_parameters(self) -> None:
        """Keras init: Dense-style Glorot fans for the patch embedding, normal(0.05) positions, blocks."""
        fan_in = self.patch_embedding.in_channels * self.patch_size**2
        glorot_(self.patch_embedding.weight, fan_in, self.patch_embedding.out_channels)
        nn.init.zeros_(self.patch_embedding.bias)  # type: ignore[arg-type]
        nn.init.normal_(self.pos_embedding, std=0.05)
        for block in self.blocks:
            block.reset_parameters()  # type: ignore[operator]
            cast(nn.LayerNorm, block.norm1).reset_parameters()
            cast(nn.LayerNorm, block.norm2).reset_parameters()

    def positions(self, h: int, w: int) -> Tensor:
        """Positional embedding for an (h, w) token grid, (h*w, dim); bicubic when the grid differs."""
        if (h, w) == (self.grid, self.grid):
            return self.pos_embedding
        pos = self.pos_embedding.T.reshape(1, -1, self.grid, self.grid)
        pos = F.interpolate(pos, size=(h, w), mode="bicubic", align_corners=False)
        return pos.reshape(-1, h * w).T

    def embed(self, x: Tensor) -> Tensor:
        """The patch embedding, (N, C, H, W) -> (N, dim, H/p, W/p)."""
        return self.patch_embedding(x)

    def forward(self, x: Tensor) -> Tensor:
        """Encode a map (N, C, H, W) into a token map (N, dim, H/p, W/p)."""
        x = self.embed(x)
        n, d, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2) + self.positions(h, w)
        for block in self.blocks:
            tokens = block(tokens)
        return tokens.transpose(1, 2).reshape(n, d, h, w)


def _upsample(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False, antialias=False)


class PUPDecoder(nn.Module):
    """Progressive upsampling: [conv3x3 + BN, bilinear x2] ..., conv3x3 + BN, conv1x1, bilinear x2.

    There are log2(patch_size) 3x3 conv stages, each followed by a bilinear x2 except the last; the
    1x1 conv follows, then the final x2 (optional, SETR-B/16 applies it after the softmax). No
    nonlinearities anywhere.
    """

    def __init__(
        self, c_in: int, filters: int, c_out: int, patch_size: int, final_upsample: bool = True
    ) -> None:
        super().__init__()
        n_up = int(round(math.log2(patch_size))) if patch_size > 1 else 0
        if n_up < 1 or 2**n_up != patch_size:
            raise ConfigError(f"the PUP decoder needs a power-of-two patch_size >= 2, got {patch_size}.")
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in if i == 0 else filters, filters, 3, padding=1) for i in range(n_up)
        )
        self.bns = nn.ModuleList(batch_norm(filters) for _ in range(n_up))
        self.head = nn.Conv2d(filters, c_out, 1)
        self.final_upsample = final_upsample

    def forward(self, x: Tensor) -> Tensor:
        """Decode a token map (N, dim, h, w) into (N, c_out, h*p, w*p) (h*p/2 without the final x2)."""
        last = len(self.convs) - 1
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            x = bn(conv(x))
            if i < last:
                x = _upsample(x)
        x = self.head(x)
        return _upsample(x) if self.final_upsample else x
