import json

import numpy as np
import pytest

from glacierlab.contract.split import SpatialSplit, make_spatial_split
from glacierlab.errors import ConfigError, NoDataError, UnknownNameError
from glacierlab.training.augment import AugmentConfig
from glacierlab.training.scene_dataset import (
    ScenePatches,
    grid_positions,
    scene_from_stack,
    window_positions,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_windows_of_different_splits_never_overlap_and_keep_the_buffer(seed: int) -> None:
    window = 16
    split = make_spatial_split((150, 130), block_size=40, buffer=window, seed=seed)
    counts = np.bincount(split.blocks.ravel(), minlength=3)
    assert counts.sum() == 16 and (counts[1:] >= 1).all()
    pm = split.pixel_map()
    assert (pm == -1).any()
    found = {}
    for code, name in enumerate(("train", "val", "test")):
        pos = window_positions(pm == code, window)
        assert np.array_equal(split.mask(name), pm == code)
        for r, c in pos[:: max(1, len(pos) // 200)]:
            assert (pm[r : r + window, c : c + window] == code).all()
        found[name] = pos
    # Pixel distance (Chebyshev) between the areas of two splits is more than the buffer.
    for a, b in ((0, 1), (0, 2), (1, 2)):
        ya, xa = np.nonzero(pm == a)
        yb, xb = np.nonzero(pm == b)
        if len(ya) and len(yb):
            d = np.maximum(np.abs(ya[:, None] - yb[None, ::7]), np.abs(xa[:, None] - xb[None, ::7])).min()
            assert d > window
    # Consecutive validation windows do not overlap each other.
    grid = grid_positions(pm == 1, window)
    for i, (r, c) in enumerate(grid):
        for r2, c2 in grid[i + 1 :]:
            assert abs(r - r2) >= window or abs(c - c2) >= window


def test_split_roundtrip_and_errors() -> None:
    split = make_spatial_split((100, 90), 30, 8, seed=4)
    d = json.loads(json.dumps(split.to_dict()))
    again = SpatialSplit.from_dict(d)
    np.testing.assert_array_equal(again.pixel_map(), split.pixel_map())
    with pytest.raises(ConfigError):
        make_spatial_split((10, 10), 10, 0)
    with pytest.raises(ConfigError):
        make_spatial_split((100, 100), 10, 0, fractions=(1, -1, 0))


def test_scene_patches_sample_inside_their_split(stack) -> None:
    split = make_spatial_split(stack["reference"].shape, 64, 32, seed=0)
    scene = scene_from_stack(stack, stats_mask=split.mask("train"), region="HMA")
    assert scene.bands == {"optical": ["nir", "red", "green", "blue"], "dem": ["elevation", "slope"]}
    assert np.isfinite(scene.inputs["dem"]).all()  # DEM gap -> 0
    tr = ScenePatches(scene, split, "train", 32, n_samples=6, seed=1, location="coordinates")
    va = ScenePatches(scene, split, "val", 32, mode="grid")
    s = tr[0]
    assert s["inputs"]["optical"].shape == (4, 32, 32) and s["target"].shape == (2, 32, 32)
    np.testing.assert_allclose(np.hypot(s["location"][0], s["location"][1]), 1.0, rtol=1e-5)
    assert 27 < np.degrees(np.arcsin(s["location"][0])) < 29  # Everest latitude
    np.testing.assert_array_equal(tr[3]["target"], tr[3]["target"])
    tr.set_epoch(1)
    assert not np.array_equal(tr[0]["inputs"]["dem"], s["inputs"]["dem"])
    pm = split.pixel_map()
    for r, c in va.positions:
        assert (pm[r : r + 32, c : c + 32] == 1).all()
    assert set(np.unique(va[0]["target"])) <= {0.0, 1.0}
    with pytest.raises(NoDataError):
        ScenePatches(scene, split, "val", 128)


def test_masked_windows_are_larger_than_blocks_yet_read_no_pixel_of_another_split(stack) -> None:
    split = make_spatial_split(stack["reference"].shape, 64, 32, seed=0)
    scene = scene_from_stack(stack, stats_mask=split.mask("train"))
    window = 128  # larger than a block: no window fits inside the training area
    assert len(window_positions(split.mask("train"), window)) == 0
    aug = AugmentConfig.off()
    tr = ScenePatches(
        scene, split, "train", window, n_samples=8, seed=0, augment=aug, context="masked", min_inside=0.3
    )
    pm = split.pixel_map()
    for i in range(len(tr)):
        rng = np.random.default_rng([0, 0, i])
        r, c = tr.positions[int(rng.integers(len(tr.positions)))]
        s = tr[i]
        outside = pm[r : r + window, c : c + window] != 0
        assert outside.any() and (~outside).mean() >= 0.3
        for g, a in s["inputs"].items():
            assert (a[:, outside] == 0).all(), g
        assert (s["target"][:, outside] == 0).all()
    va = ScenePatches(scene, split, "val", window, mode="grid", context="full")
    s = va[0]
    r, c = va.positions[0]
    outside = pm[r : r + window, c : c + window] != 1
    assert (s["target"][:, outside] == 0).all() and s["target"][:, ~outside].sum() > 0
    whole = scene.inputs["optical"][:, r : r + window, c : c + window]
    np.testing.assert_array_equal(s["inputs"]["optical"], whole)
    with pytest.raises(ConfigError, match="grid"):
        ScenePatches(scene, split, "train", window, context="full")
    with pytest.raises(UnknownNameError):
        ScenePatches(scene, split, "train", window, context="around")
