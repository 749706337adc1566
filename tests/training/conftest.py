"""Fixtures of the training tests: a small synthetic scene stack and the benchmark HDF5 file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

DATA = Path(__file__).resolve().parent / "benchmark_h5" / "make_data.py"


def synthetic_stack(size: int = 192, seed: int = 0) -> xr.Dataset:
    """A stack laid out like ``glacierlab.data.stack.stack_region``: bright glaciers on smooth terrain, UTM 45N."""
    import rioxarray  # noqa: F401  (registers .rio)

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    elev = 4000 + 1500 * np.sin(6 * xx) * np.cos(5 * yy) + 50 * rng.standard_normal((size, size))
    glacier = elev > 4300
    optical = 110 + 90 * glacier[None] + 15 * rng.standard_normal((4, size, size))
    slope = np.hypot(*np.gradient(elev)) / 30
    ref = glacier.astype(np.uint8)
    ref[:5, :7] = 255
    elevation = elev.astype(np.float32)
    elevation[-4:, -4:] = np.nan  # a DEM gap
    x = 478000 + 30 * (np.arange(size) + 0.5)
    y = 3108000 - 30 * (np.arange(size) + 0.5)
    ds = xr.Dataset(
        {
            "optical": (("band", "y", "x"), optical.astype(np.float32)),
            "dem": (("dem_band", "y", "x"), np.stack([elevation, slope.astype(np.float32)])),
            "reference": (("y", "x"), ref),
        },
        coords={"band": ["nir", "red", "green", "blue"], "dem_band": ["elevation", "slope"], "x": x, "y": y},
    )
    ds.attrs["region_code"] = "HMA"
    return ds.rio.write_crs("EPSG:32645")


@pytest.fixture(scope="session")
def stack() -> xr.Dataset:
    return synthetic_stack()


@pytest.fixture(scope="session")
def benchmark_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("make_benchmark_h5", DATA)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod.write_benchmark(tmp_path_factory.mktemp("bench") / "bench.h5", seed=0)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread avoids OpenMP spin contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
