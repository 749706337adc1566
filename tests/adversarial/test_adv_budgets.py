"""Memory bombs: sizes declared in headers are checked against the memory budget before any allocation.

Every case is a small file (or a box) whose header declares gigabytes; each must end in an
:class:`InputError` (or :class:`CorruptFileError` for pickles) naming the size, the budget and how to
tile or raise it (``GLACIERLAB_MAX_GIB``), with peak Python memory staying far below the declared size.
Large scenes that stream (prediction written to files) must not be refused by the same budget.
"""

from __future__ import annotations

import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from adv_helpers import DEM, FAST, OPTICAL, write_tif

from glacierlab.errors import CorruptFileError, InputError

BUDGET = r"over the memory budget of 4\.00 GiB\. To fix: .*GLACIERLAB_MAX_GIB"


def _sparse_tif(path: Path, height: int, width: int, count: int, names: list[str] | None = None) -> Path:
    """A tiled GeoTIFF that declares ``count x height x width`` float32 px but stores no block (a few MB)."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=height,
        width=width,
        count=count,
        dtype="float32",
        crs="EPSG:32645",
        transform=from_origin(490000, 3098000, 10, 10),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        sparse_ok=True,
        BIGTIFF="YES",
    ) as f:
        for i, n in enumerate(names or []):
            f.set_band_description(i + 1, n)
    return path


def _peak_mib(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


def test_predict_geotiff_declaring_96_by_50_million_px_is_refused_from_its_header(sandbox, tiny_checkpoint) -> None:
    from glacierlab.inference.predict import predict_scene

    tif = _sparse_tif(sandbox.inputs / "strip.tif", 96, 50_000_000, 4, OPTICAL)
    dem = _sparse_tif(sandbox.inputs / "strip_dem.tif", 96, 50_000_000, 2, DEM)
    sandbox.allow()
    with pytest.raises(InputError, match=r"96 x 50000000 px.*GiB.*" + BUDGET) as err:
        predict_scene(tiny_checkpoint, {"optical": tif, "dem": dem}, out_dir=sandbox.out / "maps", **FAST)
    assert "narrower tiles" in str(err.value)
    assert sandbox.out_files() == []


def test_streamed_prediction_is_not_refused_but_an_in_memory_one_is(sandbox, tiny_checkpoint, monkeypatch) -> None:
    """A 600 x 48 px scene under a 0.3 MiB budget: whole it would not fit, streamed to files it does."""
    from glacierlab.inference.predict import predict_scene

    rng = np.random.default_rng(0)
    opt = write_tif(sandbox.inputs / "tall.tif", rng.integers(0, 255, (4, 600, 48)).astype(np.float32), names=OPTICAL)
    dem = np.stack([rng.uniform(4800, 6000, (600, 48)), rng.uniform(0, 60, (600, 48))]).astype(np.float32)
    inputs = {"optical": opt, "dem": write_tif(sandbox.inputs / "tall_dem.tif", dem, names=DEM)}
    sandbox.allow()
    monkeypatch.setenv("GLACIERLAB_MAX_GIB", str(0.3 / 1024))
    with pytest.raises(InputError, match=r"in-memory result of a 600 x 48 px scene.*pass out_dir="):
        predict_scene(tiny_checkpoint, inputs, check=False, **FAST)
    out = predict_scene(tiny_checkpoint, inputs, out_dir=sandbox.out / "maps", check=False, **FAST)
    assert out["mask"].shape == (600, 48)


def test_sparse_100000_square_geotiff_in_stack_from_files_is_refused_before_reading(sandbox) -> None:
    from glacierlab.data.user_files import stack_from_files

    tif = _sparse_tif(sandbox.inputs / "huge.tif", 100_000, 100_000, 1)
    sandbox.allow()
    assert tif.stat().st_size < 5_000_000

    def call() -> None:
        with pytest.raises(InputError, match=r"huge\.tif \(1 band\(s\) x 100000 x 100000 px.*37\.25 GiB.*bbox=.*"):
            stack_from_files(dem=tif)

    assert _peak_mib(call) < 200


def test_5_by_5_degree_bbox_at_10_m_is_refused_before_any_search(sandbox, monkeypatch) -> None:
    from glacierlab.data import stac

    def no_network(*args, **kwargs):
        raise AssertionError("searched or read before checking the size")

    monkeypatch.setattr(stac, "search_scenes", no_network)
    monkeypatch.setattr(stac, "load_dem", no_network)
    with pytest.raises(InputError, match=r"box at 10 m \(\d+ x \d+ px.*GiB, " + BUDGET) as err:
        stac.stack_bbox((85.0, 26.0, 90.0, 31.0), "2021-09-01/2021-10-31", resolution=10)
    assert "smaller box" in str(err.value)


def test_28_byte_pickle_declaring_1e11_elements_is_refused_before_allocating(sandbox) -> None:
    from glacierlab.contract.sklearn_pickle import read_kernel_ridge

    bomb = sandbox.add_input("bomb.pickle", b"cnumpy\nndarray\n(I100000000000\ntR.")
    assert bomb.stat().st_size == 34 or bomb.stat().st_size < 40

    def call() -> None:
        with pytest.raises(CorruptFileError, match=r"745\.06 GiB.*" + BUDGET):
            read_kernel_ridge(bomb)

    assert _peak_mib(call) < 50


def test_object_dtype_arrays_are_refused(sandbox) -> None:
    from glacierlab.contract.sklearn_pickle import read_kernel_ridge

    path = sandbox.add_input("objects.pickle", pickle.dumps(np.array([1, "x"], dtype=object)))
    with pytest.raises(CorruptFileError, match="dtype object refused"):
        read_kernel_ridge(path)


def test_13_kb_kernel_ridge_with_shared_references_expanding_to_7_gib_is_refused(sandbox) -> None:
    from sklearn.kernel_ridge import KernelRidge

    from glacierlab.contract.sklearn_pickle import read_kernel_ridge

    inner = [[0.5] for _ in range(1000)]  # memo references: 1000 x 1000 x 1000 numbers in ~13 kB
    kr = KernelRidge(kernel="laplacian")
    kr.X_fit_ = [[inner] * 1000] * 1000
    kr.dual_coef_ = np.zeros(3)
    data = pickle.dumps(kr)
    assert len(data) < 20_000
    path = sandbox.add_input("shared.pickle", data)

    def call() -> None:
        with pytest.raises(CorruptFileError, match=r"KernelRidge X_fit_ would take 7\.45 GiB.*" + BUDGET):
            read_kernel_ridge(path)

    assert _peak_mib(call) < 50


def test_self_referencing_list_is_refused(sandbox) -> None:
    from sklearn.kernel_ridge import KernelRidge

    from glacierlab.contract.sklearn_pickle import read_kernel_ridge

    kr = KernelRidge(kernel="laplacian")
    loop: list = []
    loop.append(loop)
    kr.X_fit_, kr.dual_coef_ = loop, np.zeros(3)
    path = sandbox.add_input("loop.pickle", pickle.dumps(kr))
    with pytest.raises(CorruptFileError, match="reference cycle"):
        read_kernel_ridge(path)
