"""Whole-scene inference speed and peak memory: streamed (bounded memory) vs naive (scene in RAM).

Writes synthetic GeoTIFF inputs (optical 6 bands uint8 + DEM 2 bands int16, tiled) of each size to a
temporary folder, then runs each (size, mode) in a fresh subprocess and prints windows/s, px/s and
peak RSS (``resource.getrusage`` ru_maxrss), process CPU seconds and the seconds per stage of
``predict_scene`` (``read``: the background reader thread; ``read_wait``: the model waiting for it;
``model``; ``blend``: Gaussian accumulation and finishing rows; ``write``: outputs, incl. the COG
conversion). Modes:

* ``streamed``: ``predict_scene(checkpoint, {group: path}, out_dir=...)`` — windows read lazily from
  the GeoTIFFs, finished rows flushed to COGs;
* ``naive``: the whole scene loaded into an in-memory xarray Dataset and the outputs kept in memory
  (``out_dir=None``) — what a simple implementation does.

Commands::

    .venv/bin/python benchmarks/bench_predict.py                 # --quick: 1024 px only
    .venv/bin/python benchmarks/bench_predict.py --sizes 1024 4096 10240 --window 384 --stride 192
    .venv/bin/python benchmarks/bench_predict.py --sizes 2048 --model glavitu_tiny --window 128 --stride 64
    .venv/bin/python benchmarks/bench_predict.py --sizes 4096 --precision int8

Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_inputs(folder: Path, size: int) -> dict[str, str]:
    """Write smooth-plus-noise synthetic rasters, strip by strip (never the whole scene in RAM)."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    paths = {"optical": folder / f"optical_{size}.tif", "dem": folder / f"dem_{size}.tif"}
    spec = {"optical": (6, "uint8"), "dem": (2, "int16")}
    transform = from_origin(400000, 3100000, 30, 30)
    rng = np.random.default_rng(0)
    for g, p in paths.items():
        count, dtype = spec[g]
        prof = {
            "driver": "GTiff",
            "width": size,
            "height": size,
            "count": count,
            "dtype": dtype,
            "crs": "EPSG:32645",
            "transform": transform,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "deflate",
        }
        with rasterio.open(p, "w", **prof) as dst:
            for r in range(0, size, 512):
                n = min(512, size - r)
                yy, xx = np.mgrid[r : r + n, 0:size].astype(np.float32)
                base = np.sin(yy / 150.0) * np.cos(xx / 210.0)
                data = np.stack([base * (i + 1) for i in range(count)]) + rng.normal(0, 0.1, (count, n, size))
                data = (data * 60 + 120) if g == "optical" else (data * 800 + 4000)
                dst.write(data.astype(dtype), window=Window(0, r, size, n))
    return {g: str(p) for g, p in paths.items()}


def child(args: argparse.Namespace) -> None:
    """Run one prediction and print a JSON line with the figures."""
    import torch

    from glacierlab.inference.predict import predict_scene
    from glacierlab.inference.tiling import window_grid

    inputs = json.loads(args.inputs)
    try:
        from glacierlab.models import build_model

        model = build_model(args.model, input_groups={"optical": 6, "dem": 2})
        model_name = args.model
    except ImportError as e:  # model package unavailable: say so instead of silently using something else
        raise SystemExit(f"glacierlab.models is not importable ({e}); cannot benchmark {args.model}") from e
    bands = {"optical": [f"b{i}" for i in range(6)], "dem": ["elevation", "slope"]}
    norm = {
        "optical": {"min": [0.0] * 6, "max": [255.0] * 6},
        "dem": {"min": [0.0, 0.0], "max": [9000.0, 9000.0]},
    }

    class Ckpt:
        pass

    ckpt = Ckpt()
    ckpt.model, ckpt.bands, ckpt.normalisation, ckpt.calibration, ckpt.variant = (
        model,
        bands,
        norm,
        {},
        model_name,
    )
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.mode == "naive":
        import rasterio
        import rioxarray  # noqa: F401  (registers .rio)
        import xarray as xr
        from rasterio.transform import from_origin

        arrays = {}
        for g, p in inputs.items():
            with rasterio.open(p) as src:
                arrays[g] = xr.DataArray(
                    src.read().astype(np.float32), dims=("band", "y", "x"), coords={"band": bands[g]}
                )
        t = from_origin(400000, 3100000, 30, 30)
        source = xr.Dataset(arrays).rio.write_crs("EPSG:32645").rio.write_transform(t)
        out_dir = None
    else:
        source, out_dir = inputs, Path(args.out) / f"{args.size}"
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    out = predict_scene(
        ckpt,
        source,
        window=args.window,
        stride=args.stride,
        tiling=args.tiling,
        batch_size=args.batch_size,
        device=args.device,
        out_dir=out_dir,
        overwrite=True,
        progress=False,
        precision=args.precision,
    )
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    n_win = window_grid(args.size, args.size, args.window, args.stride, args.tiling).total
    print(
        json.dumps(
            {
                "size": args.size,
                "mode": args.mode,
                "model": model_name,
                "windows": n_win,
                "seconds": wall,
                "cpu_seconds": cpu,
                "stages": json.loads(out.attrs.get("seconds", "{}")),
                "precision": out.attrs.get("precision", ""),
                "threads": torch.get_num_threads(),
                "rss_after_setup_mb": rss0,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="scene sides in px (default: --quick)")
    ap.add_argument("--quick", action="store_true", help="only 1024 px (the default when --sizes is absent)")
    ap.add_argument("--window", type=int, default=384)
    ap.add_argument("--stride", type=int, default=192)
    ap.add_argument("--tiling", choices=("edge", "paper"), default="edge", help="window grid (paper: deploy.py's)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--model", default="glavitu_lite")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--modes", nargs="+", default=["streamed", "naive"])
    ap.add_argument("--precision", default="float32", choices=("float32", "int8", "bfloat16", "auto"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    sizes = args.sizes or [1024]
    print(
        f"model={args.model} window={args.window} stride={args.stride} tiling={args.tiling} batch={args.batch_size} "
        f"device={args.device} sizes={sizes}"
    )
    print(f"load average: {_loadavg()}")
    print(f"{'size':>6} {'mode':>9} {'windows':>8} {'s':>8} {'win/s':>7} {'Mpx/s':>7} {'peak RSS MB':>12}  [stages, s]")
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        for size in sizes:
            inputs = make_inputs(Path(tmp), size)
            peaks = {}
            for mode in args.modes:
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    "--mode",
                    mode,
                    "--size",
                    str(size),
                    "--inputs",
                    json.dumps(inputs),
                    "--out",
                    tmp,
                    "--window",
                    str(args.window),
                    "--stride",
                    str(args.stride),
                    "--tiling",
                    args.tiling,
                    "--batch-size",
                    str(args.batch_size),
                    "--model",
                    args.model,
                    "--device",
                    args.device,
                    "--precision",
                    args.precision,
                ]
                res = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if res.returncode:
                    print(f"{size:>6} {mode:>9} FAILED:\n{res.stderr[-2000:]}")
                    continue
                r = json.loads(res.stdout.strip().splitlines()[-1])
                peaks[mode] = r["peak_rss_mb"]
                stages = " ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
                print(
                    f"{size:>6} {mode:>9} {r['windows']:>8} {r['seconds']:>8.1f} "
                    f"{r['windows'] / r['seconds']:>7.2f} "
                    f"{size * size / r['seconds'] / 1e6:>7.3f} {r['peak_rss_mb']:>12.0f}  "
                    f"[cpu {r['cpu_seconds']:.1f} s; {stages}]"
                )
            if "streamed" in peaks and "naive" in peaks:
                print(f"{size:>6} naive/streamed peak RSS ratio: {peaks['naive'] / peaks['streamed']:.2f}")
            for p in Path(tmp).glob(f"*_{size}.tif"):
                p.unlink()
    print(f"load average: {_loadavg()}")


if __name__ == "__main__":
    main()
