"""Helpers of the adversarial suite (imported by its tests and conftest)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

OPTICAL = ["blue", "green", "red", "nir"]
DEM = ["elevation", "slope"]


def write_tif(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:32645",
    names: list[str] | None = None,
    nodata: float | None = None,
) -> Path:
    """Write a small (bands, H, W) GeoTIFF with band descriptions on a 30 m UTM 45N grid."""
    import rasterio
    from rasterio.transform import from_origin

    data = data if data.ndim == 3 else data[None]
    prof = {
        "driver": "GTiff",
        "count": data.shape[0],
        "height": data.shape[1],
        "width": data.shape[2],
        "dtype": data.dtype,
        "crs": crs,
        "transform": from_origin(490000, 3098000, 30, 30),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **prof) as f:
        f.write(data)
        for i, n in enumerate(names or []):
            f.set_band_description(i + 1, n)
    return path


#: Fast settings of predict_scene for the 48 px test scenes (glavitu_tiny needs windows of 32 px multiples).
FAST = {"window": 64, "stride": 64, "batch_size": 2, "device": "cpu", "progress": False}


def script(code: str) -> str:
    """Dedented Python source for ``python -c`` (subprocess tests)."""
    return textwrap.dedent(code)


def retag_checkpoint(src: Path, dst: Path, edit: Any) -> Path:
    """Copy a safetensors checkpoint with its glacierlab header changed by ``edit(header) -> header``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(src), framework="pt") as f:
        header = json.loads(f.metadata()["glacierlab"])
    save_file(load_file(str(src)), str(dst), metadata={"glacierlab": json.dumps(edit(header))})
    return dst


class Evil:
    """A pickle payload that would write ``marker`` when unpickled (it must never be)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.write_text, (self.marker, "pwned"))
