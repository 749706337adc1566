"""Which part of the int8 residual U-Net costs mask agreement on the shipped model's Everest map.

For each configuration, some residual blocks of :class:`glacierlab.accel.qlayers.QResUNet` run in float32
(their input dequantized, their output requantized to the range observed for it) and the rest in int8;
the up-convolutions, the skip concatenations and the quantization of the U-Net's input stay int8 in
every configuration. Each row is a whole-scene ``precision="int8"`` map compared with the float32 map
(:func:`glacierlab.inference.precision_check.precision_map_check`). The last row keeps every block in float32, so
what it still loses comes from the int8 hand-offs alone: it bounds what any choice of int8 blocks can
reach with this model. Nothing is asserted.

Run (about a minute on 2 cores)::

    GLACIERLAB_SEED_DIR=../shared/data .venv/bin/python benchmarks/int8_sensitivity.py
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

_CL = torch.channels_last


def _quant(x: Tensor, qp: tuple[float, int]) -> Tensor:
    return torch.quantize_per_tensor(x.contiguous(memory_format=_CL), qp[0], qp[1], torch.quint8)


def hybrid_class(keep: set[str], original: type) -> type:
    """A QResUNet stand-in that runs the blocks named in ``keep`` (``encoder.i``, ``decoder.j``) in float32."""

    class Hybrid(nn.Module):
        def __init__(self, net: Any, ranges: Mapping[str, tuple[float, int]]) -> None:
            super().__init__()
            self.q = original(net, ranges)
            self.ranges = dict(ranges)
            steps = len(net.decoder.blocks)
            for j in range(steps):  # as QResUNet: skips and up-conv outputs share the concatenation's range
                self.ranges[f"encoder.{steps - 1 - j}.out"] = self.ranges[f"cat.{j}"]
            self.float_encoder, self.float_decoder = net.encoder.blocks, net.decoder.blocks

        def forward(self, x: Tensor) -> Tensor:
            q = _quant(x, (self.q.scale, self.q.zero_point))
            feats = []
            for i, block in enumerate(self.q.encoder):
                if i:
                    q = torch.nn.functional.max_pool2d(q, 2)
                if f"encoder.{i}" in keep:
                    q = _quant(self.float_encoder[i](q.dequantize()), self.ranges[f"encoder.{i}.out"])
                else:
                    q = block(q)
                feats.append(q)
            q, last = feats[-1], len(self.q.decoder) - 1
            for j, (up, block, skip) in enumerate(zip(self.q.up_convs, self.q.decoder, feats[-2::-1], strict=True)):
                u = up(q, skip)
                if f"decoder.{j}" in keep:
                    y = self.float_decoder[j](u.dequantize())
                    q = y if j == last else _quant(y, self.ranges[f"decoder.{j}.out"])
                else:
                    q = block(u)
            return self.q.head(q.dequantize() if q.is_quantized else q)

    return Hybrid


def main() -> None:
    """Print one row per configuration: blocks kept in float32, mask agreement, IoU change."""
    os.environ.setdefault("GLACIERLAB_SEED_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    import glacierlab.accel.quantize as quantize
    from glacierlab.data.stack import stack_region
    from glacierlab.inference.compat import model_inputs
    from glacierlab.inference.precision_check import precision_map_check
    from glacierlab.models import load_checkpoint
    from glacierlab.weights import shipped_checkpoint_path

    ckpt = load_checkpoint(shipped_checkpoint_path())
    stack = stack_region("everest", groups=tuple(ckpt.bands))
    inputs, _ = model_inputs(stack, ckpt.bands)
    ref = np.asarray(stack["reference"].values)
    enc = [f"encoder.{i}" for i in range(len(ckpt.model.resunet.encoder.blocks))]
    dec = [f"decoder.{j}" for j in range(len(ckpt.model.resunet.decoder.blocks))]
    configs = [[], *([b] for b in enc + dec), [enc[0], dec[-1]], enc + dec]
    original = quantize.QResUNet
    print(f"shipped model, Everest map, {ref.size:,} px; int8 agreement target 99.5 %")
    print(f"{'blocks in float32':<48} {'agreement':>9} {'IoU change':>10}")
    try:
        for keep in configs:
            quantize.QResUNet = hybrid_class(set(keep), original)  # type: ignore[misc]
            r = precision_map_check(ckpt, inputs, "int8", reference=ref)
            name = "none (the int8 path)" if not keep else ("all" if keep == enc + dec else ", ".join(keep))
            print(f"{name:<48} {100 * r['agreement']:8.2f}% {r['iou_change']:+10.4f}")
    finally:
        quantize.QResUNet = original  # type: ignore[misc]


if __name__ == "__main__":
    main()
