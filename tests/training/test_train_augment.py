import numpy as np

from glacierlab.training.augment import AugmentConfig, augment_sample, sample_rng


def _sample(h: int = 32) -> dict:
    rng = np.random.default_rng(1)
    mask = rng.random((h, h)) > 0.5
    return {
        "inputs": {
            "optical": np.stack([mask, ~mask, mask]).astype(np.float32),
            "dem": rng.random((2, h, h), np.float32),
        },
        "target": np.stack([~mask, mask]).astype(np.float32),
        "location": np.eye(12, dtype=np.float32)[5],
    }


def test_shapes_dtypes_and_determinism() -> None:
    s = _sample()
    a = augment_sample(s, sample_rng(3, 1, 7))
    b = augment_sample(s, sample_rng(3, 1, 7))
    c = augment_sample(s, sample_rng(3, 1, 8))
    assert a["inputs"]["optical"].shape == (3, 32, 32) and a["inputs"]["dem"].dtype == np.float32
    assert a["target"].shape == (2, 32, 32)
    for k in a["inputs"]:
        np.testing.assert_array_equal(a["inputs"][k], b["inputs"][k])
    assert not np.array_equal(a["inputs"]["dem"], c["inputs"]["dem"])
    np.testing.assert_array_equal(s["inputs"]["optical"][0], s["target"][1])  # input untouched


def test_geometric_transforms_keep_inputs_and_labels_aligned() -> None:
    geo_only = AugmentConfig(
        flip_p=1.0,
        rotate_p=1.0,
        crop_p=1.0,
        gamma_p=0,
        occlusion_p=0,
        shift_p=0,
        noise_p=0,
        label_smoothing=0,
        unknown_region_p=0,
    )
    s = _sample()
    for seed in range(5):
        a = augment_sample(s, np.random.default_rng(seed), geo_only)
        np.testing.assert_array_equal(a["inputs"]["optical"][0], a["target"][1])
        assert not np.array_equal(a["target"], s["target"])


def test_label_smoothing_and_unknown_region() -> None:
    cfg = AugmentConfig(
        flip_p=0,
        rotate_p=0,
        crop_p=0,
        gamma_p=0,
        occlusion_p=0,
        shift_p=0,
        noise_p=0,
        label_smoothing=0.1,
        unknown_region_p=1.0,
    )
    a = augment_sample(_sample(), np.random.default_rng(0), cfg)
    np.testing.assert_allclose(np.unique(a["target"]), [0.05, 0.95], rtol=1e-6)
    np.testing.assert_array_equal(a["location"], np.eye(12)[11])


def test_photometric_augmentations_only_touch_inputs() -> None:
    cfg = AugmentConfig(
        flip_p=0,
        rotate_p=0,
        crop_p=0,
        gamma_p=1,
        occlusion_p=1,
        shift_p=1,
        noise_p=1,
        label_smoothing=0,
        unknown_region_p=0,
    )
    s = _sample()
    a = augment_sample(s, np.random.default_rng(0), cfg)
    np.testing.assert_array_equal(a["target"], s["target"])
    assert not np.allclose(a["inputs"]["dem"], s["inputs"]["dem"])
    assert np.isfinite(a["inputs"]["dem"]).all()
    assert AugmentConfig.off().flip_p == 0


def test_group_dropout_blanks_only_the_listed_group_and_defaults_off() -> None:
    s = _sample()
    cfg = AugmentConfig.off()
    always = AugmentConfig(**{**cfg.__dict__, "drop_groups": ["dem"], "drop_group_p": 1.0})
    a = augment_sample(s, np.random.default_rng(0), always)
    assert always.drop_groups == ("dem",)
    np.testing.assert_array_equal(a["inputs"]["dem"], 0.0)
    np.testing.assert_array_equal(a["inputs"]["optical"], s["inputs"]["optical"])
    np.testing.assert_array_equal(a["target"], s["target"])
    # off by default: the paper's draws (and so earlier runs' samples) are unchanged
    assert AugmentConfig().drop_groups == () and AugmentConfig().drop_group_p == 0.0
