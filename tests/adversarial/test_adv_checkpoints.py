"""Hostile checkpoints: damaged or edited headers, other file types, pickles with code, NaN statistics."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from adv_helpers import Evil, retag_checkpoint, write_tif

from glacierlab.errors import CheckpointError, DataNotFoundError, InputError
from glacierlab.models import load_checkpoint


def _set(key: str, value: Any):
    def edit(h: dict) -> Any:
        h[key] = value
        return h

    return edit


def _mlp(h: dict) -> dict:
    h["config"]["vit"]["mlp_dim"] = 50_000_000  # would allocate gigabytes if built before the shape check
    return h


def _swap_groups(h: dict) -> dict:
    h["input_groups"] = h["input_groups"][::-1]
    return h


def _nan_max(h: dict) -> dict:
    h["normalisation"] = {"optical": {"min": [0.0] * 4, "max": [255.0, float("nan"), 255.0, 255.0]}}
    return h


def _inverted_stats(h: dict) -> dict:
    h["normalisation"] = {"optical": {"min": [255.0] * 4, "max": [0.0] * 4}}
    return h


HEADER_CASES = {
    "json-list": (lambda h: [h], "expected a JSON object, got a JSON list"),
    "json-string": (lambda h: "glacierlab", "got a JSON str"),
    "missing-input-groups": (lambda h: {k: v for k, v in h.items() if k != "input_groups"}, "'input_groups'"),
    "group-not-a-list": (_set("input_groups", [{"optical": 4}]), "is not [name, channels"),
    "group-channels-text": (_set("input_groups", [["optical", "4", ["a"] * 4], ["dem", 2, ["e", "s"]]]), "channels"),
    "group-band-count": (
        _set("input_groups", [["optical", 4, ["blue"]], ["dem", 2, ["elevation", "slope"]]]),
        "one unique band name per channel",
    ),
    "groups-swapped": (_swap_groups, "differ from the config's"),
    "missing-config": (lambda h: {k: v for k, v in h.items() if k != "config"}, "'config' is missing"),
    "config-unknown-field": (lambda h: {**h, "config": {**h["config"], "evil": 1}}, "unknown fields"),
    "format-version-99": (_set("format_version", 99), "reads up to 1; upgrade glacierlab"),
    "other-format": (_set("format", "keras"), "expected 'glacierlab-checkpoint'"),
    "class-names-swapped": (_set("class_names", ["glacier", "non-glacier"]), "class names ['glacier', 'non-glacier']"),
    "class-names-three": (_set("class_names", ["a", "b", "c"]), "do not match glacierlab's classes"),
    "nan-normalisation-max": (_nan_max, "must be 4 finite numbers"),
    "inverted-normalisation": (_inverted_stats, "max <= min"),
    "normalisation-unknown-group": (_set("normalisation", {"sar": {"min": [0], "max": [1]}}), "unknown group 'sar'"),
    "tampered-mlp-dim": (_mlp, "does not match the stored tensors"),
}


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_bad_header(sandbox, tiny_checkpoint: Path, case: str) -> None:
    edit, says = HEADER_CASES[case]
    path = retag_checkpoint(tiny_checkpoint, sandbox.inputs / "edited.safetensors", edit)
    sandbox.allow()
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    assert says in str(err.value)


def test_tampered_config_never_allocates_the_model(
    sandbox, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header is compared with the tensor shapes on the meta device: no real model is built."""
    import torch

    from glacierlab.models import registry

    built: list[str] = []
    real = registry.build_from_config

    def spy(*args: Any, **kwargs: Any) -> Any:
        model = real(*args, **kwargs)
        built.append(next(model.parameters()).device.type)
        return model

    monkeypatch.setattr(registry, "build_from_config", spy)
    path = retag_checkpoint(tiny_checkpoint, sandbox.inputs / "mlp.safetensors", _mlp)
    sandbox.allow()
    with pytest.raises(CheckpointError, match=r"mis-shaped tensors"):
        load_checkpoint(path)
    assert built == ["meta"]
    assert torch.get_default_device().type == "cpu"  # the meta context did not leak


def test_checkpoint_is_a_folder(sandbox) -> None:
    with pytest.raises(CheckpointError, match=r"is a folder, not a file"):
        load_checkpoint(sandbox.inputs)


def test_checkpoint_is_a_geotiff(sandbox) -> None:
    tif = write_tif(sandbox.inputs / "scene.tif", np.ones((1, 4, 4), np.uint8))
    sandbox.allow()
    with pytest.raises(CheckpointError, match=r"scene\.tif is a GeoTIFF \(TIFF\) raster, not a glacierlab"):
        load_checkpoint(tif)


def test_checkpoint_zero_bytes_and_missing(sandbox) -> None:
    empty = sandbox.add_input("empty.safetensors", b"")
    with pytest.raises(CheckpointError, match=r"empty\.safetensors is empty \(0 bytes\)"):
        load_checkpoint(empty)
    with pytest.raises(DataNotFoundError, match=r"nope\.safetensors not found"):
        load_checkpoint(sandbox.inputs / "nope.safetensors")


def test_truncated_safetensors(sandbox, tiny_checkpoint: Path) -> None:
    data = tiny_checkpoint.read_bytes()
    cut = sandbox.add_input("cut.safetensors", data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors is not a readable safetensors file"):
        load_checkpoint(cut)


def test_pickle_with_code_is_refused_not_run(sandbox) -> None:
    marker = sandbox.victim / "pwned.txt"
    payload = pickle.dumps({"glacierlab": "{}", "tensors": {"x": Evil(marker)}})
    bad = sandbox.add_input("evil.pt", payload)
    with pytest.raises(CheckpointError, match=r"refused to load .*evil\.pt.*weights_only=True"):
        load_checkpoint(bad)
    assert not marker.exists()


def test_keras_h5_passed_as_checkpoint(sandbox) -> None:
    h5 = sandbox.add_input("weights.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(CheckpointError, match="glacierlab import-keras"):
        load_checkpoint(h5)


def test_nan_statistics_refused_at_save_and_at_use(sandbox) -> None:
    from glacierlab.data.normalise import normalise_group
    from glacierlab.models import build_model, save_checkpoint

    with pytest.raises(InputError, match=r"must be finite numbers.*nan"):
        normalise_group(np.ones((2, 3, 3)), {"min": [0, 0], "max": [1, float("nan")]})
    model = build_model("glavitu_tiny", input_groups={"optical": 4})
    out = sandbox.out / "nan.safetensors"
    with pytest.raises(InputError, match=r"normalisation\['optical'\] needs finite"):
        save_checkpoint(
            out,
            model,
            bands={"optical": ["blue", "green", "red", "nir"]},
            normalisation={"optical": {"min": [0.0] * 4, "max": [1.0, 1.0, float("nan"), 1.0]}},
        )
    assert not out.exists() and sandbox.out_files() == []


def test_batch_refuses_a_geotiff_checkpoint_once(sandbox, scene) -> None:
    from glacierlab.batch.scenes import predict_scenes

    with pytest.raises(CheckpointError, match="GeoTIFF"):
        predict_scenes({"s1": {"inputs": scene}}, scene["optical"], sandbox.out, progress=False)
    assert sandbox.out_files() == []
