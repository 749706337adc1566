"""GlaViTU (docs/GLAVITU_SPEC.md §1.1): fusion (+ location), SETR branch (+ residual), ResU-Net (+ residual).

``E1 = x + PUP(ViT(x))`` feeds the deep-supervision head; ``E = E1 + ResUNet(E1)`` feeds the output
head. Both heads are 1x1 convs to ``n_classes``; logits are returned before the softmax. One model
serves training and inference: ``aux_logits`` is always returned (the head costs one 1x1 conv).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from glacierlab.models.base import ModelOutput, SegmentationModel, lcm
from glacierlab.models.config import GlaViTUConfig
from glacierlab.models.layers import initialise
from glacierlab.models.resunet import ResUNet
from glacierlab.models.vit import PUPDecoder, ViTEncoder


class GlaViTU(SegmentationModel):
    """The GlaViTU hybrid CNN-transformer.

    Args:
        config: Hyper-parameters; ``GlaViTUConfig()`` is the paper model for optical (6) + DEM (2).
    """

    config: GlaViTUConfig

    def __init__(self, config: GlaViTUConfig) -> None:
        super().__init__(config)
        f, v = config.fusion_filters, config.vit
        drop, train_drop = config.dropout, config.dropout_in_training
        self.vit = ViTEncoder(
            f,
            v.patch_size,
            v.dim,
            v.depth,
            v.heads,
            v.mlp_dim,
            config.image_size // v.patch_size,
            drop,
            train_drop,
        )
        self.pup = PUPDecoder(v.dim, v.pup_filters, f, v.patch_size)
        self.aux_head = nn.Conv2d(f, config.n_classes, 1)
        self.resunet = ResUNet(
            f, config.resunet_filters, config.resunet_steps, f, config.fusion_slope, drop, train_drop
        )
        self.head = nn.Conv2d(f, config.n_classes, 1)
        initialise(self)

    @property
    def size_multiple(self) -> int:
        """Windows must be multiples of the patch size and of 2**resunet_steps."""
        return lcm(self.config.vit.patch_size, 2**self.config.resunet_steps)

    def forward(self, inputs: Mapping[str, Tensor], location: Tensor | None = None) -> ModelOutput:
        """Segment a batch of windows.

        Args:
            inputs: Group name -> float tensor (N, C_g, H, W); H and W multiples of ``size_multiple``.
            location: (N, L) or (L,) location vector, or None (region models then use "unknown").

        Returns:
            ``ModelOutput(logits, aux_logits)``, both (N, n_classes, H, W) before the softmax.
        """
        parts = self.forward_parts(inputs, location)
        return ModelOutput(parts["logits"], parts["aux_logits"])

    def forward_parts(
        self, inputs: Mapping[str, Tensor], location: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Forward pass returning the named intermediate maps as well (for checks against Keras).

        Returns:
            Dict with ``fusion`` (fused map incl. location), ``setr``, ``e1``, ``resunet``, ``e``,
            ``aux_logits`` and ``logits``; maps are (N, C, H, W).
        """
        groups, loc = self._check(inputs, location)
        x = self.fuse(groups, loc)
        setr = self.pup(self.vit(x))
        e1 = x + setr
        res = self.resunet(e1)
        e = e1 + res
        return {
            "fusion": x,
            "setr": setr,
            "e1": e1,
            "resunet": res,
            "e": e,
            "aux_logits": self.aux_head(e1),
            "logits": self.head(e),
        }
