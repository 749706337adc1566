"""Model side of whole-scene inference: device choice, CPU threads, TTA, MC dropout, streaming median.

Used by :func:`glacierlab.inference.predict.predict_scene` (imports torch).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from glacierlab.errors import ConfigError, DeviceMemoryError, GlacierLabWarning

TTA_TRANSFORMS = ("identity", "rot90", "rot180", "rot270", "hflip", "vflip", "rot90_hflip", "rot90_vflip")


def forward_tf(x: torch.Tensor, name: str) -> torch.Tensor:
    """Apply TTA transform ``name`` (one of :data:`TTA_TRANSFORMS`) to the last two axes of ``x``."""
    k = {"rot90": 1, "rot180": 2, "rot270": 3, "rot90_hflip": 1, "rot90_vflip": 1}.get(name, 0)
    x = torch.rot90(x, k, dims=(-2, -1)) if k else x
    if name.endswith("hflip"):
        x = torch.flip(x, dims=(-1,))
    if name.endswith("vflip"):
        x = torch.flip(x, dims=(-2,))
    return x


def inverse_tf(x: torch.Tensor, name: str) -> torch.Tensor:
    """Undo :func:`forward_tf` (flip first, then rotate back)."""
    if name.endswith("hflip"):
        x = torch.flip(x, dims=(-1,))
    if name.endswith("vflip"):
        x = torch.flip(x, dims=(-2,))
    k = {"rot90": 1, "rot180": 2, "rot270": 3, "rot90_hflip": 1, "rot90_vflip": 1}.get(name, 0)
    return torch.rot90(x, -k, dims=(-2, -1)) if k else x


def set_mc_dropout(model: torch.nn.Module, enabled: bool) -> None:
    """Switch Monte-Carlo dropout on/off (:func:`glacierlab.models.set_mc_dropout`)."""
    from glacierlab.models import set_mc_dropout as _set

    _set(model, enabled)


@contextlib.contextmanager
def torch_threads(device: str) -> Iterator[None]:
    """CPU settings for the duration: one torch thread per available core; the old count restored after.

    ``OMP_NUM_THREADS`` wins when set (Dask workers set it to their thread count, so that two workers on
    two cores do not each start two threads). The process's allocator is left alone: keeping freed
    activations in the heap is opt-in (``with glacierlab.accel.reuse_freed_memory(): predict_scene(...)``).
    """
    old = torch.get_num_threads()
    if device == "cpu":
        env = os.environ.get("OMP_NUM_THREADS", "")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(int(env) if env.isdigit() and int(env) > 0 else cores)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class Runner:
    """Runs batches of normalised windows through the model: TTA, MC dropout, softmax -> glacier prob."""

    def __init__(
        self, model: Any, device: str, tta: bool, mc_samples: int, compile_model: bool, precision: str = "auto"
    ) -> None:
        self.device, self.tta, self.mc = device, tta, mc_samples
        self.cuda = device.startswith("cuda")
        model_precision = getattr(model, "precision", "float32")  # "int8" for accel.quantize copies
        if model_precision != "float32" and (self.cuda or mc_samples or compile_model):
            raise ConfigError(
                f"a {model_precision} model runs on CPU without MC dropout or torch.compile; got "
                f"device={device!r}, mc_samples={mc_samples}, compile_model={compile_model}. Use the float32 "
                "model for those."
            )
        # bf16 autocast: "auto" uses it on CUDA only; "float32" never (the authors' numbers need it)
        self.bf16 = precision == "bfloat16" or (precision == "auto" and self.cuda)
        model = model.to(device)
        model.eval()
        self.base = model
        # CPU without MC dropout: BatchNorm folded, oneDNN weights prepacked, conv epilogues fused,
        # channels-last (accel.packed; plain BN folding where torch lacks oneDNN), the fastest CPU path
        # of benchmarks/bench_model.py; results equal the plain model to float32 rounding.
        self.fused = not self.cuda and mc_samples < 2
        from glacierlab.accel.copy import fast_copy
        from glacierlab.accel.rewrites import autocast_safe, subpixel_upsampling

        if self.cuda:
            model = subpixel_upsampling(model).to(memory_format=torch.channels_last)
        elif model_precision != "float32":  # already a CPU inference copy (accel.quantize)
            self.fused = True
        elif self.fused:
            # torch.compile does its own fusion and cannot trace opaque oneDNN weights; bf16 autocast only
            # reaches aten convolutions: both get BN folding only
            model, _ = fast_copy(model, "float32", prepack=not compile_model and not self.bf16)
        else:  # CPU with MC dropout: the model itself, up-convolutions as transposed convolutions
            model = subpixel_upsampling(model)
        if self.bf16 and not self.cuda and model_precision == "float32":
            model = autocast_safe(model)  # the convolutions oneDNN gets wrong in bf16 stay float32
        self.model = torch.compile(model) if compile_model else model
        self.max_batch = 0  # windows per forward pass that fitted after an out-of-memory error (0: any)

    def __call__(
        self, batch: dict[str, np.ndarray], location: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean glacier probability (N, H, W) over TTA/MC passes and its MC standard deviation.

        When the device runs out of memory, the batch is split in halves (and later batches are kept at
        the size that fitted) instead of failing; a :class:`~glacierlab.errors.GlacierLabWarning` says so.

        Raises:
            DeviceMemoryError: Out of memory even for a single window.
        """
        n = len(next(iter(batch.values())))
        size = min(n, self.max_batch or n)
        probs, spreads, i = [], [], 0
        while i < n:
            part = {g: a[i : i + size] for g, a in batch.items()}
            try:
                p, s = self._forward(part, None if location is None else location[i : i + size])
            except torch.OutOfMemoryError as err:
                if self.cuda:
                    torch.cuda.empty_cache()
                if size == 1:
                    shape = tuple(next(iter(part.values())).shape[1:])
                    raise DeviceMemoryError(
                        f"{self.device} ran out of memory for a single window {shape}; use a smaller window, "
                        "device='cpu', or free the device's memory."
                    ) from err
                size = max(1, size // 2)
                self.max_batch = size
                warnings.warn(
                    f"{self.device} ran out of memory at {2 * size} windows per batch; continuing with {size}.",
                    GlacierLabWarning,
                    stacklevel=2,
                )
                continue
            probs.append(p)
            spreads.append(s)
            i += size
        return np.concatenate(probs), np.concatenate(spreads)

    def _forward(
        self, batch: dict[str, np.ndarray], location: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        fmt = torch.channels_last if self.cuda or self.fused else torch.contiguous_format
        x = {g: torch.from_numpy(a).to(self.device).contiguous(memory_format=fmt) for g, a in batch.items()}
        loc = None if location is None else torch.from_numpy(location).to(self.device)
        passes = []
        amp = torch.autocast("cuda" if self.cuda else "cpu", dtype=torch.bfloat16, enabled=self.bf16)
        with torch.inference_mode(), amp:
            for _ in range(max(1, self.mc)):
                names = TTA_TRANSFORMS if self.tta else ("identity",)
                probs = []
                for name in names:
                    out = self.model({g: forward_tf(t, name) for g, t in x.items()}, location=loc)
                    probs.append(inverse_tf(torch.softmax(out.logits.float(), dim=1)[:, 1], name))
                passes.append(torch.stack(probs).sum(0) / len(names))
        stack = torch.stack(passes)
        spread = stack.std(0, unbiased=False) if self.mc > 1 else torch.zeros_like(stack[0])
        return stack.mean(0).cpu().numpy(), spread.cpu().numpy()


class StreamingMedian:
    """Median filter applied to rows as they arrive; identical to filtering the whole array at once.

    Keeps ``size // 2`` context rows above and holds back the last ``size // 2`` rows until the rows
    below them arrive; the validity rows travel with the same delay.
    """

    def __init__(self, size: int) -> None:
        self.size, self.r, self.top = size, size // 2, 0
        self.buf: np.ndarray | None = None
        self.ok: np.ndarray | None = None

    def push(self, rows: np.ndarray, ok: np.ndarray, last: bool) -> tuple[int, np.ndarray, np.ndarray]:
        """Add rows (labels, validity); return (first scene row, filtered rows, their validity)."""
        from scipy.ndimage import median_filter

        self.buf = rows if self.buf is None else np.concatenate([self.buf, rows])
        self.ok = ok if self.ok is None else np.concatenate([self.ok, ok])
        ctx = min(self.r, self.top)  # rows kept above the first row not yet returned
        n_ready = max(0, len(self.buf) - ctx - (0 if last else self.r))
        out = median_filter(self.buf, size=self.size, mode="reflect")[ctx : ctx + n_ready]
        ok_out = self.ok[ctx : ctx + n_ready]
        start = self.top
        self.top += n_ready
        keep = min(self.r, self.top) + (len(self.buf) - ctx - n_ready)
        self.buf, self.ok = self.buf[len(self.buf) - keep :], self.ok[len(self.ok) - keep :]
        return start, out, ok_out
