"""Reproduce the authors' own map of ``../shared/fixtures/authors_pipeline`` with glacierlab's CLI alone.

The fixture holds what the paper's repository (``compile_features.py`` then ``deploy.py``, TF 2.15.1)
computes on a real 655 × 800 px Everest grid with the seeded random GlaViTU weights of
``../shared/fixtures/keras_glavitu``. This script runs exactly what a user runs::

    glacierlab import-keras glavitu_global_random_weights.h5 model.safetensors
    glacierlab predict model.safetensors --optical optical.tif --dem elevation.tif slope.tif --out out/

and prints max |Δp|, mean |Δp| and the mask agreement against the authors' arrays (targets: max |Δp| ≤
1e-3, agreement ≥ 99.9 %), with the wall time of each command.

Usage::

    GLACIERLAB_SEED_DIR=../shared/data python benchmarks/authors_pipeline.py [--threads 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def fixtures_dir() -> Path:
    """``../shared/fixtures`` (next to ``GLACIERLAB_SEED_DIR`` when set)."""
    env = os.environ.get("GLACIERLAB_SEED_DIR") or os.environ.get("GLACIERLAB_DATA_DIR")
    base = Path(env).parent if env else REPO.parent / "shared"
    return base / "fixtures"


def run_cli(work: Path, fixtures: Path, threads: int = 2) -> dict[str, tuple[float, float]]:
    """Run import-keras then predict as subprocesses; return their (wall, CPU) seconds."""
    import resource

    exe = Path(sys.executable).with_name("glacierlab")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "glacierlab.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    ap = fixtures / "authors_pipeline"
    steps = {
        "import-keras": [
            "import-keras",
            str(fixtures / "keras_glavitu" / "glavitu_global_random_weights.h5"),
            str(work / "model.safetensors"),
            "--overwrite",
        ],
        "predict": [
            "predict",
            str(work / "model.safetensors"),
            "--optical", str(ap / "optical.tif"),
            "--dem", str(ap / "elevation.tif"), str(ap / "slope.tif"),
            "--out", str(work / "out"),
            "--device", "cpu",
            "--overwrite",
            "--quiet",
        ],
    }
    seconds = {}
    for name, args in steps.items():
        t0 = time.perf_counter()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, check=False)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        seconds[name] = (time.perf_counter() - t0, cpu)
        if done.returncode:
            raise SystemExit(f"glacierlab {name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds


def compare(out: Path, fixtures: Path) -> dict[str, float]:
    """Max / mean |Δp|, mask agreement and confidence error of ``out/*.tif`` against the authors' arrays."""
    import rasterio

    ref = np.load(fixtures / "authors_pipeline" / "authors_reference.npz")
    with rasterio.open(out / "probability.tif") as f:
        p = f.read(1)
    with rasterio.open(out / "mask.tif") as f:
        m = f.read(1)
    with rasterio.open(out / "confidence.tif") as f:
        c = f.read(1)
    dp = np.abs(p.astype(np.float64) - ref["probability"])
    return {
        "max_dp": float(dp.max()),
        "mean_dp": float(dp.mean()),
        "mask_agreement": float((m == ref["mask"]).mean()),
        "max_dconf": float(np.abs(c.astype(np.float64) - ref["confidence"]).max()),
        "nodata_pixels": int((m == 255).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="OMP threads for the CLI (default 2)")
    ap.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    args = ap.parse_args(argv)
    fixtures = fixtures_dir()
    if not (fixtures / "authors_pipeline" / "authors_reference.npz").exists():
        raise SystemExit(f"fixture not found under {fixtures}; set GLACIERLAB_SEED_DIR to ../shared/data")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        seconds = run_cli(work, fixtures, args.threads)
        figures = compare(work / "out", fixtures)
    load = os.getloadavg()[0]
    print(f"authors_pipeline (655 x 800 px, 15 windows of 384 px, CPU, {args.threads} threads; load {load:.1f})")
    for name, (wall, cpu) in seconds.items():
        print(f"  glacierlab {name:13s} {wall:7.1f} s wall, {cpu:7.1f} s CPU")
    print(f"  max |dp|        {figures['max_dp']:.2e}   (target <= 1e-3)")
    print(f"  mean |dp|       {figures['mean_dp']:.2e}")
    print(f"  mask agreement  {100 * figures['mask_agreement']:.4f} %   (target >= 99.9 %)")
    print(f"  max |dconf|     {figures['max_dconf']:.2e}")
    print(f"  no-data pixels  {figures['nodata_pixels']}")
    ok = figures["max_dp"] <= 1e-3 and figures["mask_agreement"] >= 0.999
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
