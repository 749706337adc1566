"""Write a tiny HDF5 file in the released GlaViTU benchmark layout (docs/GLAVITU_SPEC.md §3.3), seeded.

Run: ``python tests/training/benchmark_h5/make_data.py OUT.h5`` (tests call :func:`write_benchmark` into
tmp_path). Five 64x64 stored tiles (zero-padded from smaller originals), float64 (H, W, C) arrays:

| tile | region | subregion | features |
|---|---|---|---|
| ALP-1-1, ALP-1-2 | ALP | ALP | optical, dem |
| HMA-3-4 | HMA | HMA1 | optical, dem |
| HMA-7-2 | HMA | HMA3 | optical, dem, thermal |
| NZ-2-2 | NZ | NZ | optical only (dropped by a dem presence filter) |

Glacier = bright optical pixels above a smooth elevation surface, so a model can learn it; padding has
all-zero inputs and the (0, 0) "no data" one-hot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np

STORED = 64
TILES = [
    ("ALP-1-1", "ALP", "ALP", ("optical", "dem"), (50, 60), (6.0, 45.0)),
    ("ALP-1-2", "ALP", "ALP", ("optical", "dem"), (64, 64), (6.5, 45.0)),
    ("HMA-3-4", "HMA", "HMA1", ("optical", "dem"), (58, 47), (86.9, 27.9)),
    ("HMA-7-2", "HMA", "HMA3", ("optical", "dem", "thermal"), (64, 52), (77.1, 35.2)),
    ("NZ-2-2", "NZ", "NZ", ("optical",), (40, 64), (170.2, -43.5)),
]
CHANNELS = {"optical": 6, "dem": 2, "thermal": 1}


def write_benchmark(path: str | Path, seed: int = 0) -> Path:
    """Write the file (overwriting) and return its path."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    with h5py.File(path, "w") as f:
        for name, region, subregion, features, (oh, ow), (lon, lat) in TILES:
            yy, xx = np.mgrid[0:oh, 0:ow] / 64.0
            elev = 0.5 + 0.3 * np.sin(3 * xx + rng.uniform(0, 6)) * np.cos(2 * yy)
            glacier = elev + 0.1 * rng.standard_normal((oh, ow)) > 0.55
            ph, pw = (STORED - oh) // 2, (STORED - ow) // 2
            g = f.create_group(name)
            attrs = dict(
                region=region,
                subregion=subregion,
                tile_name=name,
                epsg=4326,
                height=STORED,
                width=STORED,
                original_height=oh,
                original_width=ow,
                padding_height=ph,
                padding_width=pw,
                xmin=lon,
                xmax=lon + 0.05,
                ymin=lat,
                ymax=lat + 0.05,
            )
            g.attrs.update(attrs)
            data = {
                "optical": np.clip(
                    0.2 + 0.6 * glacier[..., None] + 0.05 * rng.standard_normal((oh, ow, 6)), 0, 1
                ),
                "dem": np.stack([elev, np.abs(np.gradient(elev, axis=1)) * 10], axis=-1),
                "thermal": (1 - 0.5 * glacier)[..., None],
            }
            onehot = np.stack([~glacier, glacier], axis=-1).astype(np.float64)
            for feat in (*features, "outlines"):
                src = onehot if feat == "outlines" else data[feat]
                full = np.zeros((STORED, STORED, src.shape[-1]), dtype=np.float64)
                full[ph : ph + oh, pw : pw + ow] = src
                g.create_dataset(feat, data=full)
    return path


if __name__ == "__main__":
    print(write_benchmark(sys.argv[1] if len(sys.argv) > 1 else "benchmark_test.h5"))
