"""Model cards generated from a checkpoint's own header, exportable as STAC MLM JSON.

A checkpoint carries its variant and config, band names, units and product level (``inputs``),
normalisation statistics, inference options and, for imported or shipped weights, the weights-registry
metadata (strategy, reported IoU, licence, citation; ``extra["weights"]``). :func:`model_card` turns
that into a STAC Item using the field names of the Machine Learning Model extension
(``mlm:name``, ``mlm:architecture``, ``mlm:tasks``, ``mlm:framework``, ``mlm:total_parameters``,
``mlm:input`` with ``value_scaling``, ``mlm:output`` with ``classification:classes``,
``mlm:hyperparameters``...), plus ``glacierlab:*`` fields for what MLM has no name for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from glacierlab.models.header import header_of

MLM_SCHEMA = "https://stac-extensions.github.io/mlm/v1.4.0/schema.json"
PAPER_DOI = "https://doi.org/10.1038/s41467-024-54956-x"
ARCHITECTURES = {
    "glavitu": "GlaViTU (gated multi-source fusion + SETR ViT branch + residual U-Net; Maslov et al. 2025)",
    "glavitu_lite": "GlaViTU-lite (glacierlab's CPU-sized GlaViTU)",
    "glavitu_tiny": "GlaViTU-tiny (glacierlab's test-sized GlaViTU)",
}


def _registered(path: Path) -> dict[str, Any]:
    """Registry metadata of a shipped checkpoint (found by its file name), else ``{}``."""
    from glacierlab.models.weights_registry import list_weights, weights_entry

    for name in list_weights():
        e = weights_entry(name)
        if e.kind == "shipped" and e.file == path.name:
            keys = ("name", "title", "strategy", "iou", "iou_source", "licence", "citation")
            return {k: getattr(e, k) for k in keys}
    return {}


def _parameters(path: Path) -> int | None:
    if path.suffix != ".safetensors":
        return None
    from safetensors import safe_open

    n = 0
    with safe_open(str(path), framework="numpy") as sf:
        for k in sf.keys():  # noqa: SIM118  (safe_open has no __iter__)
            if k.startswith("model.") and not k.endswith("num_batches_tracked"):
                shape = sf.get_slice(k).get_shape()
                size = 1
                for s in shape:
                    size *= int(s)
                n += size
    return n


def model_card(checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    """A STAC Item (MLM extension field names) describing a checkpoint, from its header alone.

    Args:
        checkpoint: Path of a glacierlab checkpoint.

    Returns:
        JSON-ready dict: ``properties`` hold the ``mlm:*`` fields, ``license``, ``sci:citation`` and
        ``glacierlab:*`` (options, product level, strategy, reported IoU); ``assets.weights`` the file.
    """
    from glacierlab.contract.record import TrainingRecord, options_from_header

    path = Path(checkpoint)
    h = header_of(path)
    record = TrainingRecord.from_extra(h.get("extra"))
    weights = record.weights or _registered(path)
    opts = options_from_header(h)
    inputs = h.get("inputs") or {}
    norm = h.get("normalisation") or {}
    groups = [(g, int(c), list(names)) for g, c, names in h.get("input_groups", [])]
    loc_dim = {"region": 12, "coordinates": 4}.get(str((h.get("config") or {}).get("location", "none")), 0)
    w = opts.window
    mlm_inputs: list[dict[str, Any]] = []
    for g, c, names in groups:
        spec = inputs.get(g) or {}
        item: dict[str, Any] = {
            "name": g,
            "bands": names,
            "input": {
                "shape": [-1, c, w, w],
                "dim_order": ["batch", "bands", "height", "width"],
                "data_type": "float32",
            },
            "description": f"units {spec.get('units')}"
            + (f", product level {spec['product_level']}" if spec.get("product_level") else "")
            + "; NaN = no data (0 after scaling)",
            "resize_type": None,
        }
        if g in norm:
            item["value_scaling"] = [
                {"type": "min-max", "minimum": lo, "maximum": hi}
                for lo, hi in zip(norm[g]["min"], norm[g]["max"], strict=True)
            ]
        mlm_inputs.append(item)
    if loc_dim:
        mlm_inputs.append(
            {
                "name": "location",
                "bands": [],
                "input": {"shape": [-1, loc_dim], "dim_order": ["batch", "location"], "data_type": "float32"},
                "description": "region one-hot (11 regions + unknown)"
                if loc_dim == 12
                else "[sin lat, cos lat, sin lon, cos lon] (radians) of the window centre",
            }
        )
    classes = h.get("class_names") or ["non-glacier", "glacier"]
    variant = str(h.get("variant", ""))
    props: dict[str, Any] = {
        "datetime": None,
        "start_datetime": "1900-01-01T00:00:00Z",
        "end_datetime": "9999-12-31T23:59:59Z",
        "description": weights.get("title") or f"glacierlab {variant} checkpoint {path.name}",
        "mlm:name": weights.get("name") or path.stem,
        "mlm:architecture": ARCHITECTURES.get(variant, variant),
        "mlm:tasks": ["semantic-segmentation"],
        "mlm:framework": "pytorch",
        "mlm:framework_version": _torch_version(),
        "mlm:total_parameters": _parameters(path),
        "mlm:pretrained": True,
        "mlm:pretrained_source": record.source or "glacierlab training",
        "mlm:batch_size_suggestion": opts.batch_size,
        "mlm:accelerator": None,
        "mlm:accelerator_constrained": False,
        "mlm:input": mlm_inputs,
        "mlm:output": [
            {
                "name": "glacier_probability",
                "tasks": ["semantic-segmentation"],
                "result": {
                    "shape": [-1, len(classes), w, w],
                    "dim_order": ["batch", "channel", "height", "width"],
                    "data_type": "float32",
                },
                "classification:classes": [{"value": i, "name": n} for i, n in enumerate(classes)]
                + [{"value": 255, "name": "no data", "description": "mask value where no prediction exists"}],
                "post_processing_function": None,
            }
        ],
        "mlm:hyperparameters": {"config": h.get("config"), "inference": opts.to_dict()},
        "license": "other",
        "sci:citation": weights.get("citation"),
        "glacierlab:licence": weights.get("licence"),
        "glacierlab:options": opts.to_dict(),
        "glacierlab:product_level": (inputs.get("optical") or {}).get("product_level"),
        "glacierlab:strategy": weights.get("strategy") or record.strategy,
        "glacierlab:reported_iou": weights.get("iou") or {},
        "glacierlab:reported_iou_source": weights.get("iou_source"),
        "glacierlab:version": h.get("glacierlab_version"),
    }
    links = [{"rel": "cite-as", "href": PAPER_DOI, "title": "GlaViTU paper"}] if variant.startswith("glavitu") else []
    if weights.get("download"):
        links.append({"rel": "derived_from", "href": weights["download"], "title": weights.get("file", "")})
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [MLM_SCHEMA],
        "id": props["mlm:name"],
        "geometry": None,
        "properties": props,
        "links": links,
        "assets": {
            "weights": {
                "href": path.name,
                "title": f"glacierlab checkpoint ({variant})",
                "type": "application/octet-stream; application=safetensors",
                "roles": ["mlm:model", "mlm:weights"],
            }
        },
    }


def _torch_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return None


def card_text(card: dict[str, Any]) -> str:
    """A short human-readable summary of :func:`model_card` output (what ``glacierlab weights card`` prints)."""
    p = card["properties"]
    lines = [
        f"{p['mlm:name']}: {p['description']}",
        f"  architecture: {p['mlm:architecture']} ({p['mlm:total_parameters'] or '?'} parameters)",
        f"  strategy: {p['glacierlab:strategy'] or '?'}; product level: {p['glacierlab:product_level'] or '?'}",
    ]
    for inp in p["mlm:input"]:
        scale = "min-max scaled" if inp.get("value_scaling") else "unscaled"
        lines.append(f"  input {inp['name']}: {inp['bands'] or inp['input']['shape']} ({scale}; {inp['description']})")
    lines.append(f"  inference: {json.dumps(p['glacierlab:options'])}")
    if p["glacierlab:reported_iou"]:
        ious = ", ".join(f"{k} {v:.2f}" for k, v in p["glacierlab:reported_iou"].items())
        lines.append(f"  reported IoU: {ious} ({p['glacierlab:reported_iou_source']})")
    if p.get("glacierlab:licence"):
        lines.append(f"  licence: {p['glacierlab:licence']}")
    if p.get("sci:citation"):
        lines.append(f"  cite: {p['sci:citation']}")
    return "\n".join(lines)
