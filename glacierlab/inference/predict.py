"""Whole-scene inference: sliding windows, Gaussian blending, confidence, COG outputs (docs/GLAVITU_SPEC.md §5-6).

Memory stays bounded as the scene grows: windows are read lazily one row of windows at a time, the
blended sums live in a buffer one window tall and one scene wide, and rows that no later window can
touch are finished (probability, mask, confidence) and flushed to the outputs straight away.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from glacierlab.errors import ConfigError, NoDataError, unknown_name
from glacierlab.geo import georeference
from glacierlab.inference.calibration import Calibrator
from glacierlab.inference.confidence import check_convention, confidence
from glacierlab.inference.location import check_location, window_locations
from glacierlab.inference.readers import GroupReader, open_inputs
from glacierlab.inference.runner import Runner, StreamingMedian, set_mc_dropout, torch_threads
from glacierlab.inference.tiling import PAD_MODES, Window, gaussian_weights, pad_to_window, window_rows
from glacierlab.inference.writers import Layer, RasterSink
from glacierlab.models.device import resolve_device
from glacierlab.vocabulary import NODATA

if TYPE_CHECKING:
    import xarray as xr

NODATA_POLICIES = ("any", "all")


def _load(checkpoint: Any) -> Any:
    if isinstance(checkpoint, str | os.PathLike):
        from glacierlab.models import load_checkpoint

        return load_checkpoint(Path(checkpoint))
    return checkpoint


def _calibrator(ckpt: Any, calibration: str | Calibrator | None) -> Calibrator | None:
    if calibration is None or isinstance(calibration, Calibrator):
        return calibration
    arrays = getattr(ckpt, "calibration", None) or {}
    if calibration == "auto":
        return Calibrator.from_arrays(arrays) if arrays else None
    return Calibrator.from_arrays(arrays, method=calibration)


def predict_scene(
    checkpoint: Any,
    inputs: xr.Dataset | Mapping[str, Any],
    *,
    window: int = 384,
    stride: int = 192,
    batch_size: int = 4,
    device: str = "auto",
    tta: bool = False,
    mc_samples: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    smoothing: int = 0,
    confidence_convention: str = "entropy",
    calibration: str | Calibrator | None = "auto",
    location: str | Sequence[float] | np.ndarray | None = None,
    nodata: str = "any",
    pad_mode: str = "reflect",
    compile_model: bool = False,
    progress: bool = True,
    prefix: str = "",
    cog_blocksize: int = 512,
    callback: Callable[[int, int], None] | None = None,
) -> xr.Dataset:
    """Predict glacier probability, mask and confidence over a whole scene with overlapping windows.

    Each window's softmax is weighted by :func:`~glacierlab.inference.tiling.gaussian_weights` and the weighted
    sum divided by the summed weights (docs/GLAVITU_SPEC.md §5). The mask is ``probability > 0.5`` (argmax), optionally
    median-filtered; confidence follows :mod:`glacierlab.inference.confidence` and is calibrated when a
    calibrator is given or stored in the checkpoint (then it estimates P(predicted class is right)).

    Args:
        checkpoint: A loaded checkpoint (``glacierlab.models.load_checkpoint``) or its path. Needs
            ``.model``, ``.bands`` (group -> band names, in model order), ``.normalisation`` and
            ``.calibration``.
        inputs: The catalog stack (``xr.Dataset`` with one (band, y, x) variable per group, e.g. from
            ``glacierlab.data.stack.stack_region``), or a mapping group -> GeoTIFF path (or list of paths
            whose bands are concatenated) or DataArray. Bands are selected by name (band coordinate /
            GeoTIFF descriptions); unnamed inputs must have exactly the checkpoint's bands in order.
            NaN and the rasters' nodata value mark no data.
        window: Window side in pixels (the paper: 384).
        stride: Step between windows in pixels, 1..window (the paper: 192).
        batch_size: Windows per forward pass.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda[:i]"``. CPU uses all cores;
            CUDA uses bf16 autocast and channels-last.
        tta: Average the 8 flips/rotations of each window (about 8× slower).
        mc_samples: Monte-Carlo dropout passes (0 = off); with ≥ 2 an ``uncertainty`` layer holds the
            standard deviation of the glacier probability across passes.
        out_dir: Folder for ``<prefix>{probability,mask,confidence[,uncertainty]}.tif`` COGs; None keeps
            the result in memory (then memory grows with the scene).
        overwrite: Replace existing outputs (else :class:`~glacierlab.errors.OutputExistsError`).
        smoothing: Median-filter size for the mask (0 = off; the paper's demo uses 3).
        confidence_convention: ``"entropy"`` (paper) or ``"maxprob"`` for uncalibrated confidence.
        calibration: ``"auto"`` (the checkpoint's calibrator if any), a stored method name, a
            :class:`~glacierlab.inference.calibration.Calibrator`, or None for raw confidence.
        location: For location-encoded models: ``"coordinates"`` ([sin lat, cos lat, sin lon, cos lon]
            at each window centre) or a fixed vector (e.g. a region one-hot).
        nodata: ``"any"``: output no data where any band of any group is missing; ``"all"``: only
            where every band is (partly missing pixels are filled with 0, as the paper does).
        pad_mode: How windows running past a scene smaller than ``window`` are padded
            (``"reflect"`` or ``"constant"`` zeros), see :mod:`glacierlab.inference.tiling`.
        compile_model: ``torch.compile`` the model first (CUDA; slow start, faster large scenes).
        progress: Show a tqdm bar with windows/s and ETA.
        callback: Called as ``callback(windows_done, windows_total)`` after each batch (e.g. a widget's
            progress bar); an exception it raises stops the run and propagates (no output file is left).
        prefix: File-name prefix of the outputs.
        cog_blocksize: Internal tile size of the COGs (overviews are built down to one tile).

    Returns:
        Dataset with ``probability`` (float32, NaN = no data), ``mask`` (uint8, 1 glacier, 255 = no
        data), ``confidence`` (float32) [and ``uncertainty``] on the input grid (CRS via rioxarray).
        With ``out_dir`` the variables are lazily read from the written files.

    Raises:
        InputError: missing groups, wrong bands, infinite values, bad location. GridError: groups on
        different grids. NoDataError: no valid pixel in the scene. OutputExistsError: output exists.
    """
    ckpt = _load(checkpoint)
    check_convention(confidence_convention)
    if nodata not in NODATA_POLICIES:
        raise unknown_name("nodata policy", nodata, NODATA_POLICIES)
    if pad_mode not in PAD_MODES:
        raise unknown_name("pad mode", pad_mode, PAD_MODES)
    if batch_size < 1 or mc_samples < 0 or smoothing < 0 or (smoothing and smoothing % 2 == 0):
        raise ConfigError(
            f"need batch_size >= 1, mc_samples >= 0 and an odd smoothing size >= 0 "
            f"(0 = off); got {batch_size}, {mc_samples}, {smoothing}"
        )
    calibrator = _calibrator(ckpt, calibration)
    model = ckpt.model
    multiple = int(getattr(model, "size_multiple", 1) or 1)
    if window % multiple:
        raise ConfigError(
            f"this model needs windows that are multiples of {multiple} px, got window={window}; "
            f"try {max(multiple, window // multiple * multiple)}."
        )
    loc_dim = int(getattr(model, "location_dim", 0) or 0)
    fixed_loc = check_location(location, loc_dim)
    bands = {g: list(b) for g, b in ckpt.bands.items()}
    stats = getattr(ckpt, "normalisation", None) or {}
    readers = open_inputs(inputs, bands)
    try:
        return _run(
            ckpt,
            readers,
            stats,
            window,
            stride,
            batch_size,
            resolve_device(device),
            tta,
            mc_samples,
            out_dir,
            overwrite,
            smoothing,
            confidence_convention,
            calibrator,
            location,
            fixed_loc,
            nodata,
            pad_mode,
            compile_model,
            progress,
            prefix,
            cog_blocksize,
            callback,
        )
    finally:
        for r in readers:
            r.close()
        if mc_samples:
            set_mc_dropout(model, False)


def _run(
    ckpt: Any,
    readers: list[GroupReader],
    stats: Mapping[str, Any],
    window: int,
    stride: int,
    batch_size: int,
    device: str,
    tta: bool,
    mc: int,
    out_dir: Any,
    overwrite: bool,
    smoothing: int,
    convention: str,
    calibrator: Calibrator | None,
    location: Any,
    fixed_loc: np.ndarray | None,
    nodata: str,
    pad_mode: str,
    compile_model: bool,
    progress: bool,
    prefix: str,
    blocksize: int,
    callback: Callable[[int, int], None] | None,
) -> xr.Dataset:
    from tqdm.auto import tqdm

    from glacierlab.data.normalise import normalise_group

    ref = readers[0]
    h, w = ref.height, ref.width
    grid = window_rows(h, w, window, stride)
    weights = gaussian_weights(window)
    layers = [
        Layer("probability", "float32", np.nan),
        Layer("mask", "uint8", NODATA),
        Layer("confidence", "float32", np.nan),
    ] + ([Layer("uncertainty", "float32", np.nan)] if mc > 1 else [])
    tags = {
        "glacierlab_variant": str(getattr(ckpt, "variant", "")),
        "window": str(window),
        "stride": str(stride),
        "tta": str(tta),
        "mc_samples": str(mc),
        "confidence": calibrator.method if calibrator else convention,
    }
    runner = Runner(ckpt.model, device, tta, mc, compile_model)
    if mc:
        set_mc_dropout(ckpt.model, True)
    wp = max(w, window)
    buf_h = min(window, h)
    acc_p = np.zeros((buf_h, wp), np.float64)
    acc_s = np.zeros((buf_h, wp), np.float64)
    acc_w = np.zeros((buf_h, wp), np.float64)
    valid = np.zeros((buf_h, w), bool)
    median = StreamingMedian(smoothing) if smoothing > 1 else None
    n_valid = 0
    top = 0  # scene row of buffer row 0

    sink_cm = RasterSink(layers, h, w, ref.crs, ref.transform, out_dir, prefix, overwrite, blocksize, tags)
    with torch_threads(device), sink_cm as sink:

        def flush(upto: int, last: bool) -> None:
            nonlocal n_valid
            n = upto - top
            if n <= 0 and not last:
                return
            with np.errstate(invalid="ignore", divide="ignore"):
                prob = (acc_p[:n, :w] / acc_w[:n, :w]).astype(np.float32)
                spread = (acc_s[:n, :w] / acc_w[:n, :w]).astype(np.float32)
            ok = valid[:n] & (acc_w[:n, :w] > 0)
            prob[~ok] = np.nan
            n_valid += int(ok.sum())
            sink.write("probability", top, prob)
            raw = confidence(prob, calibrator.convention if calibrator else convention)
            sink.write("confidence", top, calibrator(raw) if calibrator else raw)
            if mc > 1:
                spread[~ok] = np.nan
                sink.write("uncertainty", top, spread)
            label = (prob > 0.5).astype(np.uint8)
            if median is not None:
                start, filt, okf = median.push(np.where(ok, label, 0).astype(np.uint8), ok, last)
                if len(filt):
                    sink.write("mask", start, np.where(okf, filt, NODATA).astype(np.uint8))
            else:
                sink.write("mask", top, np.where(ok, label, NODATA).astype(np.uint8))

        total = sum(map(len, grid))
        done = 0
        bar = tqdm(total=total, unit="window", disable=not progress, desc="predict")
        for row in grid:
            r0 = row[0].row
            flush(r0, last=False)
            shift = r0 - top
            for a in (acc_p, acc_s, acc_w, valid):
                a[: len(a) - shift] = a[shift:].copy()
                a[len(a) - shift :] = 0
            top = r0
            for i in range(0, len(row), batch_size):
                chunk = row[i : i + batch_size]
                batch, keep, vmasks = _read_batch(
                    readers, chunk, stats, normalise_group, window, nodata, pad_mode
                )
                for win, vm in zip(chunk, vmasks, strict=True):
                    valid[: win.height, win.col : win.col + win.width] = vm
                bar.update(len(chunk))
                done += len(chunk)
                if callback is not None:
                    callback(done, total)
                if not keep:
                    continue
                sub = {g: a[keep] for g, a in batch.items()}
                loc = window_locations([chunk[k] for k in keep], fixed_loc, location, ref, window)
                prob, spread = runner(sub, loc)
                for k, p, s in zip(keep, prob, spread, strict=True):
                    win = chunk[k]
                    c0, c1 = win.col, win.col + window
                    acc_p[:window, c0:c1] += (p * weights)[:buf_h]
                    acc_s[:window, c0:c1] += (s * weights)[:buf_h]
                    acc_w[:window, c0:c1] += weights[:buf_h]
        bar.close()
        flush(h, last=True)
        if n_valid == 0:
            raise NoDataError(
                "the scene has no valid pixels (every input pixel is NaN or nodata in some group); "
                "check the inputs' nodata values and extent."
            )
        sink.finish()
    return _as_dataset(sink, h, w)


def _read_batch(
    readers: list[GroupReader],
    chunk: list[Window],
    stats: Mapping[str, Any],
    normalise: Any,
    window: int,
    nodata: str,
    pad_mode: str,
) -> tuple[dict[str, np.ndarray], list[int], list[np.ndarray]]:
    arrays: dict[str, list[np.ndarray]] = {r.name: [] for r in readers}
    keep, vmasks = [], []
    for k, win in enumerate(chunk):
        missing_any = np.zeros((win.height, win.width), bool)
        missing_all = np.ones((win.height, win.width), bool)
        for r in readers:
            a = r.read(win.row, win.col, win.height, win.width)
            nan = np.isnan(a)
            missing_any |= nan.any(0)
            missing_all &= nan.all(0)
            a = normalise(a, stats[r.name]) if r.name in stats else np.nan_to_num(a, nan=0.0)
            arrays[r.name].append(pad_to_window(a, window, pad_mode))
        vm = ~(missing_any if nodata == "any" else missing_all)
        vmasks.append(vm)
        if vm.any():
            keep.append(k)
    return {g: np.stack(v) for g, v in arrays.items()}, keep, vmasks


def _as_dataset(sink: RasterSink, h: int, w: int) -> xr.Dataset:
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr

    t = sink.transform
    x = t.c + (np.arange(w) + 0.5) * t.a
    y = t.f + (np.arange(h) + 0.5) * t.e
    if sink.paths:  # lazily read back from the files (coordinates built here: rioxarray's warn on affine 3)
        import rioxarray

        data = {
            k: cast(xr.DataArray, rioxarray.open_rasterio(p, parse_coordinates=False, masked=False)).squeeze(
                "band", drop=True
            )
            for k, p in sink.paths.items()
        }
        ds = xr.Dataset(data).drop_vars("spatial_ref", errors="ignore").assign_coords(x=x, y=y)
        return georeference(ds, sink.crs, t)
    ds = xr.Dataset({k: (("y", "x"), v) for k, v in sink.arrays.items()}, coords={"x": x, "y": y})
    for k, ly in zip(sink.arrays, sink.layers, strict=True):
        ds[k].attrs["_FillValue"] = ly.nodata
    return georeference(ds, sink.crs, t)
