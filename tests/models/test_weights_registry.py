"""Weights registry, imports that detect what a Keras file is, and model cards (STAC MLM)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from glacierlab.cli.weights import published_calibrator
from glacierlab.errors import CheckpointError, ConfigError, UnknownNameError
from glacierlab.models import load_checkpoint
from glacierlab.models import weights_registry as reg
from glacierlab.models.keras_import import keras_to_state_dict
from glacierlab.models.model_card import model_card
from glacierlab.models.paper_import import import_keras, import_weights


@pytest.fixture(scope="module")
def global_h5(shared_fixtures: Path) -> Path:
    p = shared_fixtures / "keras_glavitu" / "glavitu_global_random_weights.h5"
    if not p.exists():
        pytest.fail(f"Keras fixture missing: {p}")
    return p


def _region_encoding_h5(src: Path, dst: Path, dim: int = 12) -> dict[str, np.ndarray]:
    """The global fixture turned into the layout of a region-encoding file (``use_location=True``).

    The paper's builder adds an ``Input`` named ``location`` and a ``LocationEncodingBlock``
    (Dense 64, BN, Dense 64, BN), reshapes it and adds it to the fused map: in the weights file that
    is the weightless ``location``, ``tf.reshape`` and ``tf.math.add`` layers plus one group with the
    block's dense and batch-norm weights (names continue the file's auto-numbering).
    """
    shutil.copy(src, dst)
    rng = np.random.default_rng(3)
    w = {
        "dense_4/kernel:0": rng.normal(0, 0.2, (dim, 64)),
        "dense_4/bias:0": rng.normal(0, 0.02, 64),
        "batch_normalization_4/gamma:0": rng.uniform(0.5, 1.5, 64),
        "batch_normalization_4/beta:0": rng.normal(0, 0.1, 64),
        "dense_5/kernel:0": rng.normal(0, 0.2, (64, 64)),
        "dense_5/bias:0": rng.normal(0, 0.02, 64),
        "batch_normalization_5/gamma:0": rng.uniform(0.5, 1.5, 64),
        "batch_normalization_5/beta:0": rng.normal(0, 0.1, 64),
        "batch_normalization_4/moving_mean:0": rng.normal(0, 0.1, 64),
        "batch_normalization_4/moving_variance:0": rng.uniform(0.5, 1.5, 64),
        "batch_normalization_5/moving_mean:0": rng.normal(0, 0.1, 64),
        "batch_normalization_5/moving_variance:0": rng.uniform(0.5, 1.5, 64),
    }
    with h5py.File(dst, "a") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        i = names.index("fusion_block")
        extra = ["location_encoding_block", "tf.reshape", "tf.math.add"]
        names = ["location", *names[: i + 1], *extra, *names[i + 1 :]]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for n in ("location", "tf.reshape", "tf.math.add"):
            f.create_group(n).attrs["weight_names"] = np.array([], dtype="S1")
        g = f.create_group("location_encoding_block")
        full = [f"location_encoding_block/{k}" for k in w]
        for k, v in zip(full, w.values(), strict=True):
            g.create_dataset(k, data=np.asarray(v, np.float32))
        g.attrs["weight_names"] = np.array([k.encode() for k in full])
    return {k: np.asarray(v, np.float32) for k, v in w.items()}


def test_registry_lists_the_published_and_shipped_weights() -> None:
    names = reg.list_weights()
    published = {"glavitu_global", "glavitu_finetuning_HMA", "glavitu_regionencoding"}
    assert published | {"glavitu_lite_everest"} <= set(names)
    g = reg.weights_entry("glavitu_global")
    assert g.download == "https://drive.google.com/uc?id=1HLIVlWuGfMx_jZQleHlQmuzvzHVMRTOd"
    assert reg.weights_entry("glavitu_finetuning_HMA").drive_file_id == "1hNRFR55MtkQjSH4ZRBcfswPNXnhafQ6i"
    assert g.product_level == "toa" and g.units["dem"] == ["m", "degrees"] and g.strategy == "global"
    assert g.iou["HMA"] == pytest.approx(0.78) and "GPL-2.0" in g.licence and "Nature Communications" in g.citation
    assert reg.weights_entry("glavitu_regionencoding").location == "region"
    with pytest.raises(UnknownNameError, match="glavitu_global"):
        reg.weights_entry("glavitu_globl")
    info = reg.info("glavitu_lite_everest")
    assert info["options"]["window"] == info["figures"]["window"]
    assert info["inputs"]["optical"]["product_level"] == "dn8"


def test_registry_statistics_are_the_papers(shared_data: Path) -> None:
    """The packaged numbers equal the authors' dataset_stats (../shared/data/glavitu_normalisation_stats)."""
    stats = json.loads((shared_data / "glavitu_normalisation_stats" / "glavitu_stats.json").read_text())
    lo, hi = stats["dataset_stats.pickle"]
    mine = reg.statistics("glavitu_dataset")
    assert mine["optical"] == {"min": lo["optical"], "max": hi["optical"]}
    assert mine["dem"] == {"min": lo["elevation"] + lo["slope"], "max": hi["elevation"] + hi["slope"]}
    for g in ("co_pol_sar", "cross_pol_sar", "in_sar", "thermal"):
        assert mine[g] == {"min": [float(x) for x in lo[g]], "max": [float(x) for x in hi[g]]}


def test_import_keras_detects_a_region_encoding_file(global_h5: Path, tmp_path: Path) -> None:
    h5 = tmp_path / "glavitu_regionencoding_weights.h5"
    w = _region_encoding_h5(global_h5, h5)
    config, state = keras_to_state_dict(h5)
    assert config.groups == {"optical": 6, "dem": 2} and config.location == "region"
    np.testing.assert_array_equal(state["location_block.fc1.weight"].numpy(), w["dense_4/kernel:0"].T)
    running_var = state["location_block.bn2.running_var"].numpy()
    np.testing.assert_array_equal(running_var, w["batch_normalization_5/moving_variance:0"])
    out = import_keras(h5, tmp_path / "re.safetensors")  # no --bands needed (the failure)
    ck = load_checkpoint(out)
    assert ck.model.location_dim == 12 and ck.metadata["extra"]["strategy"] == "region_encoding"
    assert ck.options.location == "unknown" and ck.options.tiling == "paper"
    assert ck.metadata["extra"]["weights"]["name"] == "glavitu_regionencoding"  # found by its file name
    x = {"optical": torch.rand(1, 6, 384, 384), "dem": torch.rand(1, 2, 384, 384)}
    from glacierlab.models import region_vector

    with torch.inference_mode():
        a = ck.model(x, location=region_vector("HMA")[None]).logits
        b = ck.model(x, location=region_vector("unknown")[None]).logits
    assert torch.isfinite(a).all() and not torch.allclose(a, b)  # the location input is wired


def test_strategy_detection_from_the_published_name_template(global_h5: Path, tmp_path: Path) -> None:
    from glacierlab.models.paper_import import strategy_of

    config, _ = keras_to_state_dict(global_h5)
    assert strategy_of(config, "glavitu_global_weights.h5") == ("global", None)
    assert strategy_of(config, "glavitu_finetuning_HMA_weights.h5") == ("finetune", "HMA")
    assert strategy_of(config, "glavitu_regional_ALP_weights.h5") == ("regional", "ALP")


def test_weights_import_checks_the_file_and_attaches_metadata(global_h5: Path, tmp_path: Path) -> None:
    out = import_weights(
        "glavitu_global", global_h5, tmp_path / "g.safetensors", calibration=published_calibrator("glavitu_global")
    )
    ck = load_checkpoint(out)
    assert ck.normalisation == reg.statistics("glavitu_dataset", ["optical", "dem"])
    assert {k.split("/")[0] for k in ck.calibration} == {"kernel_ridge"}  # the published calibrator
    assert ck.inputs["optical"]["product_level"] == "toa" and ck.options.tiling == "paper"
    meta = ck.metadata["extra"]["weights"]
    assert meta["name"] == "glavitu_global" and meta["iou"]["ALP"] == pytest.approx(0.85)
    with pytest.raises(CheckpointError, match="location input"):
        import_weights("glavitu_regionencoding", global_h5, tmp_path / "x.safetensors", calibration=None)
    with pytest.raises(ConfigError, match="shipped"):
        import_weights("glavitu_lite_everest", global_h5, tmp_path / "y.safetensors")


def test_model_card_uses_stac_mlm_field_names(global_h5: Path, tmp_path: Path) -> None:
    out = import_weights("glavitu_global", global_h5, tmp_path / "g.safetensors", calibration=None)
    card = model_card(out)
    p = card["properties"]
    assert card["stac_extensions"][0].startswith("https://stac-extensions.github.io/mlm/")
    for key in ("mlm:name", "mlm:architecture", "mlm:tasks", "mlm:framework", "mlm:input", "mlm:output"):
        assert key in p, key
    assert p["mlm:name"] == "glavitu_global" and p["mlm:total_parameters"] == 10_032_068
    opt = p["mlm:input"][0]
    assert opt["name"] == "optical" and opt["bands"][-1] == "swir2" and opt["input"]["shape"] == [-1, 6, 384, 384]
    assert opt["value_scaling"][0] == {"type": "min-max", "minimum": -0.003735552541911602, "maximum": 2.0468}
    classes = p["mlm:output"][0]["classification:classes"]
    assert [c["name"] for c in classes] == ["non-glacier", "glacier", "no data"]
    assert p["glacierlab:product_level"] == "toa" and p["glacierlab:options"]["tiling"] == "paper"
    assert card["assets"]["weights"]["roles"] == ["mlm:model", "mlm:weights"]
    json.dumps(card)  # JSON-ready
