"""Out-of-memory back-off: a batch that does not fit is split instead of killing the run (simulated on CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glacierlab.errors import DeviceMemoryError, GlacierLabWarning
from glacierlab.inference.runner import Runner
from glacierlab.models import build_model


class _Limited(torch.nn.Module):
    """Wraps a model and raises the CUDA out-of-memory error above ``limit`` windows per call."""

    def __init__(self, model: torch.nn.Module, limit: int) -> None:
        super().__init__()
        self.model, self.limit, self.calls = model, limit, []

    def forward(self, inputs: dict, location: torch.Tensor | None = None) -> object:
        n = next(iter(inputs.values())).shape[0]
        self.calls.append(n)
        if n > self.limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {n} windows")
        return self.model(inputs, location)


def _batch(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"optical": rng.random((n, 6, 32, 32), np.float32), "dem": rng.random((n, 2, 32, 32), np.float32)}


def test_runner_halves_the_batch_on_out_of_memory_and_remembers_it() -> None:
    torch.manual_seed(0)
    model = build_model("glavitu_tiny").eval()
    runner = Runner(model, "cpu", tta=False, mc_samples=0, compile_model=False)
    expected, _ = runner(_batch(8), None)
    limited = _Limited(runner.model, limit=3)
    runner.model = limited
    with pytest.warns(GlacierLabWarning, match="ran out of memory") as record:
        got, spread = runner(_batch(8), None)
    assert [str(w.message) for w in record] == [
        "cpu ran out of memory at 8 windows per batch; continuing with 4.",
        "cpu ran out of memory at 4 windows per batch; continuing with 2.",
    ]
    np.testing.assert_allclose(got, expected, atol=1e-6)  # same result, computed in smaller batches
    assert got.shape == (8, 32, 32) and spread.shape == got.shape
    assert runner.max_batch == 2 and limited.calls[:3] == [8, 4, 2]
    limited.calls.clear()
    got, _ = runner({g: a[:5] for g, a in _batch(8).items()}, None)  # starts at the size that fitted
    assert limited.calls == [2, 2, 1]
    np.testing.assert_allclose(got, expected[:5], atol=1e-6)


def test_runner_reports_when_even_one_window_does_not_fit() -> None:
    model = build_model("glavitu_tiny").eval()
    runner = Runner(model, "cpu", tta=False, mc_samples=0, compile_model=False)
    runner.model = _Limited(runner.model, limit=0)
    with pytest.warns(GlacierLabWarning), pytest.raises(DeviceMemoryError, match="single window"):
        runner(_batch(2), None)
