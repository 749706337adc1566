"""Benchmark the GlaViTU models: parameters, FLOPs per window, speed on CPU (and CUDA when present).

Run (takes about 3-5 minutes on a 2-core CPU; other heavy jobs distort the timings):

    .venv/bin/python benchmarks/bench_model.py                 # everything
    .venv/bin/python benchmarks/bench_model.py --modes fused   # only the fastest CPU path
    .venv/bin/python benchmarks/bench_model.py --cuda-compile  # on a GPU machine: add torch.compile

Printed (nothing is asserted):
* Keras-counted parameters (BN moving statistics included) of ``glavitu`` and ``glavitu_lite``;
* GMAC and GFLOP per 384x384 window counted with ``torch.utils.flop_counter.FlopCounterMode``, for the
  model as defined (paper: about 119.5 GMAC) and as executed by the inference path (the 2x2 up-convs
  run as equivalent transposed convs on the small map);
* CPU seconds per window and achieved GFLOP/s (paper FLOPs / time) at batch 1 and 4 with torch threads =
  cores, for several execution modes, next to the fp32 matrix-multiply rate measured in the same run;
* on CUDA: bf16 autocast + channels_last (+ torch.compile), windows/s and fraction of the bf16 peak.
Reference: the authors' Keras model on this kind of 2-core machine: 2.3 s per window at batch 1.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from glacierlab.models import build_model, count_parameters
from glacierlab.models.fuse import fuse_for_inference
from glacierlab.models.layers import UpConv

#: Dense bf16 tensor-core peaks (TFLOP/s) by device-name fragment, from vendor data sheets.
BF16_PEAK_TFLOPS = {
    "H200": 989.4,
    "H100 SXM": 989.4,
    "H100 80GB HBM3": 989.4,
    "H100 PCIe": 756.0,
    "A100": 312.0,
}


def inputs(model: torch.nn.Module, n: int, size: int, device: str = "cpu") -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {k: torch.rand(n, c, size, size, generator=g).to(device) for k, c in model.input_groups.items()}


def count_flops(model: torch.nn.Module, size: int = 384, literal: bool = True) -> int:
    """FLOPs of one forward of one window (literal: the up-convs as defined, else as executed)."""
    for m in model.modules():
        if isinstance(m, UpConv):
            m.fast = not literal
    x = inputs(model, 1, size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    for m in model.modules():
        if isinstance(m, UpConv):
            m.fast = True
    return counter.get_total_flops()


def matmul_rate(
    n: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32, device: str = "cpu"
) -> float:
    """Best achieved GFLOP/s of an n x n x n matrix multiply."""
    a = torch.rand(n, n, dtype=dtype, device=device)
    b = torch.rand(n, n, dtype=dtype, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def timeit(fn: Callable[[], object], repeats: int, sync: Callable[[], None] = lambda: None) -> float:
    """Median seconds of ``fn`` after one warm-up call."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cpu_modes(model: torch.nn.Module) -> dict[str, tuple[torch.nn.Module, bool]]:
    """Execution modes: name -> (model, channels_last inputs)."""
    literal = build_model(model.variant, input_groups=model.input_groups)
    literal.load_state_dict(model.state_dict())
    for m in literal.modules():
        if isinstance(m, UpConv):
            m.fast = False
    return {
        "eager-nchw-literal": (literal.eval(), False),
        "eager-nchw": (model.eval(), False),
        "channels_last": (copy.deepcopy(model).to(memory_format=torch.channels_last).eval(), True),  # type: ignore[call-overload]
        "fused": (fuse_for_inference(model, channels_last=True), True),
    }


def bench_cpu(
    name: str, sizes: list[int], batches: list[int], modes: list[str], repeats: int, gemm: float
) -> None:
    model = build_model(name).eval()
    print(f"\n## {name}: {count_parameters(model, aux_head=False):,} parameters (Keras count, test model)")
    for size in sizes:
        flops = count_flops(model, size, literal=True)
        executed = count_flops(model, size, literal=False)
        print(
            f"  {size}x{size}: {flops / 2e9:.1f} GMAC = {flops / 1e9:.1f} GFLOP per window as defined; "
            f"{executed / 1e9:.1f} GFLOP as executed (fast up-conv)"
        )
        for mode, (m, cl) in cpu_modes(model).items():
            if modes and mode not in modes:
                continue
            for n in batches:
                x = inputs(m, n, size)
                if cl:
                    x = {k: v.contiguous(memory_format=torch.channels_last) for k, v in x.items()}
                with torch.inference_mode():
                    sec = timeit(lambda m=m, x=x: m(x), repeats if n == 1 else max(1, repeats - 1)) / n
                rate = flops / sec / 1e9
                print(
                    f"    {mode:20s} batch {n}: {sec:6.3f} s/window  {rate:6.1f} GFLOP/s "
                    f"({100 * rate / gemm:4.0f} % of the fp32 matmul rate)"
                )


def bench_cuda(batch: int, compile_model: bool, repeats: int) -> None:
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
    measured = matmul_rate(8192, 10, torch.bfloat16, "cuda") / 1e3
    print(
        f"\n## CUDA: {name}; bf16 matmul {measured:.0f} TFLOP/s; data-sheet peak {peak or 'unknown'} TFLOP/s"
    )
    model = build_model("glavitu").eval().cuda().to(memory_format=torch.channels_last)
    flops = count_flops(build_model("glavitu").eval(), 384, literal=True)
    x = {
        k: v.contiguous(memory_format=torch.channels_last)
        for k, v in inputs(model, batch, 384, "cuda").items()
    }
    runs = {"eager": model}
    if compile_model:
        runs["compiled"] = torch.compile(model, mode="max-autotune-no-cudagraphs")
    for label, m in runs.items():
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            sec = timeit(lambda m=m: m(x), repeats, torch.cuda.synchronize) / batch
        tflops = flops / sec / 1e12
        ref = peak or measured
        print(
            f"  {label:9s} bf16 batch {batch}: {1 / sec:7.1f} windows/s, {tflops:6.1f} TFLOP/s "
            f"= {100 * tflops / ref:4.1f} % of {'peak' if peak else 'measured matmul'}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="glavitu,glavitu_lite")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--modes", default="", help="comma list of CPU modes (default all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cuda-batch", type=int, default=32)
    ap.add_argument("--cuda-compile", action="store_true")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    print(
        f"torch {torch.__version__}, {cores} cores, threads {torch.get_num_threads()}, "
        f"oneDNN {torch.backends.mkldnn.is_available()}"
    )
    gemm = matmul_rate()
    print(f"fp32 matmul 2048^3: {gemm:.1f} GFLOP/s (practical ceiling, measured now)")
    batches = [int(b) for b in args.batches.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    for name in args.variants.split(","):
        sizes = [384] if name == "glavitu" else [256, 384]
        bench_cpu(name, sizes, batches if name == "glavitu" else [1], modes, args.repeats, gemm)
    print(f"fp32 matmul again: {matmul_rate():.1f} GFLOP/s (drift shows interference from other jobs)")
    if torch.cuda.is_available():
        bench_cuda(args.cuda_batch, args.cuda_compile, args.repeats)
    else:
        print("\nCUDA not available: GPU benchmark skipped.")


if __name__ == "__main__":
    main()
