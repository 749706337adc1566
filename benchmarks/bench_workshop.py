"""Workshop path timings: each notebook with its default parameters under papermill, as a participant runs them.

Run (from the repository root, with the shared data as seed folder)::

    GLACIERLAB_SEED_DIR=../shared/data .venv/bin/python benchmarks/bench_workshop.py
    GLACIERLAB_SEED_DIR=../shared/data .venv/bin/python benchmarks/bench_workshop.py --explore-all

Runs explore_region -> train_your_region -> map_glaciers -> reliability_calibration -> compare_outlines in
one fresh workspace (so map and calibrate use the model the training wrote, as in a workshop), each in a
new kernel started from a copy of notebooks/ (the working folder JupyterLab uses). Prints the wall time of
every notebook (kernel start and imports included), the 1-minute load average before and after (the cores
may be shared), the CPU count and whether the process runs under ``nice``. ``--explore-all`` also times
explore_region on every catalog region. Map tiles are in-memory overlays (no browser to serve tiles to).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PATH = (
    ("explore_region", {}),
    ("train_your_region", {}),
    ("map_glaciers", {}),
    ("reliability_calibration", {}),
    ("compare_outlines", {}),
)


def _run(name: str, params: dict, cwd: Path, out: Path) -> tuple[float, float, float]:
    import papermill as pm

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    pm.execute_notebook(
        str(cwd / f"{name}.ipynb"),
        str(out),
        parameters=params,
        kernel_name="python3",
        cwd=str(cwd),
        progress_bar=False,
    )
    return time.perf_counter() - t0, load0, os.getloadavg()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--explore-all", action="store_true", help="also time explore_region on every region")
    args = ap.parse_args()

    from glacierlab.data.catalog import load_catalog

    tmp = Path(tempfile.mkdtemp(prefix="bench_workshop_"))
    os.environ["GLACIERLAB_WORKSPACE"] = str(tmp / "workspace")
    os.environ.setdefault("GLACIERLAB_MAP_MODE", "overlay")
    cwd = tmp / "notebooks"
    shutil.copytree(REPO / "notebooks", cwd)
    print(f"{os.cpu_count()} CPU cores, nice {os.nice(0)}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    print(f"{'notebook':<26}{'region':<16}{'wall s':>8}{'load before':>13}{'load after':>12}")
    runs = list(PATH)
    if args.explore_all:
        runs += [("explore_region", {"region": r}) for r in load_catalog().region_ids]
    total = 0.0
    for i, (name, params) in enumerate(runs):
        wall, l0, l1 = _run(name, params, cwd, tmp / f"{i:02d}_{name}.ipynb")
        total += wall
        region = str(params.get("region", "default"))
        print(f"{name:<26}{region:<16}{wall:8.1f}{l0:13.2f}{l1:12.2f}", flush=True)
    print(f"total {total:.0f} s; outputs in {tmp}")


if __name__ == "__main__":
    main()
