"""Import the authors' Keras GlaViTU weights (``*_weights.h5``) with h5py only, no TensorFlow.

The file holds the *training* model (both heads). Layer names carry auto-generated numeric suffixes
(``dense_25``...), so weights are matched by structure: within each kind of layer the suffix gives
the creation order (branch by branch, block by block). Kernel conversions (docs/GLAVITU_SPEC.md §1.4-1.6):

* Conv2D HWIO -> OIHW; Dense (in, out) -> (out, in) or a 1x1 conv (out, in, 1, 1);
* patch embedding Dense (16*16*C, D), rows in (row, col, channel) order -> Conv2d (D, C, 16, 16);
* attention ``query/key/value`` (D, heads, d_head) -> rows of the fused QKV projection,
  ``attention_output`` (heads, d_head, D) -> (D, D).
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glacierlab.errors import CheckpointError, ConfigError, CorruptFileError, DataNotFoundError
from glacierlab.models.config import GlaViTUConfig, ViTSettings
from glacierlab.models.glavitu import GlaViTU
from glacierlab.vocabulary import GROUP_BANDS

#: Band names of the paper's feature groups (docs/GLAVITU_SPEC.md §3.1), used when ``bands`` is not given.
DEFAULT_BANDS: dict[str, list[str]] = {g: list(b) for g, b in GROUP_BANDS.items()}

_SUFFIX = re.compile(r"^(.*?)(?:_(\d+))?$")
Layer = dict[str, np.ndarray]  # weight kind ("kernel", "gamma"...) -> array


def _base(name: str) -> str:
    m = _SUFFIX.match(name)
    return m.group(1) if m else name


def _order(name: str) -> int:
    m = _SUFFIX.match(name)
    return int(m.group(2)) if m and m.group(2) else 0


class _Group:
    """Weights of one top-level Keras layer, indexed by layer path (tuple of names)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.layers: dict[tuple[str, ...], Layer] = defaultdict(dict)
        self.used: set[tuple[str, ...]] = set()

    def find(self, base: str, parent: tuple[str, ...] | None = ()) -> list[tuple[str, ...]]:
        """Sub-paths whose last name has this base, in creation order (numeric suffix).

        ``parent`` restricts the search to direct children of that path; None finds leaf layers at any depth.
        """
        hits: set[tuple[str, ...]] = set()
        for path in self.layers:
            if parent is None:
                if _base(path[-1]) == base:
                    hits.add(path)
            elif (
                path[: len(parent)] == parent and len(path) > len(parent) and _base(path[len(parent)]) == base
            ):
                hits.add(path[: len(parent) + 1])
        return sorted(hits, key=lambda p: (len(p), _order(p[-1])))

    def take(self, path: tuple[str, ...]) -> Layer:
        self.used.add(path)
        return self.layers[path]


def read_keras_h5(
    path: str | os.PathLike[str], *, shapes_only: bool = False
) -> tuple[list[str], dict[str, _Group]]:
    """Read a Keras 2 HDF5 weights file: the top-level layer names and their weights.

    Every weight must be a plain numeric dataset stored inside the file (:mod:`glacierlab.models.h5_safe`
    refuses external / virtual storage and links), and all of them together must fit the memory budget
    (:func:`glacierlab.settings.check_budget`), both checked from the headers before any byte is read.

    Args:
        path: The ``.h5`` file.
        shapes_only: Read nothing: every weight is a zero-memory placeholder of its declared shape
            (for checking the shapes against the architecture first).

    Raises:
        DataNotFoundError: The file does not exist.
        CorruptFileError: It is not a Keras HDF5 weights file.
        CheckpointError: Indirect storage, a missing layer or weight, a non-numeric weight.
        InputError: The declared weights exceed the memory budget.
    """
    import h5py

    from glacierlab.models.h5_safe import declared, member, placeholder, weight_dataset
    from glacierlab.settings import check_budget

    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"Keras weights file {p} not found.")
    try:
        with h5py.File(p, "r") as f:
            f = member(f, "model_weights", p) if "model_weights" in f else f  # full-model saves nest the weights
            if "layer_names" not in f.attrs:
                raise CorruptFileError(
                    f"{p} has no 'layer_names' attribute: not a Keras 2 HDF5 weights file."
                )
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["layer_names"]]
            found: list[tuple[_Group, tuple[str, ...], Any]] = []
            total = 0
            groups: dict[str, _Group] = {}
            for name in names:
                g = _Group(name)
                layer = member(f, name, p)
                for w in layer.attrs.get("weight_names", []):
                    w = w.decode() if isinstance(w, bytes) else str(w)
                    parts = tuple(w.split(":")[0].split("/"))
                    if parts[0] == name and len(parts) > 2:  # plain layers repeat their own name
                        parts = parts[1:]
                    ds = weight_dataset(layer, w, p)
                    total += declared(ds)[1]
                    found.append((g, parts, ds))
                groups[name] = g
            check_budget(
                total,
                f"the weights declared in {p} ({len(found)} datasets)",
                "a GlaViTU weights file holds well under 1 GiB; this file's headers declare far larger weights",
            )
            for g, parts, ds in found:
                g.layers[parts[:-1]][parts[-1]] = (
                    placeholder(declared(ds)[0]) if shapes_only else np.asarray(ds, dtype=np.float32)
                )
    except OSError as err:
        raise CorruptFileError(
            f"cannot read {p} as HDF5 ({err}); expected a Keras '*_weights.h5' file."
        ) from err
    return names, groups


def _t(a: np.ndarray) -> torch.Tensor:
    from glacierlab.models.h5_safe import is_placeholder

    if is_placeholder(a):  # shapes-only pass: no memory
        return torch.empty(a.shape, dtype=torch.float32, device="meta")
    return torch.from_numpy(np.ascontiguousarray(a))


def _conv(layer: Layer, out: dict[str, torch.Tensor], prefix: str) -> None:
    out[f"{prefix}.weight"] = _t(layer["kernel"].transpose(3, 2, 0, 1))
    if "bias" in layer:
        out[f"{prefix}.bias"] = _t(layer["bias"])


def _dense(layer: Layer, out: dict[str, torch.Tensor], prefix: str, *, as_conv: bool = False) -> None:
    k = layer["kernel"].T
    out[f"{prefix}.weight"] = _t(k[:, :, None, None] if as_conv else k)
    if "bias" in layer:
        out[f"{prefix}.bias"] = _t(layer["bias"])


def _bn(layer: Layer, out: dict[str, torch.Tensor], prefix: str) -> None:
    for src, dst in (
        ("gamma", "weight"),
        ("beta", "bias"),
        ("moving_mean", "running_mean"),
        ("moving_variance", "running_var"),
    ):
        out[f"{prefix}.{dst}"] = _t(layer[src])


def _double_conv(g: _Group, parent: tuple[str, ...], out: dict[str, torch.Tensor], prefix: str) -> None:
    convs, bns = g.find("conv2d", parent), g.find("batch_normalization", parent)
    if len(convs) != 2 or len(bns) != 2:
        raise CheckpointError(
            f"{g.name}/{'/'.join(parent)}: expected 2 conv2d + 2 batch_normalization layers."
        )
    for i in range(2):
        _conv(g.take(convs[i]), out, f"{prefix}.block{i + 1}.conv")
        _bn(g.take(bns[i]), out, f"{prefix}.block{i + 1}.bn")


def _fusion(g: _Group, group_names: Sequence[str], out: dict[str, torch.Tensor]) -> list[int]:
    branches = g.find("conv_batch_norm_act_x2")
    if len(branches) != len(group_names):
        raise CheckpointError(
            f"fusion block has {len(branches)} branches, expected {len(group_names)} ({list(group_names)})."
        )
    channels = []
    for name, br in zip(group_names, branches, strict=True):
        _double_conv(g, br, out, f"fusion.branches.{name}")
        channels.append(int(out[f"fusion.branches.{name}.block1.conv.weight"].shape[1]))
    gates = g.find("dense", ())
    if gates:
        if len(gates) != 2 * len(group_names):
            raise CheckpointError(
                f"fusion block has {len(gates)} gate dense layers, expected {2 * len(group_names)}."
            )
        for i, name in enumerate(group_names):
            _dense(g.take(gates[2 * i]), out, f"fusion.gates.{name}.fc1")
            _dense(g.take(gates[2 * i + 1]), out, f"fusion.gates.{name}.fc2")
    return channels


def _location(g: _Group, out: dict[str, torch.Tensor]) -> int:
    dense, bns = g.find("dense", None), g.find("batch_normalization", None)
    if len(dense) != 2 or len(bns) != 2:
        raise CheckpointError(f"location block {g.name!r}: expected 2 dense + 2 batch_normalization layers.")
    for i in range(2):
        _dense(g.take(dense[i]), out, f"location_block.fc{i + 1}")
        _bn(g.take(bns[i]), out, f"location_block.bn{i + 1}")
    return int(out["location_block.fc1.weight"].shape[1])


def _setr(g: _Group, out: dict[str, torch.Tensor]) -> dict[str, int]:
    pe = g.take(g.find("dense", ("patch_embedding",))[0])
    n_in, dim = pe["kernel"].shape
    pos = g.take(g.find("add_positional_embedding")[0])["positional_embedding"]
    blocks = g.find("transformer_block")
    convs, bns = g.find("conv2d", ()), g.find("batch_normalization", ())
    c_fused = int(g.layers[convs[-1]]["kernel"].shape[-1])  # the PUP head returns the fused width
    patch = int(round(math.sqrt(n_in / c_fused)))
    out["vit.patch_embedding.weight"] = _t(
        pe["kernel"].reshape(patch, patch, c_fused, dim).transpose(3, 2, 0, 1)
    )
    out["vit.patch_embedding.bias"] = _t(pe["bias"])
    out["vit.pos_embedding"] = _t(pos)
    heads = mlp = 0
    for i, blk in enumerate(blocks):
        p = f"vit.blocks.{i}"
        lns = g.find("layer_normalization", blk)
        for j, ln in enumerate(lns):
            layer = g.take(ln)
            out[f"{p}.norm{j + 1}.weight"], out[f"{p}.norm{j + 1}.bias"] = (
                _t(layer["gamma"]),
                _t(layer["beta"]),
            )
        mha = g.find("multi_head_attention", blk)[0]
        qkv = [g.take((*mha, k)) for k in ("query", "key", "value")]
        heads = qkv[0]["kernel"].shape[1]
        out[f"{p}.attn.qkv.weight"] = _t(np.concatenate([w["kernel"].reshape(dim, dim).T for w in qkv]))
        out[f"{p}.attn.qkv.bias"] = _t(np.concatenate([w["bias"].reshape(dim) for w in qkv]))
        o = g.take((*mha, "attention_output"))
        out[f"{p}.attn.out.weight"], out[f"{p}.attn.out.bias"] = (
            _t(o["kernel"].reshape(dim, dim).T),
            _t(o["bias"]),
        )
        dense = g.find("dense", blk)
        _dense(g.take(dense[0]), out, f"{p}.fc1")
        _dense(g.take(dense[1]), out, f"{p}.fc2")
        mlp = int(out[f"{p}.fc1.weight"].shape[0])
    for i, c in enumerate(convs[:-1]):
        _conv(g.take(c), out, f"pup.convs.{i}")
        _bn(g.take(bns[i]), out, f"pup.bns.{i}")
    _conv(g.take(convs[-1]), out, "pup.head")
    pup_filters = int(g.layers[convs[0]]["kernel"].shape[-1])
    grid = int(round(math.sqrt(pos.shape[0])))
    return {
        "patch": patch,
        "dim": int(dim),
        "depth": len(blocks),
        "heads": int(heads),
        "mlp": mlp,
        "pup": pup_filters,
        "image_size": grid * patch,
    }


def _resunet(g: _Group, out: dict[str, torch.Tensor]) -> tuple[int, int]:
    blocks, ups = g.find("residual_with_projection"), g.find("up_conv")
    steps = len(ups)
    if len(blocks) != 2 * steps + 1:
        raise CheckpointError(
            f"ResUNet has {len(blocks)} residual blocks and {steps} up-convs; expected 2*steps+1 blocks."
        )
    targets = [f"resunet.encoder.blocks.{i}" for i in range(steps + 1)]
    targets += [f"resunet.decoder.blocks.{i}" for i in range(steps)]
    for blk, prefix in zip(blocks, targets, strict=True):
        inner = g.find("conv_batch_norm_act_x2", blk)[0]
        _double_conv(g, inner, out, f"{prefix}.main")
        _dense(g.take(g.find("dense", blk)[0]), out, f"{prefix}.proj", as_conv=True)
    for i, up in enumerate(ups):
        _conv(g.take(g.find("conv2d", up)[0]), out, f"resunet.decoder.up_convs.{i}.conv")
        _bn(g.take(g.find("batch_normalization", up)[0]), out, f"resunet.decoder.up_convs.{i}.bn")
    _dense(g.take(g.find("dense", ())[0]), out, "resunet.decoder.head", as_conv=True)
    return steps, int(out["resunet.encoder.blocks.0.main.block1.conv.weight"].shape[0])


LOCATION_INPUT = "location"
"""Name of the Keras input layer that takes the region / coordinate vector (``use_location=True``)."""


def input_groups(names: Sequence[str], groups: Mapping[str, _Group]) -> list[str]:
    """The image input groups of a Keras GlaViTU file, in model input order.

    They are the weightless input layers stored before ``fusion_block``; the location input
    (``"location"``, a vector, not an image group) and TF op layers (``tf.reshape``...) are not groups.
    """
    before = names[: names.index("fusion_block")] if "fusion_block" in names else names
    return [n for n in before if not groups[n].layers and n.isidentifier() and n != LOCATION_INPUT]


def keras_to_state_dict(
    path: str | os.PathLike[str], group_names: Sequence[str] | None = None
) -> tuple[GlaViTUConfig, dict[str, torch.Tensor]]:
    """Convert a Keras GlaViTU weights file into a config and a glacierlab state dict.

    Args:
        path: The ``.h5`` file.
        group_names: Input group names in the model's input order; default: the Keras input layer
            names stored in the file (e.g. ``optical``, ``dem``).

    Raises:
        CheckpointError: The file is not a GlaViTU weights file, some weights were not mapped, or the
            declared shapes do not fit the architecture they describe (checked before reading).
        InputError: The declared weights exceed the memory budget.
    """
    names, groups = read_keras_h5(path, shapes_only=True)  # headers only: shapes against the architecture
    config, shapes = _convert(path, names, groups, group_names)
    with torch.device("meta"):
        skeleton = GlaViTU(config)
    from glacierlab.models.checkpoint import state_mismatch

    parts = state_mismatch(skeleton, shapes, ignore_missing=("num_batches_tracked",))
    if parts:
        raise CheckpointError(f"{path}: the declared weights do not fit a GlaViTU: {'; '.join(parts)}.")
    names, groups = read_keras_h5(path)
    return _convert(path, names, groups, group_names)


def _convert(
    path: str | os.PathLike[str], names: list[str], groups: dict[str, _Group], group_names: Sequence[str] | None
) -> tuple[GlaViTUConfig, dict[str, torch.Tensor]]:
    """Map the read weights (arrays or shape placeholders) to a config and state dict; errors made clear."""
    try:
        return _map(path, names, groups, group_names)
    except (KeyError, IndexError, ValueError, TypeError) as err:
        if isinstance(err, CheckpointError | ConfigError):
            raise
        raise CheckpointError(
            f"{path}: malformed GlaViTU weights file: {type(err).__name__}: {err} (a layer or weight the "
            "architecture needs is missing or mis-shaped). Use the authors' published '*_weights.h5' file."
        ) from err


def _map(
    path: str | os.PathLike[str], names: list[str], groups: dict[str, _Group], group_names: Sequence[str] | None
) -> tuple[GlaViTUConfig, dict[str, torch.Tensor]]:
    required = ("fusion_block", "SETR", "ResUNet", "output")
    if any(r not in groups for r in required):
        raise CheckpointError(
            f"{path}: top-level layers {names} lack {list(required)}; not a GlaViTU weights file."
        )
    if group_names is None:
        group_names = input_groups(names, groups)
    out: dict[str, torch.Tensor] = {}
    channels = _fusion(groups["fusion_block"], group_names, out)
    loc_groups = [n for n in names if "location" in n and groups[n].layers]
    location_dim = _location(groups[loc_groups[0]], out) if loc_groups else 0
    s = _setr(groups["SETR"], out)
    steps, filters = _resunet(groups["ResUNet"], out)
    for src, dst in (("deepsupervision", "aux_head"), ("output", "head")):
        if src in groups:
            layer = groups[src].find(src)
            _dense(groups[src].take(layer[0]), out, dst, as_conv=True)
    unused = [f"{g.name}/{'/'.join(p)}" for g in groups.values() for p in g.layers if p not in g.used]
    if unused:
        raise CheckpointError(f"{len(unused)} Keras layers were not mapped: {unused[:10]}.")
    fused = int(out["fusion.branches." + group_names[0] + ".block1.conv.weight"].shape[0])
    config = GlaViTUConfig(
        input_groups=tuple(zip(group_names, channels, strict=True)),
        fusion_filters=fused,
        fusion_gate="fusion.gates." + group_names[0] + ".fc1.weight" in out,
        location={0: "none", 4: "coordinates", 12: "region"}.get(location_dim, "unsupported"),
        image_size=s["image_size"],
        vit=ViTSettings(s["patch"], s["dim"], s["depth"], s["heads"], s["mlp"], s["pup"]),
        resunet_steps=steps,
        resunet_filters=filters,
    )
    return config, out


def load_keras_weights(model: GlaViTU, path: str | os.PathLike[str]) -> GlaViTU:
    """Load a Keras weights file into an existing GlaViTU (groups in the model's order); returns it.

    Raises:
        CheckpointError: Missing, unexpected or mis-shaped tensors (named in the message).
    """
    from glacierlab.models.checkpoint import assign_state

    _, state = keras_to_state_dict(path, list(model.input_groups))
    assign_state(model, state, source=str(path), ignore_missing=("num_batches_tracked",))
    return model
