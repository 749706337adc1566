"""GlaViTU and baselines: parameter counts, forward/backward of every variant, inputs, dropout, location."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from glacierlab.accel.rewrites import SubpixelUpConv
from glacierlab.errors import ConfigError, InputError, UnknownNameError
from glacierlab.models import (
    REGION_CODES,
    ModelOutput,
    build_model,
    coordinate_vector,
    count_parameters,
    list_models,
    mean_binary_entropy,
    optimise_region_bias,
    region_vector,
    set_mc_dropout,
)
from glacierlab.models.layers import UpConv


def _inputs(groups: dict[str, int], n: int = 2, size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.rand(n, c, size, size, generator=g) for k, c in groups.items()}


# --- parameter counts (Keras counting: BN moving statistics included) -------------------------------


def test_paper_parameter_counts() -> None:
    with torch.device("meta"):
        paper = build_model("glavitu")
        region = build_model("glavitu", location="region")
        coords = build_model("glavitu", location="coordinates")
        five = build_model(
            "glavitu", input_groups={"optical": 6, "dem": 2, "co_pol_sar": 2, "cross_pol_sar": 2, "in_sar": 2}
        )
    assert count_parameters(paper, aux_head=False) == 10_031_938  # Keras test model
    assert count_parameters(paper) == 10_032_068  # training model incl. the 130-parameter DS head
    assert count_parameters(region, aux_head=False) == 10_037_442
    assert count_parameters(coords, aux_head=False) == 10_031_938 + 4 * 64 + 64 + 256 + 64 * 64 + 64 + 256
    assert count_parameters(five) == 10_172_996
    bn_stats = count_parameters(region, aux_head=False) - count_parameters(
        region, keras=False, aux_head=False
    )
    assert bn_stats == 7_808  # Keras non-trainable: BN moving mean + variance


@pytest.mark.parametrize(
    ("name", "expected"), [("setr_b16", 101.7e6), ("resunet", 32.6e6), ("transunet", 8.9e6)]
)
def test_baseline_parameter_counts(name: str, expected: float) -> None:
    with torch.device("meta"):
        model = build_model(name, input_groups={"optical": 6, "dem": 2, "sar": 2})
    assert abs(count_parameters(model) - expected) < 0.05e6


def test_lite_variant_is_cpu_sized() -> None:
    n = count_parameters(build_model("glavitu_lite"))
    assert 0.5e6 <= n <= 1.7e6


# --- every variant trains -------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(list_models()))
def test_every_variant_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name).train()
    size = 16 if name == "setr_b16" else 32
    x = _inputs(model.input_groups, n=2, size=size)
    out = model(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 2, size, size)
    loss = F.cross_entropy(out.logits, torch.zeros(2, size, size, dtype=torch.long))
    if out.aux_logits is not None:
        assert out.aux_logits.shape == out.logits.shape
        loss = loss + 0.5 * F.cross_entropy(out.aux_logits, torch.ones(2, size, size, dtype=torch.long))
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


def test_glavitu_returns_aux_logits_in_eval_and_baselines_none() -> None:
    tiny = build_model("glavitu_tiny").eval()
    with torch.no_grad():
        assert tiny(_inputs(tiny.input_groups, 1)).aux_logits is not None
    res = build_model("resunet", resunet_steps=2, resunet_filters=4, fusion_filters=4).eval()
    with torch.no_grad():
        assert res(_inputs(res.input_groups, 1)).aux_logits is None


def test_setr_probabilities_are_upsampled_after_softmax() -> None:
    model = build_model(
        "setr_b16", vit={"dim": 16, "depth": 1, "heads": 2, "mlp_dim": 16, "pup_filters": 4}, fusion_filters=4
    ).eval()
    with torch.no_grad():
        p = torch.softmax(model(_inputs(model.input_groups, 1, 32)).logits, dim=1)
    assert torch.allclose(p.sum(dim=1), torch.ones(1, 32, 32), atol=1e-6)


# --- inputs ---------------------------------------------------------------------------------------


def test_custom_input_groups_landsat() -> None:
    model = build_model("glavitu_tiny", input_groups={"optical": 4}).eval()
    with torch.no_grad():
        out = model({"optical": torch.rand(1, 4, 24, 24)})
    assert out.logits.shape == (1, 2, 24, 24)


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ({"optical": torch.rand(1, 6, 32, 32)}, "missing"),
        (
            {
                "optical": torch.rand(1, 6, 32, 32),
                "dem": torch.rand(1, 2, 32, 32),
                "sar": torch.rand(1, 2, 32, 32),
            },
            "unexpected",
        ),
        ({"optical": torch.rand(1, 5, 32, 32), "dem": torch.rand(1, 2, 32, 32)}, "5 channels"),
        ({"optical": torch.rand(1, 6, 30, 30), "dem": torch.rand(1, 2, 30, 30)}, "multiple of 8"),
        ({"optical": torch.rand(1, 6, 32, 32), "dem": torch.rand(1, 2, 16, 16)}, "other groups"),
        ({"optical": torch.full((1, 6, 32, 32), math.nan), "dem": torch.rand(1, 2, 32, 32)}, "NaN"),
    ],
)
def test_bad_inputs_raise_input_error(inputs: dict, match: str) -> None:
    model = build_model("glavitu_tiny").eval()
    with pytest.raises(InputError, match=match):
        model(inputs)


def test_positional_embedding_interpolates_for_other_windows() -> None:
    vit = build_model("glavitu").vit
    assert vit.positions(24, 24) is vit.pos_embedding
    assert vit.positions(16, 16).shape == (256, 64)  # 256 px windows
    assert vit.positions(32, 32).shape == (1024, 64)  # 512 px windows
    tiny = build_model("glavitu_tiny").eval()  # defined for 64 px (8x8 tokens)
    with torch.no_grad():
        for size in (48, 64, 96):
            assert tiny(_inputs(tiny.input_groups, 1, size)).logits.shape[-1] == size
    grid = tiny.vit.pos_embedding.T.reshape(1, -1, 8, 8)
    back = F.interpolate(grid, size=(8, 8), mode="bicubic", align_corners=False).reshape(-1, 64).T
    assert torch.equal(back, tiny.vit.positions(8, 8))


def test_upconv_fast_path_equals_literal_tf_same_padding() -> None:
    torch.manual_seed(1)
    up = UpConv(6, 5).eval()
    x = torch.randn(2, 6, 7, 9)
    literal = up(x)
    with torch.no_grad():
        fast = SubpixelUpConv(up)(x)
    assert fast.shape == (2, 5, 14, 18)
    assert torch.allclose(fast, literal, atol=1e-5)
    # TF "same" for an even kernel pads bottom/right only: the last row sees one zero row.
    w = up.conv.weight
    manual = F.conv2d(F.pad(F.interpolate(x, scale_factor=2.0, mode="nearest"), (0, 1, 0, 1)), w)
    assert torch.allclose(up.bn(manual), literal, atol=1e-6)


# --- dropout ----------------------------------------------------------------------------------------


def test_dropout_inactive_in_training_by_default_and_switchable() -> None:
    x = _inputs({"optical": 6, "dem": 2}, n=2)
    faithful = build_model("glavitu_tiny", dropout=0.5).train()
    assert torch.equal(faithful(x).logits, faithful(x).logits)
    active = build_model("glavitu_tiny", dropout=0.5, dropout_in_training=True).train()
    torch.manual_seed(0)
    assert not torch.equal(active(x).logits, active(x).logits)


def test_mc_dropout_mode() -> None:
    model = build_model("glavitu_tiny", dropout=0.5).eval()
    x = _inputs(model.input_groups, n=1)
    with torch.no_grad():
        a, b = model(x).logits, model(x).logits
        assert torch.equal(a, b)
        assert set_mc_dropout(model, True) > 0
        c, d = model(x).logits, model(x).logits
        assert not torch.equal(c, d)
        set_mc_dropout(model, False)
        assert torch.equal(model(x).logits, a)
    with pytest.raises(ConfigError):
        set_mc_dropout(build_model("glavitu_tiny", dropout=0.0), True)


# --- location encodings -----------------------------------------------------------------------------


def test_region_vector_and_aliases() -> None:
    assert REGION_CODES[0] == "ALP" and REGION_CODES[-1] == "unknown" and len(REGION_CODES) == 12
    v = region_vector("HMA")
    assert v.dtype == torch.float32 and v.sum() == 1 and v[REGION_CODES.index("HMA")] == 1
    assert torch.equal(region_vector("GRL"), region_vector("GR"))
    with pytest.raises(UnknownNameError, match="HMA"):
        region_vector("HMAA")


def test_coordinate_vector_radians() -> None:
    v = coordinate_vector(60.0, -45.0)
    expected = [math.sin(math.pi / 3), math.cos(math.pi / 3), math.sin(-math.pi / 4), math.cos(-math.pi / 4)]
    assert v.shape == (4,) and torch.allclose(v, torch.tensor(expected), atol=1e-7)
    assert coordinate_vector([0.0, 10.0], [0.0, 20.0]).shape == (2, 4)
    with pytest.raises(InputError):
        coordinate_vector(95.0, 0.0)


def test_region_and_coordinate_encodings_change_outputs() -> None:
    torch.manual_seed(0)
    region = build_model("glavitu_tiny", location="region").eval()
    x = _inputs(region.input_groups, n=1)
    with torch.no_grad():
        alp = region(x, region_vector("ALP")).logits
        hma = region(x, region_vector("HMA")[None]).logits
        unknown = region(x, region_vector("unknown")).logits
        default = region(x).logits
    assert not torch.allclose(alp, hma)
    assert torch.equal(default, unknown)
    coords = build_model("glavitu_tiny", location="coordinates").eval()
    with torch.no_grad():
        a = coords(x, coordinate_vector(46.5, 8.0)).logits
        b = coords(x, coordinate_vector(-77.0, 160.0)).logits
    assert not torch.allclose(a, b)
    with pytest.raises(InputError, match="location vector"):
        coords(x)
    with pytest.raises(InputError, match="no location"):
        build_model("glavitu_tiny").eval()(x, region_vector("ALP"))


def test_bias_optimisation_lowers_entropy_and_keeps_weights() -> None:
    torch.manual_seed(0)
    model = build_model("glavitu_tiny", location="region", fusion_filters=16).eval()
    scene = {k: v[0] for k, v in _inputs(model.input_groups, n=1, size=64, seed=3).items()}
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    batch = {k: v[None] for k, v in scene.items()}
    with torch.no_grad():
        start = mean_binary_entropy(model(batch, torch.full((12,), 1 / 12)).logits)
    weights = optimise_region_bias(
        model, scene, window=32, batch_size=4, steps_per_epoch=4, max_epochs=8, lr=0.2
    )
    with torch.no_grad():
        end = mean_binary_entropy(model(batch, weights).logits)
    assert weights.shape == (12,) and torch.isclose(weights.sum(), torch.tensor(1.0)) and (weights >= 0).all()
    assert not torch.allclose(weights, torch.full((12,), 1 / 12), atol=1e-3)
    assert end < start
    assert all(torch.equal(before_state[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ConfigError, match="region"):
        optimise_region_bias(build_model("glavitu_tiny"), scene)


def test_fused_inference_copy_matches_original() -> None:
    from glacierlab.accel.fuse import fuse_for_inference

    model = build_model("glavitu_tiny", location="region")
    model.train()
    model(_inputs(model.input_groups, n=2))  # non-trivial BN statistics
    model.eval()
    fused = fuse_for_inference(model)
    x = _inputs(model.input_groups, n=1, seed=5)
    with torch.no_grad():
        ref = model(x, region_vector("SA"))
        got = fused(
            {k: v.contiguous(memory_format=torch.channels_last) for k, v in x.items()}, region_vector("SA")
        )
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert torch.allclose(ref.logits, got.logits, atol=1e-4) and torch.allclose(
        ref.aux_logits, got.aux_logits, atol=1e-4
    )
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # original untouched
