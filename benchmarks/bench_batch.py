"""Batch throughput on Dask: scenes per second with 1 vs 2 worker processes (and in-process).

Run (from the repository root, with the shared data as seed folder)::

    GLACIERLAB_SEED_DIR=../shared/data .venv/bin/python benchmarks/bench_batch.py --scenes 6 --workers 1 2

Each scene is a lon/lat window of the Everest catalog region stacked with ``stack_region`` and mapped by
``predict_scene`` with a freshly initialised ``glavitu_tiny`` (``--variant glavitu_lite`` for a heavier
model). Cluster start-up and the first model load are excluded: every configuration first runs one
warm-up scene on each worker, then the timed batch with ``overwrite=True``. Prints scenes/s, speed-up and
the per-task seconds. On a 2-core machine expect well under 2x from 2 workers: each worker's torch uses
all cores, and the stacking (GDAL reads, reprojection) competes for the same cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

BANDS = {"optical": ["blue", "green", "red", "nir"]}


def _scenes(n: int) -> dict[str, dict]:
    """``n`` windows of 0.06 x 0.05 degrees tiling the Everest scene from west to east."""
    return {
        f"everest-{i}": {
            "region_id": "everest",
            "groups": ["optical"],
            "bbox": (
                86.78 + 0.03 * (i % 6),
                27.94 + 0.03 * (i // 6),
                86.84 + 0.03 * (i % 6),
                27.99 + 0.03 * (i // 6),
            ),
        }
        for i in range(n)
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=6, help="scenes per timed batch (default 6)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (0 = in-process)")
    ap.add_argument("--variant", default="glavitu_tiny", help="model variant (default glavitu_tiny)")
    ap.add_argument("--window", type=int, default=128, help="window px (default 128)")
    args = ap.parse_args()

    import torch

    from glacierlab.batch.scenes import predict_scenes
    from glacierlab.batch.tasks import dask_client
    from glacierlab.models import build_model, save_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    os.environ.setdefault("GLACIERLAB_CACHE_DIR", str(tmp / "cache"))
    torch.manual_seed(0)
    ckpt = save_checkpoint(
        tmp / "model.safetensors", build_model(args.variant, input_groups={"optical": 4}), bands=BANDS
    )
    kw = {
        "window": args.window,
        "stride": args.window // 2,
        "batch_size": 8,
        "device": "cpu",
        "progress": False,
    }
    scenes = _scenes(args.scenes)
    print(f"{args.scenes} scenes, {args.variant}, window {args.window}, {os.cpu_count()} CPU cores")
    base = None
    for n in args.workers:
        with dask_client(workers=n) as client:
            warm = {f"warm-{i}": s for i, s in enumerate(list(scenes.values())[: max(n, 1)])}
            predict_scenes(warm, ckpt, tmp / f"warm{n}", client=client, **kw)
            t0 = time.perf_counter()
            table = predict_scenes(scenes, ckpt, tmp / f"run{n}", client=client, overwrite=True, **kw)
            wall = time.perf_counter() - t0
        bad = table[table["status"] != "ok"]
        if len(bad):
            raise SystemExit(f"failed scenes:\n{bad[['scene', 'error']]}")
        rate = len(scenes) / wall
        base = base or rate
        label = "in-process" if n == 0 else f"{n} worker(s)"
        print(
            f"{label:>12}: {wall:6.1f} s wall, {rate:5.2f} scenes/s, x{rate / base:.2f}, "
            f"task median {statistics.median(table['seconds']):.1f} s"
        )


if __name__ == "__main__":
    main()
