"""The packed CPU inference copy (oneDNN prepacked, fused epilogues) computes the plain model's function."""

from __future__ import annotations

import copy

import pytest
import torch

from glacierlab.accel.heap import reuse_freed_memory
from glacierlab.accel.packed import (
    PackedConv,
    PackedFusion,
    PackedResBlock,
    PackedUpConv,
    pack_for_cpu,
    packing_available,
)
from glacierlab.errors import ConfigError
from glacierlab.models import build_model, region_vector

pytestmark = pytest.mark.skipif(
    not packing_available(), reason="torch build without oneDNN fused convolutions (torch.ops.mkldnn)"
)

_VIT = {"patch_size": 8, "dim": 16, "depth": 1, "heads": 2, "mlp_dim": 32, "pup_filters": 8}
VARIANTS = [
    ("glavitu_tiny", {"location": "region"}, 32),
    ("glavitu_tiny", {"fusion_gate": False, "location": "coordinates"}, 48),
    ("glavitu_lite", {}, 96),
    ("resunet", {"resunet_filters": 8, "fusion_filters": 8, "resunet_steps": 2}, 32),
    (
        "transunet",
        {"resunet_filters": 8, "fusion_filters": 8, "image_size": 32, "vit": {**_VIT, "patch_size": 1}},
        32,
    ),
    ("setr_b16", {"vit": _VIT, "image_size": 32}, 32),
]


def _trained_stats(model: torch.nn.Module, size: int, loc: torch.Tensor | None) -> torch.nn.Module:
    """Give BatchNorm non-trivial running statistics so that folding is actually exercised."""
    model.train()
    g = torch.Generator().manual_seed(1)
    x = {k: torch.randn(2, c, size, size, generator=g) * 2 + 0.5 for k, c in model.input_groups.items()}
    with torch.no_grad():
        for _ in range(3):
            model(x, None if loc is None else loc.expand(2, -1))
    return model.eval()


def _location(model: torch.nn.Module) -> torch.Tensor | None:
    dim = model.location_dim
    if dim == 12:
        return region_vector("ALP")
    return torch.tensor([0.5, 0.8, -0.3, 0.9]) if dim == 4 else None


@pytest.mark.parametrize(("name", "overrides", "size"), VARIANTS)
def test_packed_copy_equals_the_model(name: str, overrides: dict[str, object], size: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, **overrides)
    loc = _location(model)
    model = _trained_stats(model, size, loc)
    before = copy.deepcopy(model.state_dict())
    packed = pack_for_cpu(model)
    for n, s in ((1, size), (3, size), (2, 2 * size)):  # batch and window sizes other than at packing
        g = torch.Generator().manual_seed(n)
        x = {k: torch.randn(n, c, s, s, generator=g) for k, c in model.input_groups.items()}
        with torch.inference_mode(), reuse_freed_memory():
            ref = model(x, loc)
            got = packed({k: v.contiguous(memory_format=torch.channels_last) for k, v in x.items()}, loc)
            plain = packed(x, loc)  # NCHW inputs work too
        scale = float(ref.logits.abs().max())
        assert torch.allclose(got.logits, ref.logits, rtol=0, atol=2e-5 * max(scale, 1.0))
        assert torch.equal(plain.logits, got.logits)
        if ref.aux_logits is not None:
            assert got.aux_logits is not None
            assert torch.allclose(got.aux_logits, ref.aux_logits, rtol=0, atol=2e-5 * max(scale, 1.0))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # original untouched
    kinds = {type(m) for m in packed.modules()}
    assert PackedConv in kinds and not any(type(m) is torch.nn.Conv2d for m in packed.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in packed.modules())
    if name != "setr_b16":
        assert PackedResBlock in kinds and PackedFusion in kinds
    if name.startswith("glavitu"):
        assert PackedUpConv in kinds


def test_packed_copy_keeps_the_model_interface_and_mc_dropout_slots() -> None:
    model = build_model("glavitu_tiny", location="region", dropout=0.2).eval()
    packed = pack_for_cpu(model)
    assert type(packed) is type(model)
    assert packed.input_groups == model.input_groups and packed.size_multiple == model.size_multiple
    from glacierlab.models import set_mc_dropout

    assert set_mc_dropout(packed, True) == set_mc_dropout(model, True) > 0
    x = {k: torch.rand(2, c, 32, 32) for k, c in model.input_groups.items()}
    with torch.inference_mode():
        a, b = packed(x).logits, packed(x).logits
    assert not torch.equal(a, b)  # dropout acts in the packed copy too


def test_pack_refuses_non_float32_models() -> None:
    model = build_model("glavitu_tiny").double()
    with pytest.raises(ConfigError, match="float32"):
        pack_for_cpu(model)


def test_reuse_freed_memory_nests_and_restores() -> None:
    with reuse_freed_memory() as outer, reuse_freed_memory() as inner:
        assert outer == inner
        a = torch.ones(3_000_000)  # 12 MB: a block above glibc's default mmap threshold
        del a
    with reuse_freed_memory():
        assert float(torch.ones(10).sum()) == 10.0


def test_prediction_leaves_the_allocator_alone_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU runner changes no process-wide allocator setting; reuse_freed_memory is opt-in and restores."""
    from glacierlab.accel import heap
    from glacierlab.inference.runner import torch_threads

    calls: list[tuple[str, tuple[int, ...]]] = []

    class FakeLibc:
        def mallopt(self, *args: int) -> int:
            calls.append(("mallopt", args))
            return 1

        def malloc_trim(self, *args: int) -> int:
            calls.append(("malloc_trim", args))
            return 1

    monkeypatch.setattr(heap, "_libc", FakeLibc)
    with torch_threads("cpu"):
        assert float(torch.ones(4).sum()) == 4.0
    assert calls == []
    with heap.reuse_freed_memory() as active:
        assert active and len(calls) == 2
    assert [c[0] for c in calls[2:]] == ["mallopt", "mallopt", "malloc_trim"]  # restored on exit
