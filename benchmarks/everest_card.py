"""Model-card text of the Everest benchmark: figure lines, the card's figures block, the split map, ``--ship``.

Split from ``everest_model.py`` (which computes the figures); both print and write the same lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import everest_parts as parts
import numpy as np

WEIGHTS = Path(__file__).resolve().parents[1] / "glacierlab" / "weights"
NAME = "glavitu_lite_everest"


def glacier_lines(m: dict[str, Any], rows: int) -> list[str]:
    """Per-glacier summary (model and forest) and the largest glaciers' deviations with debris."""
    g = m["glaciers"]
    out = []
    for k in ("model", "random_forest"):
        x = g[k]
        per = ", ".join(
            f"{s} {100 * v['clean_band']:.0f} % of {v['glaciers']}" for s, v in x["by_split"].items()
        )
        out.append(
            f"{k}: {x['glaciers']} RGI glaciers, inside the clean-ice band (±5 % area) "
            f"{100 * x['clean_band']:.1f} %, inside the literature band (±5 % clean ... ±30 % debris, by "
            f"debris fraction) {100 * x['literature_band']:.1f} %, median |area deviation| "
            f"{100 * x['median_abs_dev']:.1f} % (clean band by majority split: {per})"
        )
    if rows:
        rf = {r["RGIId"]: r for r in g["random_forest"]["table"]}
        out.append(
            f"{'RGIId':<15} {'split':<6} {'A_rgi':>7} {'A_model':>7} {'dev%':>7} {'debris':>6} "
            f"{'tol%':>5} {'clean':>5} {'lit.':>5} {'RF dev%':>7}"
        )
        for r in g["model"]["table"][:rows]:
            out.append(
                f"{r['RGIId']:<15} {r['split']:<6} {r['area_rgi_km2']:7.2f} {r['area_model_km2']:7.2f} "
                f"{100 * r['dev']:7.1f} {r['debris']:6.2f} {100 * r['tolerance']:5.1f} "
                f"{'yes' if r['inside_clean'] else 'no':>5} {'yes' if r['inside_literature'] else 'no':>5} "
                f"{100 * rf[r['RGIId']]['dev']:7.1f}"
            )
    return out


def fit_lines(m: dict[str, Any]) -> list[str]:
    """Fit on the training blocks (model and forest) and the DEM coverage per split."""
    tb, d = m["train_blocks"], m["dem_valid_fraction"]
    return [
        f"Glacier IoU on the training blocks (their own training data): model {tb['model']['iou']:.3f}, "
        f"forest {tb['random_forest']['iou']:.3f}.",
        f"DEM coverage (all DEM sources of the catalog scene mosaicked): {100 * d['frame']:.1f} % of the "
        f"frame; train {100 * d['train']:.1f} %, validation {100 * d['val']:.1f} %, test {100 * d['test']:.1f} %.",
    ]


def targets(m: dict[str, Any]) -> list[str]:
    """The issue's three targets with the measured value and whether each is met."""
    t, c, g = m["test"], m["calibration"], m["glaciers"]
    gap = t["model"]["iou"] - t["random_forest"]["iou"]
    miou = t["model"]["mean_iou"] - t["random_forest"]["mean_iou"]
    band, rf_band = g["model"]["clean_band"], g["random_forest"]["clean_band"]
    ece = c["ece_chosen"]

    def ok(flag: bool) -> str:
        return "met" if flag else "NOT met"

    return [
        f"glacier IoU >= random forest + 0.05 and mean IoU >= forest's: {gap:+.3f} IoU, {miou:+.3f} "
        f"mIoU, {ok(gap >= 0.05 and miou >= 0)}",
        f">= 35 % of RGI glaciers in the clean-ice band and more than the forest: {100 * band:.1f} % "
        f"(forest {100 * rf_band:.1f} %), {ok(band >= 0.35 and band > rf_band)}",
        f"ECE (100 bins) <= 0.02 after recalibration (method chosen on validation blocks): "
        f"{c['chosen']['method']} {ece:.4f}, {ok(ece <= 0.02)}",
    ]


def card_block(m: dict[str, Any]) -> str:
    """The figures section of MODEL_CARD.md (between the figures markers)."""
    t, s, c = m["test"], m["sentinel2"], m["calibration"]
    tta = ", 8-fold test-time augmentation" if m.get("tta") else ""
    lines = [
        f"Checkpoint epoch {m['epoch']} ({m['parameters']:,} parameters; chosen on "
        f"{m['selection']} {m['val_iou_at_selection']:.3f}); tiled prediction with window {m['window']} "
        f"px, stride {m['stride']} px{tta}: the whole 800 × 655 px scene in {m['predict_seconds']} s on "
        f"{m['predict_threads']} CPU thread{'s' if m['predict_threads'] != 1 else ''}. "
        "Test blocks of the stored split, "
        f"{int(t['model']['pixels'])} labelled pixels.",
        "",
        "| method (test blocks) | glacier IoU | precision | recall | F1 | background IoU | mean IoU |",
        "|---|---|---|---|---|---|---|",
    ]
    for k in parts.ROWS:
        r = t[k]
        lines.append(
            f"| {k} | {r['iou']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} "
            f"| {r['background_iou']:.3f} | {r['mean_iou']:.3f} |"
        )
    lines += [
        "",
        f"Random forest: {t['random_forest']['params']}, fitted on the training blocks, chosen on the "
        f"validation blocks; same inputs as the model plus band ratios. Band-ratio rule fitted on the "
        f"training blocks: `{t['ratio_threshold']['rule']}`.",
        "",
        "Per glacier, over the whole frame (the predicted mask split by the 86 RGI 6.0 outlines; most of "
        "these glaciers lie mainly in training blocks, so this is not a held-out figure; "
        "`by split` counts glaciers by the split holding most of their area):",
        "",
    ]
    lines += ["* " + x for x in glacier_lines(m, 0)]
    lines += [
        "",
        f"Sentinel-2 {s['date']} clip (RGB only, NIR fed as no data; 30 m grid): glacier IoU "
        f"{s['whole_clip']['iou']:.3f} over the whole clip ({int(s['whole_clip']['pixels'])} px; "
        f"'all glacier' {s['all_glacier_whole_clip']['iou']:.3f}; the Landsat 2000 input scores "
        f"{s['landsat_model_same_pixels']['iou']:.3f} on the same pixels), "
        f"{s['test_blocks']['iou']:.3f} on the test blocks inside the clip.",
        "",
        f"ECE (100 bins) on the test blocks; calibrators fitted on the validation blocks "
        f"({c['pixels_fit']} px): raw entropy confidence {c['ece_raw']['entropy']:.4f}, raw max-probability "
        f"{c['ece_raw']['maxprob']:.4f}; after kernel ridge (paper) "
        f"{c['ece_calibrated']['kernel_ridge']:.4f}, isotonic {c['ece_calibrated']['isotonic']:.4f}, "
        f"temperature {c['ece_calibrated']['temperature']:.4f}. The method stored as the default was "
        f"chosen by leave-one-validation-block-out ECE: **{c['chosen']['method']}**, test ECE "
        f"{c['ece_chosen']:.4f}. Leave-one-validation-block-out ECE of that method, per validation block: "
        f"{c['chosen']['per_block']}.",
        "",
        *fit_lines(m),
        "",
        "Targets of issue 15: " + "; ".join(targets(m)) + ".",
        "",
        "Every variant tried (`benchmarks/everest_variants.json`, same test blocks and labels; the forest "
        "columns are the forest of that run, tuned on the validation blocks):",
        "",
        *parts.variants_lines(parts.load_variants()),
    ]
    return "\n".join(lines)


def split_map(path: Path, split: Any, ref: np.ndarray) -> None:
    """Small PNG of the block split with the reference glacier outline."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    pm = split.pixel_map()
    colours = ["#dddddd", "#4c9be8", "#f5a623", "#d0021b"]  # buffer, train, val, test
    fig = Figure(figsize=(5.0, 3.6), dpi=72)
    ax = fig.subplots()
    ax.imshow(pm + 1, cmap=ListedColormap(colours), vmin=0, vmax=3, interpolation="nearest")
    ax.contour((ref == 1).astype(float), levels=[0.5], colors="k", linewidths=0.5)
    ax.set_title("Everest split (160 px blocks, 32 px buffer); black: RGI 6.0", fontsize=8)
    ax.legend(
        handles=[
            Patch(color=c, label=n) for c, n in zip(colours, ("buffer", "train", "val", "test"), strict=True)
        ],
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        fontsize=7,
    )
    ax.set_axis_off()
    fig.savefig(path, bbox_inches="tight")


def write_card(m: dict[str, Any]) -> None:
    """Replace the figures section of MODEL_CARD.md (between its markers) with :func:`card_block` of ``m``."""
    card = WEIGHTS / "MODEL_CARD.md"
    new = re.sub(
        r"(<!-- figures:start -->\n).*?(\n<!-- figures:end -->)",
        lambda mm: mm.group(1) + card_block(m) + mm.group(2),
        card.read_text(),
        flags=re.S,
    )
    card.write_text(new)


def ship(out: dict[str, Any]) -> None:
    """Write the shipped weights (with the chosen calibrator), metrics JSON, card figures and split map.

    Only the calibrator chosen on the validation blocks is stored, so ``predict_scene(calibration=
    "auto")`` (every entry point's default) applies the one whose figures the card states. The window,
    stride and TTA setting the figures were made with are stored in ``extra`` (and ``extra.training``,
    where :func:`glacierlab.analysis.regional.training_window` looks).
    """
    from glacierlab.analysis.evaluate import calibration_arrays
    from glacierlab.models import save_checkpoint

    ckpt, m = out["ckpt"], out["metrics"]
    chosen = m["calibration"]["chosen"]["method"]
    extra = ckpt.record.to_extra()
    extra["calibration"] = {
        "fitted_on": "validation blocks",
        "default": chosen,
        "chosen_by": "leave-one-validation-block-out ECE (100 bins)",
        "bins": 100,
    }
    extra.update(window=m["window"], stride=m["stride"], tta=bool(m.get("tta")))
    extra["training"] = dict(ckpt.record.training or {}, window=m["window"])
    save_checkpoint(
        WEIGHTS / f"{NAME}.safetensors",
        ckpt.model,
        bands=ckpt.bands,
        normalisation=ckpt.normalisation,
        calibration=calibration_arrays({chosen: out["cal"].calibrators[chosen]}),
        class_names=ckpt.class_names,
        extra=extra,
        overwrite=True,
        options=ckpt.options.replace(window=m["window"], stride=m["stride"], tta=bool(m.get("tta")))
        if ckpt.options is not None
        else None,
        inputs=ckpt.inputs or None,
    )
    m = dict(m, checkpoint=f"{NAME}.safetensors")
    (WEIGHTS / f"{NAME}_metrics.json").write_text(json.dumps(m, indent=1) + "\n")
    write_card(m)
    split_map(WEIGHTS / "split_map.png", out["split"], out["ref"])
    for f in WEIGHTS.glob(f"{NAME}*"):
        f.chmod(0o644)  # files written atomically start as 0600; package data must be world-readable
    print(f"shipped {WEIGHTS / (NAME + '.safetensors')} and its metrics, card figures and split map")
