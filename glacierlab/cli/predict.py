"""``glacierlab predict``: map glaciers in a user's own GeoTIFFs/VRTs with a checkpoint and its stored options."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from glacierlab.cli.options import add_option_args, option_overrides
from glacierlab.errors import ConfigError
from glacierlab.vocabulary import PRODUCT_LEVELS


def _inputs(args: argparse.Namespace) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for group in ("optical", "dem"):
        paths = getattr(args, group)
        if paths:
            inputs[group] = paths[0] if len(paths) == 1 else list(paths)
    for item in args.input or []:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier() or not value:
            raise ConfigError(f"--input expects GROUP=PATH[,PATH...] (e.g. thermal=bt.tif), got {item!r}")
        paths = value.split(",")
        inputs[name] = paths[0] if len(paths) == 1 else paths
    return inputs


def _derive_slope(inputs: dict[str, Any], wanted: list[str]) -> str:
    """Replace a one-band DEM file by elevation + slope when the checkpoint wants slope; say so ('' if not).

    The slope is the notebooks' (:func:`glacierlab.data.stack.dem_with_slope`), in degrees.
    """
    dem = inputs.get("dem")
    if "slope" not in wanted or not isinstance(dem, str):
        return ""
    import rasterio

    from glacierlab.data.rasters import open_raster
    from glacierlab.data.stack import dem_with_slope

    with rasterio.open(dem) as f:
        if f.count != 1:
            return ""
    inputs["dem"] = dem_with_slope(open_raster(dem))
    return (
        f"slope: {dem} has one band, read as elevation in metres; the checkpoint wants slope too, so it was "
        "derived from it in degrees (glacierlab.data.terrain.slope_degrees, as the notebooks do)"
    )


def cmd_predict(args: argparse.Namespace) -> int:
    """Run ``predict_scene`` on the given rasters and print what was written and counted."""
    from glacierlab.inference.predict import predict_scene
    from glacierlab.models.checkpoint import as_checkpoint

    inputs = _inputs(args)
    if not inputs:
        raise ConfigError("give the input rasters: --optical A.tif [B.tif] --dem ELEV.tif SLOPE.tif")
    ckpt = as_checkpoint(args.checkpoint)  # a bad checkpoint fails before any folder is made
    derived = _derive_slope(inputs, list(ckpt.bands.get("dem", [])))
    if derived:
        print(derived)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = predict_scene(
        ckpt,
        inputs,
        out_dir=out,
        overwrite=args.overwrite,
        device=args.device,
        progress=not args.quiet,
        prefix=args.prefix,
        product_level=args.product_level,
        check=not args.no_check,
        **option_overrides(args),
    )
    from glacierlab.inference.writers import output_path

    a = result.attrs
    total = int(a["pixels"])
    opts = json.loads(a["options"])
    print(f"wrote {', '.join(str(output_path(out, str(v), args.prefix)) for v in result.data_vars)}")
    print("options: " + ", ".join(f"{k}={v}" for k, v in opts.items()))
    print(
        f"pixels: {total}; glacier {a['pixels_glacier']} ({100 * int(a['pixels_glacier']) / total:.1f} %); "
        f"no data: {a['pixels_nodata_input']} without valid input, {a['pixels_nodata_model']} where the model "
        f"returned NaN, {a['pixels_sentinel']} with nodata sentinel values"
        + "".join(
            f"; {a[k]} mapped without {k.removeprefix('pixels_without_')} (the checkpoint was trained to)"
            for k in a
            if k.startswith("pixels_without_")
        )
    )
    if "precision_check" in a:  # int8 / bf16 on CPU: how close to float32 it came on sampled windows
        check = json.loads(a["precision_check"])
        print(
            f"precision: {a['precision']}; {100 * check.get('window_agreement', float('nan')):.2f} % of the pixels "
            f"of {check.get('check_windows', 0)} sampled windows as in float32 (--precision float32 is exact)"
        )
    return 0


def add_predict_parser(sub: Any) -> None:
    """Register ``glacierlab predict``."""
    p = sub.add_parser(
        "predict",
        help="map glaciers in your own GeoTIFFs/VRTs with a checkpoint (its stored options by default)",
        description=(
            "Map glaciers with a glacierlab checkpoint. Band names come from the GeoTIFF band descriptions "
            "(else the files' bands are taken in the checkpoint's order). Writes probability.tif, mask.tif "
            "(1 glacier, 0 ice-free, 255 no data) and confidence.tif as Cloud-Optimised GeoTIFFs."
        ),
    )
    p.add_argument("checkpoint", help="glacierlab checkpoint (.safetensors), e.g. from import-keras")
    p.add_argument("--optical", nargs="+", metavar="TIF", help="optical raster(s); bands concatenated in order")
    p.add_argument(
        "--dem",
        nargs="+",
        metavar="TIF",
        help="DEM raster(s): elevation (m) and slope (degrees); a one-band DEM gets its slope derived",
    )
    p.add_argument(
        "--input", action="append", metavar="GROUP=TIF[,TIF]", help="another input group (repeatable)"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--product-level",
        choices=sorted(PRODUCT_LEVELS),
        help="product level of the optical input when its files do not declare it (tag PRODUCT_LEVEL)",
    )
    p.add_argument("--no-check", action="store_true", help="skip the input range / product-level checks")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:n] (default auto)")
    p.add_argument("--prefix", default="", help="file-name prefix of the outputs")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_option_args(p)
    p.set_defaults(func=cmd_predict)
