"""Checkpoints: bit-exact round trip, self-description, clear errors, and no pickle execution."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from glacierlab.errors import CheckpointError, DataNotFoundError, InputError, OutputExistsError
from glacierlab.models import build_model, load_checkpoint, load_weights, save_checkpoint

BANDS = {"optical": ["blue", "green", "red", "nir", "swir1", "swir2"], "dem": ["elevation", "slope"]}
NORM = {
    "optical": {"min": [0.0] * 6, "max": [1.0, 2, 3, 4, 5, 6]},
    "dem": {"min": [-10.0, 0.0], "max": [9000.0, 90.0]},
}


def _trained_tiny(seed: int = 0, **kw: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("glavitu_tiny", **kw)
    model.train()
    x = {k: torch.rand(2, c, 32, 32) for k, c in model.input_groups.items()}
    model(x)  # moves the BN statistics away from their defaults
    return model.eval()


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_round_trip_is_bit_exact(tmp_path: Path, suffix: str) -> None:
    model = _trained_tiny(location="region")
    cal = {"knots_x": np.linspace(0, 1, 5), "knots_y": np.array([0.0, 0.2, 0.5, 0.9, 1.0], dtype=np.float32)}
    path = save_checkpoint(
        tmp_path / f"m{suffix}",
        model,
        bands=BANDS,
        normalisation=NORM,
        calibration=cal,
        extra={"run": "test"},
    )
    ckpt = load_checkpoint(path)
    assert ckpt.variant == "glavitu_tiny" and ckpt.config == model.config
    assert ckpt.bands == BANDS and ckpt.normalisation == NORM
    assert ckpt.class_names == ["non-glacier", "glacier"]
    assert ckpt.metadata["extra"] == {"run": "test"} and ckpt.metadata["glacierlab_version"]
    for k, v in cal.items():
        assert ckpt.calibration[k].dtype == v.dtype and np.array_equal(ckpt.calibration[k], v)
    own, loaded = model.state_dict(), ckpt.model.state_dict()
    assert own.keys() == loaded.keys()
    assert all(torch.equal(own[k], loaded[k]) for k in own)
    assert not ckpt.model.training
    x = {k: torch.rand(1, c, 32, 32) for k, c in model.input_groups.items()}
    with torch.no_grad():
        assert torch.equal(model(x).logits, ckpt.model(x).logits)


def test_loading_builds_no_throwaway_model_and_skips_torch_dynamo(tmp_path: Path) -> None:
    """A fresh process loads a checkpoint without importing ``torch._dynamo`` (2.4 s of CPU in every kernel and
    CLI run): the shape check's meta model is not initialised, and it becomes the loaded model."""
    import subprocess
    import sys

    path = save_checkpoint(tmp_path / "m.safetensors", _trained_tiny(), bands=BANDS, normalisation=NORM)
    code = (
        "import sys; from glacierlab.models import load_checkpoint; "
        f"ck = load_checkpoint({str(path)!r}); "
        "print(sorted(m for m in sys.modules if m.startswith('torch._dynamo'))[:3], "
        "any(p.is_meta for p in ck.model.parameters()))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[]", "False"], done.stdout + done.stderr


def test_safetensors_header_is_plain_json(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.safetensors", _trained_tiny(), bands=BANDS)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = json.loads(f.metadata()["glacierlab"])
    assert header["variant"] == "glavitu_tiny"
    assert header["input_groups"] == [["optical", 6, BANDS["optical"]], ["dem", 2, BANDS["dem"]]]
    assert header["config"]["config_class"] == "GlaViTUConfig"


def test_no_overwrite_without_flag(tmp_path: Path) -> None:
    model = _trained_tiny()
    path = save_checkpoint(tmp_path / "m.safetensors", model, bands=BANDS)
    with pytest.raises(OutputExistsError):
        save_checkpoint(path, model, bands=BANDS)
    save_checkpoint(path, model, bands=BANDS, overwrite=True)


def test_bands_must_match_groups(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="3 names"):
        save_checkpoint(
            tmp_path / "m.safetensors",
            _trained_tiny(),
            bands={"optical": BANDS["optical"], "dem": ["a", "b", "c"]},
        )
    with pytest.raises(InputError, match="groups"):
        save_checkpoint(tmp_path / "m.safetensors", _trained_tiny(), bands={"dem": BANDS["dem"]})


def test_wrong_variant_and_mismatched_tensors_are_named(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "tiny.safetensors", _trained_tiny(), bands=BANDS)
    other = build_model("glavitu_tiny", input_groups={"optical": 4}, location="region")
    other.variant = "glavitu_tiny"
    with pytest.raises(CheckpointError) as err:
        load_weights(other, path)
    msg = str(err.value)
    assert "fusion.branches.dem.block1.conv.weight" in msg  # unexpected
    assert "location_block.fc1.weight" in msg  # missing
    assert "fusion.branches.optical.block1.conv.weight (8, 6, 3, 3) vs model (8, 4, 3, 3)" in msg
    lite = build_model("glavitu_lite")
    with pytest.raises(CheckpointError, match="variant 'glavitu_tiny'.*'glavitu_lite'"):
        load_weights(lite, path)
    with pytest.raises(CheckpointError, match="expected 'glavitu'"):
        load_checkpoint(path, variant="glavitu")
    same = build_model("glavitu_tiny")
    load_weights(same, path)  # fits: no error


def test_tampered_file_names_missing_and_misshaped(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.safetensors", _trained_tiny(), bands=BANDS)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    del tensors["model.head.bias"]
    tensors["model.aux_head.weight"] = torch.zeros(3, 8, 1, 1)
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(bad)
    assert "head.bias" in str(err.value) and "aux_head.weight (3, 8, 1, 1)" in str(err.value)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError):
        load_checkpoint(tmp_path / "absent.safetensors")
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(CheckpointError, match="not a glacierlab checkpoint"):
        load_checkpoint(plain)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{abc")
    with pytest.raises(CheckpointError):
        load_checkpoint(garbage)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_malicious_pickle_does_not_execute(tmp_path: Path, writer: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"glacierlab": "{}", "tensors": {"x": torch.zeros(1)}, "evil": _Evil(marker)}
    if writer == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    # Sanity check of the test itself: unpickling the payload really would run the command.
    assert b"system" in path.read_bytes() or b"posix" in path.read_bytes()
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(path)
    assert not marker.exists()


def test_training_record_is_typed_and_checked(tmp_path: Path) -> None:
    """The header's ``extra`` is read once, into typed fields; a fact of the wrong type is refused."""
    from glacierlab.contract.record import TrainingRecord
    from glacierlab.contract.split import make_spatial_split

    split = make_spatial_split((64, 96), 32, 8, seed=3)
    extra = {
        "strategy": "global",
        "region_id": "everest",
        "val_iou": 0.5,
        "epoch": 3,
        "spatial_split": split.to_dict(),
        "training": {"window": 96},
        "product_level": "dn8",
        "run": "test",
    }
    path = save_checkpoint(tmp_path / "m.safetensors", _trained_tiny(), bands=BANDS, normalisation=NORM, extra=extra)
    ck = load_checkpoint(path)
    rec = ck.record
    assert (rec.strategy, rec.region_id, rec.val_iou, rec.epoch, rec.training_window) == (
        "global",
        "everest",
        0.5,
        3,
        96,
    )
    assert rec.other == {"run": "test"} and rec.source is None
    assert ck.split is not None and np.array_equal(ck.split.pixel_map(), split.pixel_map())
    assert ck.inputs["optical"]["product_level"] == "dn8" and ck.options is not None and ck.options.window == 96
    assert rec.to_extra() == extra == ck.metadata["extra"]  # the record round-trips what was stored
    with pytest.raises(InputError, match="val_iou"):
        save_checkpoint(tmp_path / "bad.safetensors", _trained_tiny(), bands=BANDS, extra={"val_iou": "high"})
    with pytest.raises(CheckpointError, match="spatial_split"):
        TrainingRecord.from_extra({"spatial_split": [1, 2]})
