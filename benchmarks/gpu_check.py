"""GPU check (issue 18): bf16 windows/s and share of the bf16 peak, a whole Sentinel-2 tile end to end,
peak host RAM, and the out-of-memory back-off. One script, prepared to run on a lent GPU machine.

On a machine with an NVIDIA GPU and torch (nothing else), from a checkout carrying ``.device/``
(built here by ``bash tools/device_bundle.sh``)::

    python -m pip install -q --no-index --find-links .device/wheels -r .device/requirements.txt
    PYTHONPATH=. python benchmarks/gpu_check.py --out /tmp/gpu_check           # ~3-6 minutes
    PYTHONPATH=. python benchmarks/gpu_check.py --cpu --model glavitu_tiny --size 1024 --batch 4 --windows 8

Printed (nothing is asserted; goals from the issue in brackets):
1. the device, torch, the measured bf16 matmul rate and the data-sheet bf16 peak;
2. window loop: the paper GlaViTU (random weights; speed does not depend on them) on 384 x 384
   windows already on the device, bf16 autocast + channels-last (+ ``--compile``): windows/s and the
   achieved share of the bf16 peak, paper FLOPs per window [>= 40 %]; then the same through the
   inference ``Runner`` from host arrays (host-to-device copies and softmax included);
3. a synthetic 10980 x 10980 Sentinel-2-like tile (optical 6 bands uint8 + DEM 2 bands int16, tiled
   deflate GeoTIFFs) written on this machine, then ``predict_scene`` of the whole tile to COGs:
   seconds [< 30 s], the stage breakdown (read, model, blend, write) and peak host RSS;
4. the back-off: a batch far too large for the device goes through the ``Runner``, which halves it on
   CUDA out-of-memory, warns and finishes instead of dying.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_model / bench_predict helpers


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_info(device: str) -> float | None:
    """Print the device and return its bf16 peak in TFLOP/s (None when unknown or on CPU)."""
    import torch
    from bench_cuda import BF16_PEAK_TFLOPS, matmul_rate

    print(f"torch {torch.__version__}; device {device}")
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
    free, total = torch.cuda.mem_get_info()
    measured = matmul_rate(8192, 10, torch.bfloat16, "cuda") / 1e3
    print(
        f"{name}: {total / 2**30:.0f} GiB ({free / 2**30:.0f} free); bf16 matmul 8192^3 {measured:.0f} TFLOP/s; "
        f"data-sheet bf16 dense peak {peak or 'unknown'} TFLOP/s"
    )
    return peak or measured


def window_loop(name: str, device: str, batch: int, repeats: int, compile_model: bool, peak: float | None) -> None:
    import torch
    from bench_model import count_flops, inputs

    from glacierlab.inference.runner import Runner
    from glacierlab.models import build_model

    flops = count_flops(build_model(name).eval(), 384, literal=True)
    model = build_model(name).eval().to(device).to(memory_format=torch.channels_last)
    runs = {"eager": model}
    if compile_model:
        runs["compiled"] = torch.compile(model, mode="max-autotune-no-cudagraphs")
    x = inputs(model, batch, 384, device)
    cuda = device.startswith("cuda")
    print(f"\n## window loop: {name}, 384 x 384, batch {batch}, {flops / 1e9:.1f} GFLOP per window")
    for label, m in runs.items():
        times = []
        with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=cuda):
            t0 = time.perf_counter()
            m(x)
            _sync(device)
            first = time.perf_counter() - t0
            for _ in range(repeats):
                t0 = time.perf_counter()
                m(x)
                _sync(device)
                times.append((time.perf_counter() - t0) / batch)
        sec = statistics.median(times)
        share = f" = {100 * flops / sec / 1e12 / peak:.1f} % of the bf16 peak [goal >= 40 %]" if peak else ""
        print(
            f"  {label:9s} {1 / sec:8.1f} windows/s (median of {repeats}; first call {first:.1f} s), "
            f"{flops / sec / 1e12:7.1f} TFLOP/s{share}"
        )
    runner = Runner(build_model(name).eval(), device, tta=False, mc_samples=0, compile_model=False)
    host = {k: v.cpu().numpy() for k, v in inputs(model, batch, 384, "cpu", cl=False).items()}
    runner(host, None)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        runner(host, None)
    _sync(device)
    sec = (time.perf_counter() - t0) / repeats / batch
    print(f"  Runner from host arrays (H2D copy, bf16, softmax, D2H): {1 / sec:8.1f} windows/s")


def whole_tile(name: str, device: str, size: int, batch: int, out: Path) -> None:
    from bench_predict import make_inputs

    from glacierlab.inference.predict import predict_scene
    from glacierlab.inference.tiling import window_grid
    from glacierlab.models import build_model

    out.mkdir(parents=True, exist_ok=True)
    print(f"\n## whole tile {size} x {size} px (optical 6 uint8 + DEM 2 int16, tiled deflate GeoTIFFs)")
    t0 = time.perf_counter()
    paths = make_inputs(out, size)
    print(f"  inputs written in {time.perf_counter() - t0:.1f} s: {paths}")

    class Ckpt:  # the minimum predict_scene reads from a checkpoint
        model = build_model(name, input_groups={"optical": 6, "dem": 2}).eval()
        bands = {"optical": [f"b{i}" for i in range(6)], "dem": ["elevation", "slope"]}
        normalisation = {
            "optical": {"min": [0.0] * 6, "max": [255.0] * 6},
            "dem": {"min": [0.0, 0.0], "max": [9000.0, 9000.0]},
        }
        calibration: dict = {}
        variant = name

    rss0 = _rss_mb()
    t0 = time.perf_counter()
    ds = predict_scene(
        Ckpt(),
        paths,
        out_dir=out / "pred",
        overwrite=True,
        device=device,
        progress=False,
        window=384,
        stride=192,
        batch_size=batch,
    )
    wall = time.perf_counter() - t0
    n = window_grid(size, size, 384, 192, "edge").total
    stages = json.loads(ds.attrs.get("seconds", "{}"))
    print(
        f"  predict_scene to COGs: {wall:.1f} s [goal < 30 s] for {n} windows ({n / wall:.0f} windows/s), "
        f"precision {ds.attrs.get('precision')}; stages (s) {stages}"
    )
    print(f"  peak host RSS {_rss_mb():.0f} MB (before the run {rss0:.0f} MB)")


def back_off(name: str, device: str, windows: int) -> None:
    from glacierlab.errors import GlacierLabWarning
    from glacierlab.inference.runner import Runner
    from glacierlab.models import build_model

    print(f"\n## out-of-memory back-off: {windows} windows of 384 x 384 in one call")
    runner = Runner(build_model(name).eval(), device, tta=False, mc_samples=0, compile_model=False)
    rng = np.random.default_rng(0)
    host = {
        "optical": rng.random((windows, 6, 384, 384), dtype=np.float32),
        "dem": rng.random((windows, 2, 384, 384), dtype=np.float32),
    }
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GlacierLabWarning)
        prob, _ = runner(host, None)
    _sync(device)
    msgs = [str(w.message) for w in caught if issubclass(w.category, GlacierLabWarning)]
    print(
        f"  finished {prob.shape[0]} windows in {time.perf_counter() - t0:.1f} s; batch now "
        f"{runner.max_batch or windows}; warnings: {msgs or 'none (the batch fitted)'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="", help="folder for the synthetic tile and outputs (default: a temp dir)")
    ap.add_argument("--size", type=int, default=10980, help="tile side in pixels (Sentinel-2: 10980)")
    ap.add_argument("--batch", type=int, default=64, help="windows per forward pass")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--windows", type=int, default=2048, help="windows in the back-off check")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile in the window loop")
    ap.add_argument("--model", default="glavitu", help="registered variant (glavitu = the paper model)")
    ap.add_argument("--cpu", action="store_true", help="smoke test on CPU (figures meaningless)")
    args = ap.parse_args()
    import torch

    device = "cpu" if args.cpu else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible to torch; run on a GPU machine, or pass --cpu for a smoke test")
    peak = device_info(device)
    window_loop(args.model, device, args.batch, args.repeats, args.compile, peak)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        whole_tile(args.model, device, args.size, args.batch, Path(args.out or tmp))
    back_off(args.model, device, args.windows)


if __name__ == "__main__":
    main()
