"""CUDA part of ``bench_model.py``: bf16 matmul rate, data-sheet peaks, the paper model's bf16 windows/s.

Also used by ``gpu_check.py``. Runs only where CUDA is available.
"""

from __future__ import annotations

import statistics
import time

from bench_model import count_flops, inputs

#: Dense bf16 tensor-core peaks (TFLOP/s) by device-name fragment, from vendor data sheets.
BF16_PEAK_TFLOPS = {
    "H200": 989.4,
    "H100 SXM": 989.4,
    "H100 80GB HBM3": 989.4,
    "H100 PCIe": 756.0,
    "A100": 312.0,
}


def matmul_rate(n: int, repeats: int, dtype: object, device: str) -> float:
    """Best achieved GFLOP/s of an n x n x n matrix multiply (CUDA)."""
    import torch

    a = torch.rand(n, n, dtype=dtype, device=device)  # type: ignore[call-overload]
    b = torch.rand(n, n, dtype=dtype, device=device)  # type: ignore[call-overload]
    best = float("inf")
    for _ in range(repeats + 1):
        torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def bench_cuda(batch: int, compile_model: bool, repeats: int) -> None:
    import torch

    from glacierlab.models import build_model

    name = torch.cuda.get_device_name()
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
    measured = matmul_rate(8192, 10, torch.bfloat16, "cuda") / 1e3
    print(f"\n## CUDA: {name}; bf16 matmul {measured:.0f} TFLOP/s; data-sheet peak {peak or 'unknown'} TFLOP/s")
    model = build_model("glavitu").eval().cuda().to(memory_format=torch.channels_last)
    flops = count_flops(build_model("glavitu").eval(), 384, literal=True)
    x = inputs(model, batch, 384, "cuda")
    runs = {"eager": model}
    if compile_model:
        runs["compiled"] = torch.compile(model, mode="max-autotune-no-cudagraphs")
    for label, m in runs.items():
        times = []
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            m(x)
            for _ in range(repeats):
                torch.cuda.synchronize()
                t = time.perf_counter()
                m(x)
                torch.cuda.synchronize()
                times.append((time.perf_counter() - t) / batch)
        sec = statistics.median(times)
        tflops = flops / sec / 1e12
        ref = peak or measured
        print(
            f"  {label:9s} bf16 batch {batch}: {1 / sec:7.1f} windows/s, {tflops:6.1f} TFLOP/s "
            f"= {100 * tflops / ref:4.1f} % of {'peak' if peak else 'measured matmul'}"
        )
