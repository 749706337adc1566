"""Whole-scene inference: sliding windows, Gaussian blending, confidence, COG outputs (docs/GLAVITU_SPEC.md §5-6).

Memory stays bounded as the scene grows: windows are read lazily one row of windows at a time, the
blended sums live in a buffer one window tall and one frame wide, and rows that no later window can
touch are finished (probability, mask, confidence) and flushed to the outputs straight away. The same
streaming serves both tiling modes (:func:`glacierlab.inference.tiling.window_grid`): ``"paper"`` runs
the authors' ``deploy.py`` grid on a virtual zero-padded frame, so nothing is padded in memory.

Settings come from the checkpoint (:mod:`glacierlab.contract.options`); keyword arguments override.
Pixels without a valid input (no value of a group the checkpoint needs), and pixels where the model
returned NaN/inf, are no data (mask 255, probability NaN), never "ice-free"; the result's attributes count
both, and the pixels mapped without a group the checkpoint was trained to do without.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.contract.calibration import Calibrator
from glacierlab.contract.confidence import confidence
from glacierlab.contract.options import PredictOptions, resolve_options
from glacierlab.errors import ConfigError, GlacierLabWarning, NoDataError
from glacierlab.inference.checks import check_inputs, declared_level, model_level, optional_groups
from glacierlab.inference.location import check_location, window_locations
from glacierlab.inference.readers import GroupReader, open_inputs
from glacierlab.inference.runner import Runner, StreamingMedian, set_mc_dropout, torch_threads
from glacierlab.inference.tiling import gaussian_weights, window_grid
from glacierlab.inference.windows import Prefetcher, WindowBatch, check_scene_memory, read_windows
from glacierlab.inference.writers import Layer, RasterSink, as_dataset
from glacierlab.models.checkpoint import as_checkpoint
from glacierlab.models.device import resolve_device
from glacierlab.vocabulary import GLACIER, NODATA

if TYPE_CHECKING:
    import xarray as xr

    from glacierlab.models.checkpoint import Checkpoint, CheckpointLike


def _calibrator(ckpt: Checkpoint, calibration: str | Calibrator) -> Calibrator | None:
    if isinstance(calibration, Calibrator):
        return calibration
    if calibration == "none":
        return None
    arrays = getattr(ckpt, "calibration", None) or {}
    if calibration == "auto":
        return Calibrator.from_arrays(arrays) if arrays else None
    return Calibrator.from_arrays(arrays, method=calibration)


def predict_scene(
    checkpoint: CheckpointLike,
    inputs: xr.Dataset | Mapping[str, Any],
    options: PredictOptions | Mapping[str, Any] | None = None,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    device: str = "auto",
    progress: bool = True,
    callback: Callable[[int, int], None] | None = None,
    prefix: str = "",
    product_level: str | None = None,
    check: bool = True,
    compile_model: bool = False,
    cog_blocksize: int = 512,
    **overrides: Any,
) -> xr.Dataset:
    """Predict glacier probability, mask and confidence over a whole scene with overlapping windows.

    Each window's softmax is weighted by :func:`~glacierlab.inference.tiling.gaussian_weights` and the
    weighted sum divided by the summed weights (docs/GLAVITU_SPEC.md §5). The mask is ``probability > 0.5`` (argmax),
    optionally median-filtered; confidence follows :mod:`glacierlab.contract.confidence` and is
    calibrated when the options ask for it (then it estimates P(predicted class is right)).

    Args:
        checkpoint: A loaded checkpoint (``glacierlab.models.load_checkpoint``) or its path.
        inputs: The catalog stack (``xr.Dataset`` with one (band, y, x) variable per group, e.g. from
            ``glacierlab.data.stack.stack_region``), or a mapping group -> GeoTIFF/VRT path (or list of
            paths whose bands are concatenated) or DataArray. Bands are selected by name (band
            coordinate / GeoTIFF descriptions); unnamed inputs must have exactly the checkpoint's bands
            in order. NaN, the rasters' nodata value and values beyond ±1e30 mark no data.
        options: The :class:`~glacierlab.contract.options.PredictOptions` to use; None = the
            checkpoint's own (``options_for(checkpoint)``).
        out_dir: Folder for ``<prefix>{probability,mask,confidence[,uncertainty]}.tif`` COGs; None keeps
            the result in memory (then memory grows with the scene).
        overwrite: Replace existing outputs (else :class:`~glacierlab.errors.OutputExistsError`).
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda[:i]"``.
        progress: Show a tqdm bar with windows/s and ETA.
        callback: Called as ``callback(windows_done, windows_total)`` after each batch; an exception it
            raises stops the run and propagates (no output file is left).
        prefix: File-name prefix of the outputs.
        product_level: The optical inputs' product level (``"toa"``, ``"surface"``, ``"dn8"``) when
            they do not declare it (``attrs["product_level"]`` / GeoTIFF tag ``PRODUCT_LEVEL``).
        check: Check the inputs' product level and value range against the checkpoint first
            (:func:`glacierlab.inference.checks.check_inputs`).
        compile_model: ``torch.compile`` the model first (CUDA; slow start, faster large scenes).
        cog_blocksize: Internal tile size of the COGs.
        **overrides: Single option fields (``window``, ``stride``, ``tiling``, ``nodata``, ``tta``,
            ``mc_samples``, ``smoothing``, ``calibration``, ``confidence``, ``batch_size``,
            ``location``, ``pad_mode``, ``precision``) replacing the checkpoint's; None keeps the stored value
            (``calibration=None`` means raw confidence).

    Returns:
        Dataset with ``probability`` (float32, NaN = no data), ``mask`` (uint8, 1 glacier, 255 = no
        data), ``confidence`` (float32) [and ``uncertainty``] on the input grid (CRS via rioxarray).
        ``attrs``: ``options`` (JSON), ``pixels``, ``pixels_glacier``, ``pixels_nodata_input`` (no valid
        input), ``pixels_nodata_model`` (the model returned NaN/inf), ``pixels_sentinel`` (pixels with input values
        beyond ±1e30, treated as missing values) and, per group the checkpoint was trained to map without,
        ``pixels_without_<group>`` (pixels mapped without any value of that group; also tags of the COGs).
        With ``out_dir`` the variables are read lazily from the files.

    No data: a pixel without any value of an input group (NaN, the nodata value, ±1e30) is no data (mask
    255), unless the checkpoint was trained to map without that group (its training record,
    :func:`~glacierlab.inference.checks.optional_groups`); ``nodata="any"`` also makes a pixel missing
    one band no data, ``"all"`` fills single missing bands (:func:`~glacierlab.inference.windows.read_windows`).

    Raises:
        InputError: missing groups, wrong bands, infinite values, bad location, inputs on another scale
        or product level than the checkpoint's. GridError: groups on different grids. NoDataError: no
        valid input pixel. OutputExistsError: output exists. UnknownNameError: unknown option.
    """
    ckpt = as_checkpoint(checkpoint)
    opts = resolve_options(ckpt, options, **overrides)
    calibrator = _calibrator(ckpt, opts.calibration)
    model = ckpt.model
    multiple = int(getattr(model, "size_multiple", 1) or 1)
    if opts.window % multiple:
        raise ConfigError(
            f"this model needs windows that are multiples of {multiple} px, got window={opts.window}; "
            f"try {max(multiple, opts.window // multiple * multiple)}."
        )
    fixed_loc = check_location(opts.location, int(getattr(model, "location_dim", 0) or 0))
    bands = {g: list(b) for g, b in ckpt.bands.items()}
    stats = getattr(ckpt, "normalisation", None) or {}
    readers = open_inputs(inputs, bands)
    try:
        check_scene_memory(readers[0].height, readers[0].width, opts.window, in_memory=out_dir is None)
        if check:
            check_inputs(readers, bands, stats, model_level(ckpt), declared_level(inputs, given=product_level))
        job = _Job(ckpt, readers, stats, opts, calibrator, fixed_loc, resolve_device(device), optional_groups(ckpt))
        return job.run(out_dir, overwrite, compile_model, progress, prefix, cog_blocksize, callback)
    finally:
        for r in readers:
            r.close()
        if opts.mc_samples:
            set_mc_dropout(model, False)


class _Job:
    """One streamed prediction: the frame buffers, the flush of finished rows, the counts."""

    def __init__(
        self,
        ckpt: Checkpoint,
        readers: list[GroupReader],
        stats: Mapping[str, Any],
        opts: PredictOptions,
        calibrator: Calibrator | None,
        fixed_loc: np.ndarray | None,
        device: str,
        optional: tuple[str, ...] = (),
    ) -> None:
        self.ckpt, self.readers, self.stats, self.o = ckpt, readers, stats, opts
        self.calibrator, self.fixed_loc, self.device = calibrator, fixed_loc, device
        self.h, self.w = readers[0].height, readers[0].width
        self.grid = window_grid(self.h, self.w, opts.window, opts.stride, opts.tiling)
        shape = (opts.window, self.grid.frame_width)
        self.acc_p, self.acc_s, self.acc_w = (np.zeros(shape, np.float64) for _ in range(3))
        self.valid = np.zeros(shape, bool)
        self.extreme = np.zeros(shape, bool)  # input values beyond ±1e30 (undeclared nodata)
        self.optional = optional  # groups the checkpoint maps without: pixels mapped without each, per group
        self.without = {g: np.zeros(shape, bool) for g in optional}
        self.median = StreamingMedian(opts.smoothing) if opts.smoothing > 1 else None
        self.top = 0  # frame row of buffer row 0
        self.counts = dict.fromkeys(("valid", "nodata_model", "glacier", "sentinel", "sentinel_nodata"), 0)
        self.counts.update({f"without_{g}": 0 for g in optional})
        # seconds: read (background thread), read_wait (model waiting for it), model, blend, write
        self.timings = dict.fromkeys(("read", "read_wait", "model", "blend", "write"), 0.0)

    def run(
        self,
        out_dir: Any,
        overwrite: bool,
        compile_model: bool,
        progress: bool,
        prefix: str,
        blocksize: int,
        callback: Callable[[int, int], None] | None,
    ) -> xr.Dataset:
        from tqdm.auto import tqdm

        o, ref, grid = self.o, self.readers[0], self.grid
        mc = o.mc_samples
        layers = [
            Layer("probability", "float32", np.nan),
            Layer("mask", "uint8", NODATA),
            Layer("confidence", "float32", np.nan),
        ] + ([Layer("uncertainty", "float32", np.nan)] if mc > 1 else [])
        model, precision = self.ckpt.model, self._precision()
        tags = {
            "glacierlab_variant": str(getattr(self.ckpt, "variant", "")),
            "options": json.dumps(o.to_dict()),
            "confidence": self.calibrator.method if self.calibrator else o.confidence,
            "precision": precision,
        }
        if precision == "int8" or (precision == "bfloat16" and self.device == "cpu" and not mc and not compile_model):
            from glacierlab.inference.precision import cpu_copy_for_scene  # checked; tags + attrs say so

            model, record = cpu_copy_for_scene(model, precision, self.readers, self.stats, o, self.fixed_loc)
            tags["precision_check"] = json.dumps(record)
        runner = Runner(model, self.device, o.tta, mc, compile_model, o.precision)
        if mc:
            set_mc_dropout(self.ckpt.model, True)
        weights = gaussian_weights(o.window)
        sink_cm = RasterSink(
            layers, self.h, self.w, ref.crs, ref.transform, out_dir, prefix, overwrite, blocksize, tags
        )
        chunks = [row[i : i + o.batch_size] for row in grid.rows for i in range(0, len(row), o.batch_size)]
        reader = Prefetcher(lambda c: read_windows(self.readers, self.stats, o, grid, c, self.optional), chunks)
        t = self.timings
        with torch_threads(self.device), sink_cm as sink, reader:
            done = 0
            bar = tqdm(total=grid.total, unit="window", disable=not progress, desc="predict")
            batches = iter(reader)
            for row in grid.rows:
                self._advance(sink, row[0].row)
                for i in range(0, len(row), o.batch_size):
                    chunk = row[i : i + o.batch_size]
                    t0 = time.perf_counter()
                    batch, keep = self._apply(next(batches))
                    t1 = time.perf_counter()
                    bar.update(len(chunk))
                    done += len(chunk)
                    if callback is not None:
                        callback(done, grid.total)
                    if keep:
                        sub = {g: a[keep] for g, a in batch.items()}
                        centres = [grid.centre(chunk[k]) for k in keep]
                        prob, spread = runner(sub, window_locations(centres, self.fixed_loc, o.location, ref))
                        t2 = time.perf_counter()
                        for k, p, s in zip(keep, prob, spread, strict=True):
                            c0, c1 = chunk[k].col, chunk[k].col + o.window
                            self.acc_p[:, c0:c1] += p * weights
                            self.acc_s[:, c0:c1] += s * weights
                            self.acc_w[:, c0:c1] += weights
                        t["model"] += t2 - t1
                        t["blend"] += time.perf_counter() - t2
                    t["read_wait"] += t1 - t0
            bar.close()
            self._flush(sink, min(self.top + o.window, grid.frame_height), last=True)
            t["read"] = reader.seconds
            summary = self._summary()
            if self.counts["valid"] + self.counts["nodata_model"] == 0:
                raise NoDataError(
                    "the scene has no valid pixels (every input pixel is NaN or nodata in some group); "
                    "check the inputs' nodata values and extent."
                )
            sink.tags.update({k: str(v) for k, v in summary.items()})
            t0 = time.perf_counter()
            sink.finish()
            t["write"] += time.perf_counter() - t0
        ds = as_dataset(sink, self.h, self.w)
        ds.attrs.update({"options": json.dumps(o.to_dict()), **summary})
        ds.attrs.update({k: tags[k] for k in ("precision", "precision_check") if k in tags})
        ds.attrs["seconds"] = json.dumps({k: round(v, 3) for k, v in t.items()})
        return ds

    def _precision(self) -> str:
        """The arithmetic the model runs in: ``"float32"``, ``"bfloat16"`` or ``"int8"``."""
        p, cuda = self.o.precision, self.device.startswith("cuda")
        if p == "int8" and (cuda or self.o.mc_samples):
            raise ConfigError(
                f"precision='int8' runs on CPU without MC dropout; got device={self.device!r}, "
                f"mc_samples={self.o.mc_samples}. Use precision='auto' (bfloat16 on CUDA) or 'float32'."
            )
        return "bfloat16" if p == "bfloat16" or (p == "auto" and cuda) else p if p == "int8" else "float32"

    def _summary(self) -> dict[str, int]:
        c, total = self.counts, self.h * self.w
        nodata_input = total - c["valid"] - c["nodata_model"]
        if c["sentinel"]:
            warnings.warn(
                f"{c['sentinel']} pixels had input values beyond ±1e30 (an undeclared nodata value such as float32's "
                f"-3.4e38); those values were treated as missing: {c['sentinel_nodata']} of these pixels are no "
                f"data (mask 255), {c['sentinel'] - c['sentinel_nodata']} were mapped from their other inputs "
                "(missing bands filled, or a group the checkpoint was trained to map without). Declare the nodata "
                "value of the file (e.g. gdal_edit.py -a_nodata -3.4e38 FILE.tif) or set those pixels to NaN.",
                GlacierLabWarning,
                stacklevel=4,
            )
        if c["nodata_model"]:
            warnings.warn(
                f"the model returned NaN/inf for {c['nodata_model']} of {total} pixels; they are written as "
                "no data (mask 255, probability NaN), not as ice-free. Check the inputs for undeclared "
                "nodata values or extreme numbers, and the checkpoint for NaN weights.",
                GlacierLabWarning,
                stacklevel=4,
            )
        return {
            "pixels": total,
            "pixels_glacier": c["glacier"],
            "pixels_nodata_input": nodata_input,
            "pixels_nodata_model": c["nodata_model"],
            "pixels_sentinel": c["sentinel"],
            **{f"pixels_without_{g}": c[f"without_{g}"] for g in self.optional},
        }

    def _advance(self, sink: RasterSink, frame_row: int) -> None:
        """Finish the rows above ``frame_row`` and move the buffers down to start there."""
        t0, w0 = time.perf_counter(), self.timings["write"]
        self._flush(sink, frame_row, last=False)
        shift = frame_row - self.top
        for a in (self.acc_p, self.acc_s, self.acc_w, self.valid, self.extreme, *self.without.values()):
            a[: len(a) - shift] = a[shift:].copy()
            a[len(a) - shift :] = 0
        self.top = frame_row
        self.timings["blend"] += time.perf_counter() - t0 - (self.timings["write"] - w0)

    def _write(self, sink: RasterSink, name: str, row: int, data: np.ndarray) -> None:
        t0 = time.perf_counter()
        sink.write(name, row, data)
        self.timings["write"] += time.perf_counter() - t0

    def _flush(self, sink: RasterSink, upto: int, last: bool) -> None:
        """Write the finished frame rows ``[top, upto)`` that lie inside the scene."""
        g, o = self.grid, self.o
        i0 = max(0, g.top - self.top)
        i1 = min(upto - self.top, g.top + self.h - self.top)
        c0, c1 = g.left, g.left + self.w
        if i1 <= i0:
            if last and self.median is not None:
                self._write_mask(sink, np.zeros((0, self.w), np.uint8), np.zeros((0, self.w), bool), 0, last)
            return
        row = self.top + i0 - g.top  # scene row of the first finished row
        wsum = self.acc_w[i0:i1, c0:c1]
        with np.errstate(invalid="ignore", divide="ignore"):
            prob = (self.acc_p[i0:i1, c0:c1] / wsum).astype(np.float32)
            spread = (self.acc_s[i0:i1, c0:c1] / wsum).astype(np.float32)
        has_input = self.valid[i0:i1, c0:c1] & (wsum > 0)
        finite = np.isfinite(prob)
        ok = has_input & finite
        self.counts["valid"] += int(ok.sum())
        self.counts["sentinel"] += int(self.extreme[i0:i1, c0:c1].sum())
        self.counts["sentinel_nodata"] += int((self.extreme[i0:i1, c0:c1] & ~ok).sum())
        for name, a in self.without.items():
            self.counts[f"without_{name}"] += int((a[i0:i1, c0:c1] & ok).sum())
        self.counts["nodata_model"] += int((has_input & ~finite).sum())
        prob[~ok] = np.nan
        self._write(sink, "probability", row, prob)
        raw = confidence(prob, self.calibrator.convention if self.calibrator else o.confidence)
        self._write(sink, "confidence", row, self.calibrator(raw) if self.calibrator else raw)
        if o.mc_samples > 1:
            spread[~ok] = np.nan
            self._write(sink, "uncertainty", row, spread)
        self._write_mask(sink, (prob > 0.5).astype(np.uint8), ok, row, last)

    def _write_mask(self, sink: RasterSink, label: np.ndarray, ok: np.ndarray, row: int, last: bool) -> None:
        if self.median is not None:
            start, filt, okf = self.median.push(np.where(ok, label, 0).astype(np.uint8), ok, last)
            if not len(filt):
                return
            mask, row = np.where(okf, filt, NODATA).astype(np.uint8), start
        else:
            mask = np.where(ok, label, NODATA).astype(np.uint8)
        self.counts["glacier"] += int((mask == GLACIER).sum())
        self._write(sink, "mask", row, mask)

    def _apply(self, wb: WindowBatch) -> tuple[dict[str, np.ndarray], list[int]]:
        """Record a read batch's validity in the frame buffers (rows relative to ``top``)."""
        gr = self.grid
        for k, ((r0, _, c0, _), vm, ext) in enumerate(zip(wb.spans, wb.valid, wb.extreme, strict=True)):
            fr, fc = r0 + gr.top - self.top, c0 + gr.left
            self.valid[fr : fr + vm.shape[0], fc : fc + vm.shape[1]] = vm
            self.extreme[fr : fr + vm.shape[0], fc : fc + vm.shape[1]] = ext
            for name, a in self.without.items():
                a[fr : fr + vm.shape[0], fc : fc + vm.shape[1]] = wb.without[k][name]
        return wb.arrays, wb.keep
