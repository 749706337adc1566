"""CPU acceleration of a trained model, behind one interface: :func:`fast_copy`.

``fast_copy(model, precision, sample)`` returns the fast inference copy of a model and a record of what
it is. The model files (``models/layers.py``, ``glavitu.py``, ``vit.py``) read like the paper; everything
oneDNN-specific lives here: BatchNorm folding (:mod:`~glacierlab.accel.fuse`), prepacked oneDNN
convolutions with fused epilogues (:mod:`~glacierlab.accel.packed`, the only module that calls private
``torch.ops.mkldnn`` operators), the bf16 copy (:mod:`~glacierlab.accel.bfloat16`), the experimental int8
copy (:mod:`~glacierlab.accel.quantize`, :mod:`~glacierlab.accel.qlayers`), and the opt-in heap setting
(:func:`~glacierlab.accel.heap.reuse_freed_memory`, a process-wide allocator change, never made by default).
Importing this package is cheap; names load their module (and torch) on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.accel.copy import fast_copy
    from glacierlab.accel.heap import reuse_freed_memory

_EXPORTS = {
    "fast_copy": "copy",
    "reuse_freed_memory": "heap",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
