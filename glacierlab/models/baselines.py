"""Baselines built from the GlaViTU blocks (docs/GLAVITU_SPEC.md §1.7): SETR-B/16, ResU-Net, TransU-Net.

All start with the fusion block. Their registry defaults follow the IGARSS code they come from
(no fusion gate, LeakyReLU 0.3, dropout active in training).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glacierlab.models.base import ModelOutput, SegmentationModel, lcm
from glacierlab.models.config import ResUNetConfig, SETRConfig, TransUNetConfig
from glacierlab.models.layers import initialise
from glacierlab.models.resunet import ResUNet, ResUNetDecoder, ResUNetEncoder
from glacierlab.models.vit import PUPDecoder, ViTEncoder

_PROB_FLOOR = 1e-12


class SETR(SegmentationModel):
    """Fusion -> ViT -> PUP decoder ending in the class conv -> (softmax) -> bilinear x2.

    With ``upsample_probabilities`` (the reference order) the last x2 acts on probabilities and the
    returned logits are their log: ``softmax(logits)`` gives the reference probabilities exactly.
    """

    config: SETRConfig

    def __init__(self, config: SETRConfig) -> None:
        super().__init__(config)
        v = config.vit
        self.vit = ViTEncoder(
            config.fusion_filters,
            v.patch_size,
            v.dim,
            v.depth,
            v.heads,
            v.mlp_dim,
            config.image_size // v.patch_size,
            config.dropout,
            config.dropout_in_training,
        )
        self.pup = PUPDecoder(v.dim, v.pup_filters, config.n_classes, v.patch_size, final_upsample=False)
        initialise(self)

    @property
    def size_multiple(self) -> int:
        """Windows must be multiples of the patch size."""
        return self.config.vit.patch_size

    def forward(self, inputs: Mapping[str, Tensor], location: Tensor | None = None) -> ModelOutput:
        """Segment a batch; see :meth:`glacierlab.models.glavitu.GlaViTU.forward`."""
        groups, loc = self._check(inputs, location)
        z = self.pup(self.vit(self.fuse(groups, loc)))
        if self.config.upsample_probabilities:
            p = _up(torch.softmax(z, dim=1))
            return ModelOutput(torch.log(p.clamp_min(_PROB_FLOOR)), None)
        return ModelOutput(_up(z), None)


def _up(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class ResUNetModel(SegmentationModel):
    """Fusion -> residual U-Net whose final 1x1 conv is the classifier."""

    config: ResUNetConfig

    def __init__(self, config: ResUNetConfig) -> None:
        super().__init__(config)
        self.resunet = ResUNet(
            config.fusion_filters,
            config.resunet_filters,
            config.resunet_steps,
            config.n_classes,
            config.fusion_slope,
            config.dropout,
            config.dropout_in_training,
        )
        initialise(self)

    @property
    def size_multiple(self) -> int:
        """Windows must be multiples of 2**resunet_steps."""
        return 2**self.config.resunet_steps

    def forward(self, inputs: Mapping[str, Tensor], location: Tensor | None = None) -> ModelOutput:
        """Segment a batch; see :meth:`glacierlab.models.glavitu.GlaViTU.forward`."""
        groups, loc = self._check(inputs, location)
        return ModelOutput(self.resunet(self.fuse(groups, loc)), None)


class TransUNet(SegmentationModel):
    """Fusion, ResU-Net encoder, max-pool, ViT (patch 1), 1x1 back, nearest x2, decoder, + fused map, head."""

    config: TransUNetConfig

    def __init__(self, config: TransUNetConfig) -> None:
        super().__init__(config)
        v, f, steps = config.vit, config.fusion_filters, config.resunet_steps
        bottleneck = config.resunet_filters * 2**steps
        drop, train_drop = config.dropout, config.dropout_in_training
        self.encoder = ResUNetEncoder(f, config.resunet_filters, steps, config.fusion_slope, drop, train_drop)
        self.pool = nn.MaxPool2d(2)
        grid = config.image_size // 2 ** (steps + 1)
        self.vit = ViTEncoder(bottleneck, 1, v.dim, v.depth, v.heads, v.mlp_dim, grid, drop, train_drop)
        self.unproject = nn.Conv2d(v.dim, bottleneck, 1)
        self.decoder = ResUNetDecoder(config.resunet_filters, steps, f, config.fusion_slope, drop, train_drop)
        self.head = nn.Conv2d(f, config.n_classes, 1)
        initialise(self)

    @property
    def size_multiple(self) -> int:
        """Windows must be multiples of 2**(resunet_steps + 1)."""
        return lcm(2 ** (self.config.resunet_steps + 1))

    def forward(self, inputs: Mapping[str, Tensor], location: Tensor | None = None) -> ModelOutput:
        """Segment a batch; see :meth:`glacierlab.models.glavitu.GlaViTU.forward`."""
        groups, loc = self._check(inputs, location)
        x = self.fuse(groups, loc)
        feats = self.encoder(x)
        t = self.unproject(self.vit(self.pool(feats[-1])))
        feats[-1] = F.interpolate(t, scale_factor=2.0, mode="nearest")
        return ModelOutput(self.head(x + self.decoder(feats)), None)
