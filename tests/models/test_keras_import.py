"""Keras weights import, checked against the reference fixture computed with TensorFlow/Keras.

The fixture (``../shared/fixtures/keras_glavitu``) holds a seeded random-weight GlaViTU (optical +
DEM) in the authors' Keras ``.h5`` format, the inputs, both softmax outputs and intermediate
activations (corner crops for the large maps). The port must match all of them within 1e-4.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from glacierlab.errors import CheckpointError, CorruptFileError
from glacierlab.models import build_model, count_parameters, import_keras, load_checkpoint, load_keras_weights
from glacierlab.models.keras_import import keras_to_state_dict

TOL = 1e-4


@pytest.fixture(scope="module")
def keras_dir(shared_fixtures: Path) -> Path:
    d = shared_fixtures / "keras_glavitu"
    if not (d / "glavitu_global_random_weights.h5").exists():
        pytest.fail(f"Keras fixture missing in {d} (see ../shared/fixtures/keras_glavitu/README.md)")
    return d


@pytest.fixture(scope="module")
def reference(keras_dir: Path) -> dict[str, np.ndarray]:
    with np.load(keras_dir / "reference_io.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def ported(keras_dir: Path, reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the imported model on the fixture inputs once; collect outputs and intermediates (NHWC)."""
    model = build_model("glavitu")
    load_keras_weights(model, keras_dir / "glavitu_global_random_weights.h5")
    model.eval()
    caps: dict[str, torch.Tensor] = {}

    def keep(name: str):  # noqa: ANN202
        return lambda _m, _i, out: caps.__setitem__(name, out)

    vit, pup, res = model.vit, model.pup, model.resunet
    hooks = [
        (vit.patch_embedding, "SETR.ViTEncoder.patch_embedding"),
        (vit.blocks[0], "SETR.ViTEncoder.transformer_block"),
        (vit.blocks[11], "SETR.ViTEncoder.transformer_block_11"),
        (pup.bns[0], "SETR.SETRPUPDecoder.batch_normalization"),
        (pup.bns[1], "SETR.SETRPUPDecoder.batch_normalization_1"),
        (pup.bns[2], "SETR.SETRPUPDecoder.batch_normalization_2"),
        (pup.bns[3], "SETR.SETRPUPDecoder.batch_normalization_3"),
    ]
    hooks += [(b, f"ResUNet.ResUNetEncoder.output{i}") for i, b in enumerate(res.encoder.blocks)]
    for i, suffix in enumerate(["", "_1", "_2"]):
        hooks += [(res.decoder.up_convs[i], f"ResUNet.ResUNetDecoder.up_conv{suffix}")]
        hooks += [(res.decoder.blocks[i], f"ResUNet.ResUNetDecoder.residual_with_projection_{4 + i}")]
    for module, name in hooks:
        module.register_forward_hook(keep(name))
    x = {k: torch.from_numpy(reference[k]).permute(0, 3, 1, 2).contiguous() for k in ("optical", "dem")}
    with torch.inference_mode():
        parts = model.forward_parts(x)
    out = {
        "fusion_block": parts["fusion"],
        "SETR": parts["setr"],
        "add_12": parts["e1"],
        "ResUNet": parts["resunet"],
        "add_13": parts["e"],
        "deepsupervision_logits": parts["aux_logits"],
        "output_logits": parts["logits"],
        "deepsupervision": torch.softmax(parts["aux_logits"], dim=1),
        "output": torch.softmax(parts["logits"], dim=1),
        **caps,
    }
    tokens = out.pop("SETR.ViTEncoder.patch_embedding").flatten(2).transpose(1, 2)  # row-major tokens
    arrays = {
        "SETR.ViTEncoder.patch_embedding": tokens.numpy(),
        "SETR.ViTEncoder.add_positional_embedding": (tokens + vit.pos_embedding.detach()).numpy(),
    }
    for i, suffix in enumerate(["", "_1", "_2"]):  # the decoder's bilinear x2 after BN stages 1-3
        bn = out[f"SETR.SETRPUPDecoder.batch_normalization{'_' + str(i) if i else ''}"]
        up = torch.nn.functional.interpolate(bn, scale_factor=2.0, mode="bilinear", align_corners=False)
        out[f"SETR.SETRPUPDecoder.up_sampling2d{suffix}"] = up
    for k, v in out.items():
        arrays[k] = v.permute(0, 2, 3, 1).numpy() if v.ndim == 4 else v.numpy()
    fused = arrays["fusion_block"]  # first two 16x16 patches flattened in (row, col, channel) order
    arrays["SETR.ViTEncoder.patch_extraction__tokens0-1"] = np.stack(
        [fused[:, :16, :16].reshape(2, -1), fused[:, :16, 16:32].reshape(2, -1)], axis=1
    )
    return arrays


def _crop(a: np.ndarray, key: str) -> np.ndarray:
    if "__tl" in key:
        s = int(key.rsplit("__tl", 1)[1])
        return a[:, :s, :s]
    if "__br" in key:
        s = int(key.rsplit("__br", 1)[1])
        return a[:, -s:, -s:]
    return a


def test_fixture_outputs_and_intermediates_match_keras(
    ported: dict[str, np.ndarray], reference: dict[str, np.ndarray]
) -> None:
    skip = {"optical", "dem"}
    compared, errors = [], {}
    for key, expected in reference.items():
        base = key.split("__")[0]
        if key in skip or (base not in ported and key not in ported):
            continue
        got = ported[key] if key in ported else _crop(ported[base], key)
        assert got.shape == expected.shape, key
        errors[key] = float(np.abs(got - expected).max())
        compared.append(key)
    for key, err in sorted(errors.items(), key=lambda kv: -kv[1]):
        print(f"max |torch - keras| {err:.2e}  {key}")
    must = {
        "output",
        "deepsupervision",
        "fusion_block__tl16",
        "SETR__br16",
        "add_12__tl16",
        "ResUNet__br16",
        "add_13__tl16",
        "output_logits__br16",
        "deepsupervision_logits__tl16",
        "ResUNet.ResUNetDecoder.up_conv_2__br16",
        "SETR.ViTEncoder.transformer_block_11",
    }
    assert must <= set(compared)
    assert set(compared) == set(reference) - skip  # every stored array is checked
    bad = {k: e for k, e in errors.items() if e > TOL}
    assert not bad, f"exceeds {TOL}: {bad}"


def test_weights_file_maps_every_tensor(keras_dir: Path) -> None:
    config, state = keras_to_state_dict(keras_dir / "glavitu_global_random_weights.h5")
    assert config.groups == {"optical": 6, "dem": 2} and config.location == "none"
    assert (config.vit.depth, config.vit.heads, config.vit.patch_size, config.resunet_steps) == (12, 4, 16, 3)
    assert sum(v.numel() for v in state.values()) == 10_032_068  # every value of the .h5 file
    model = build_model("glavitu")
    assert count_parameters(model) == 10_032_068


def test_import_keras_writes_a_loadable_checkpoint(keras_dir: Path, tmp_path: Path) -> None:
    h5 = keras_dir / "glavitu_global_random_weights.h5"
    out = import_keras(h5, tmp_path / "glavitu_global.safetensors")
    ckpt = load_checkpoint(out, variant="glavitu")
    assert ckpt.bands["optical"] == ["blue", "green", "red", "nir", "swir1", "swir2"]
    assert ckpt.metadata["extra"]["source"] == "keras:glavitu_global_random_weights.h5"
    _, state = keras_to_state_dict(h5)
    loaded = ckpt.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    with pytest.raises(Exception, match="overwrite"):
        import_keras(h5, out)


def test_import_errors(keras_dir: Path, tmp_path: Path) -> None:
    h5 = keras_dir / "glavitu_global_random_weights.h5"
    with pytest.raises(CheckpointError, match="branches"):
        import_keras(h5, tmp_path / "x.safetensors", bands={"optical": list("abcdef")})
    with pytest.raises(CheckpointError, match="does not fit"):
        load_keras_weights(build_model("glavitu", input_groups={"optical": 6, "dem": 3}), h5)
    not_h5 = tmp_path / "weights.h5"
    not_h5.write_bytes(b"definitely not hdf5")
    with pytest.raises(CorruptFileError):
        keras_to_state_dict(not_h5)
