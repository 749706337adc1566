"""Shared fixtures: real data from ../shared/data (never copied into the repo), isolated caches."""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import pandas as pd

# One BLAS/OpenMP thread per test process: on 2 shared cores, 2-thread torch on the tiny test models is
# 10-100x slower (OpenMP spin contention) than 1 thread. Kernels and Dask workers inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


# A relative seed folder (GLACIERLAB_SEED_DIR=../shared/data) is made absolute once: notebook kernels,
# Voila and CLI subprocesses inherit it but run in other folders.
for _var in ("GLACIERLAB_SEED_DIR", "GLACIERLAB_DATA_DIR"):
    if os.environ.get(_var):
        os.environ[_var] = str(Path(os.environ[_var]).resolve())


def _shared_data_dir() -> Path:
    env = os.environ.get("GLACIERLAB_SEED_DIR") or os.environ.get("GLACIERLAB_DATA_DIR")
    return Path(env) if env else (REPO.parent / "shared" / "data").resolve()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with the most ``slow`` or ``browser`` tests run first, each file's tests kept together.

    ``make test`` hands whole files to two workers in this order (``--dist loadfile --no-loadscope-reorder``):
    the long files start at once instead of ending the run on one worker while the other idles.
    """
    heavy = Counter(i.path for i in items if i.get_closest_marker("slow") or i.get_closest_marker("browser"))
    items.sort(key=lambda i: -heavy[i.path])  # stable: collection order within a file and among equals


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data folder (``../shared/data``). In CI its absence fails the test loudly."""
    d = _shared_data_dir()
    if not (d / "SHA256SUMS").exists():
        msg = f"real data folder not found at {d}: set GLACIERLAB_SEED_DIR to a copy of shared/data"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def shared_fixtures(shared_data: Path) -> Path:
    """``../shared/fixtures`` (Keras reference model)."""
    return shared_data.parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, shared_data_env: None
) -> None:
    """Every test uses one session-wide cache folder under pytest's tmp, seeded from shared data.

    Outputs go to a session workspace under pytest's tmp too (never the checkout's ``runs/``), so a model
    someone trained in the checkout does not change what the tests' default checkpoint is.
    """
    monkeypatch.setenv("GLACIERLAB_CACHE_DIR", str(_session_cache(tmp_path_factory)))
    monkeypatch.setenv("GLACIERLAB_WORKSPACE", str(_session_cache(tmp_path_factory).parent / "workspace"))


_CACHE: list[Path] = []


def _session_cache(factory: pytest.TempPathFactory) -> Path:
    if not _CACHE:
        _CACHE.append(factory.mktemp("glacierlab-cache"))
    return _CACHE[0]


@pytest.fixture(scope="session")
def shared_data_env() -> None:
    """Point the download cache's seed folder at the shared data when it exists."""
    d = _shared_data_dir()
    if d.exists():
        os.environ.setdefault("GLACIERLAB_SEED_DIR", str(d))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained glavitu_tiny for the Landsat 2000 bands: exercises runners and notebooks, not accuracy."""
    import torch

    from glacierlab.models import build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model("glavitu_tiny", input_groups={"optical": 4, "dem": 2})
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    return save_checkpoint(
        path, model, bands={"optical": ["blue", "green", "red", "nir"], "dem": ["elevation", "slope"]}
    )


#: Small Everest window (lon/lat) the report tests run the real template on.
EVEREST_REPORT_BBOX = [86.85, 27.95, 86.95, 28.02]


@contextmanager
def shared_by_workers(factory: pytest.TempPathFactory, name: str) -> Iterator[tuple[Path, bool]]:
    """A folder every xdist worker of this run sees, locked while one of them fills it: (folder, filled).

    For results that cost more than a minute and that tests in several files read (session fixtures are
    per worker process). The filler touches ``folder / ".done"`` once everything is written.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    root = factory.getbasetemp().parent if worker else factory.getbasetemp()  # pytest-N/ holds popen-gw*/
    folder = root / f"shared-{name}"
    folder.mkdir(exist_ok=True)
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield folder, (folder / ".done").exists()


@pytest.fixture(scope="session")
def everest_report(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, object]:
    """The real report template run once on an Everest window with the shipped model: (out folder, status).

    Run once per test run (the first worker to need it; the other reads it): the report tests only read it.
    """
    pytest.importorskip("papermill", reason="report tests need the notebooks extra: pip install -e '.[notebooks]'")
    import pandas as pd

    with shared_by_workers(tmp_path_factory, "everest_report") as (out, done):
        if not done:
            table = _run_everest_report(tmp_path_factory, out)
            table.to_json(out / "status.json", orient="records", default_handler=str)
            (out / ".done").touch()
    return out, pd.read_json(out / "status.json", orient="records", dtype=False)


def _run_everest_report(tmp_path_factory: pytest.TempPathFactory, out: Path) -> pd.DataFrame:
    from glacierlab.reports.runner import run_reports

    cache = _CACHE[0] if _CACHE else tmp_path_factory.mktemp("glacierlab-cache")
    _CACHE[:] = [cache]
    old = os.environ.get("GLACIERLAB_CACHE_DIR")
    os.environ["GLACIERLAB_CACHE_DIR"] = str(cache)  # the kernel inherits it (session fixture: no monkeypatch)
    try:
        table = run_reports(["everest"], out, parameters={"bbox": EVEREST_REPORT_BBOX}, progress=False, timeout=900)
    finally:
        if old is None:
            os.environ.pop("GLACIERLAB_CACHE_DIR", None)
        else:
            os.environ["GLACIERLAB_CACHE_DIR"] = old
    return table
