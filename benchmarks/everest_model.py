"""Held-out figures of the shipped Everest model, baselines, per-glacier figures, calibration, variants.

Run (from the repository root, with the shared data as seed folder)::

    GLACIERLAB_SEED_DIR=../shared/data .venv/bin/python benchmarks/everest_model.py

It evaluates ``glacierlab/weights/glavitu_lite_everest.safetensors`` (``--checkpoint`` for another
one, e.g. a run of ``tools/train_everest.py``) on the **test blocks of the spatial split stored in the
checkpoint** (pixels with a valid reference), and prints glacier IoU, precision, recall, F1,
background IoU and mean IoU for

* the model: tiled prediction of the whole scene with the checkpoint's window (stride window / 2,
  Gaussian blending, ``--tta`` for the 8 flips/rotations, ``predict_scene(nodata="all")``: DEM gaps
  are filled with 0 as in training), with the time the whole 800 x 655 scene took;
* a per-pixel random forest (scikit-learn, 100 trees) on the same normalised inputs plus band ratios,
  fitted on 50 000 pixels of the training blocks, its leaf size and feature share chosen on the
  validation blocks (``everest_parts.FOREST_GRID``);
* a band-ratio threshold (feature, direction and threshold chosen on the training blocks);
* "all glacier" (the trivial baseline: glacier IoU = glacier share of the test pixels);

then, over the whole frame, the per-glacier area deviation against the 86 RGI 6.0 outlines (model and
forest) with each glacier's debris fraction (a proxy from the optical bands and the DEM slope), the
share of glaciers inside the clean-ice band (±5 % area) and inside the literature band (±5 % clean
... ±30 % debris, Paul et al. 2013), the model's IoU on the 2020-04-07 Sentinel-2 true-colour clip
(RGB only, NIR fed as no data), and ECE with 100 bins on the test blocks before and after
recalibration: the calibrators (paper kernel ridge, isotonic, temperature) are fitted on the
**validation** blocks and the one reported against the target (and stored by ``--ship``) is chosen by
leave-one-validation-block-out ECE. Nothing is chosen on the test blocks. Last, it prints the table of
every variant tried (``everest_variants.json``; ``--record NAME`` adds or replaces this checkpoint's row).

``--ship`` also writes the shipped weights with the chosen calibrator and the inference settings
(window, stride, TTA) embedded, ``glavitu_lite_everest_metrics.json``, the figures block of
``MODEL_CARD.md`` and ``split_map.png`` in ``glacierlab/weights/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import everest_parts as parts  # noqa: E402  (a sibling module of this script)

WEIGHTS = Path(__file__).resolve().parents[1] / "glacierlab" / "weights"
NAME = "glavitu_lite_everest"
S2_DATE = "2020-04-07"
COMMAND = "GLACIERLAB_SEED_DIR=../shared/data python benchmarks/everest_model.py"
SPLIT_NAMES = ("buffer", "train", "val", "test")
ROWS = ("model", "random_forest", "ratio_threshold", "all_glacier")


def _predict(ckpt: Any, inputs: dict, window: int, stride: int, batch: int, tta: bool) -> np.ndarray:
    from glacierlab.inference.predict import predict_scene

    out = predict_scene(
        ckpt,
        inputs,
        window=window,
        stride=stride,
        batch_size=batch,
        tta=tta,
        device="cpu",
        calibration=None,  # the rest (nodata="all"...) from the checkpoint's stored options
        progress=False,
    )
    return np.asarray(out["probability"].values, dtype=np.float32)


def _logged_seconds(checkpoint: Path) -> float | None:
    """Training wall time summed from the run's CSV log next to the checkpoint (runs stopped early)."""
    import csv

    log = checkpoint.with_name(checkpoint.stem.removesuffix("_minloss") + "_log.csv")
    if not log.exists():
        return None
    rows = list(csv.DictReader(log.read_text().splitlines()))
    return sum(float(r["seconds"]) for r in rows if r.get("seconds")) or None


def _row(name: str, s: dict[str, float]) -> str:
    return (
        f"{name:<28} {s['iou']:.3f}  {s['precision']:.3f}  {s['recall']:.3f}  {s['f1']:.3f}"
        f"  {s['background_iou']:.3f}  {s['mean_iou']:.3f}  {int(s['pixels']):>7d}"
    )


def evaluate(
    checkpoint: Path, stride: int | None, batch: int, seed: int, tta: bool = False
) -> dict[str, Any]:
    """Compute every figure; returns the JSON-ready metrics dict (and the objects ``--ship`` needs)."""
    import torch

    from glacierlab.data.stack import stack_region
    from glacierlab.inference.calibration import METHODS
    from glacierlab.models import load_checkpoint
    from glacierlab.reports.evaluate import calibration_ece, heldout_counts, model_inputs, scores
    from glacierlab.training.baselines import fit_ratio_threshold
    from glacierlab.training.scene_dataset import SpatialSplit, scene_from_stack

    t0 = time.perf_counter()
    ckpt = load_checkpoint(checkpoint)
    extra = ckpt.metadata.get("extra", {})
    split = SpatialSplit.from_dict(extra["spatial_split"])
    window = ckpt.options.window  # the options stored in the checkpoint (its training window)
    stride = stride or ckpt.options.stride
    region = extra.get("region_id", "everest")
    stack = stack_region(region, groups=tuple(ckpt.bands))
    ref = np.asarray(stack["reference"].values)
    if tuple(ref.shape) != split.shape:
        raise SystemExit(f"stack shape {ref.shape} differs from the stored split {split.shape}")
    areas = {s: split.mask(s) for s in ("train", "val", "test")}

    inputs, _ = model_inputs(stack, ckpt.bands)
    t1 = time.perf_counter()
    prob = _predict(ckpt, inputs, window, stride, batch, tta)
    predict_seconds = time.perf_counter() - t1
    results: dict[str, Any] = {"model": scores(heldout_counts(prob, ref, areas["test"]))}
    val_model = scores(heldout_counts(prob, ref, areas["val"]))

    scene = scene_from_stack(stack, tuple(ckpt.bands), ckpt.normalisation)
    forest = parts.tuned_forest(scene, ref, areas, seed)
    results["random_forest"] = scores(heldout_counts(forest["prediction"], ref, areas["test"]))
    results["random_forest"]["params"] = forest["params"]
    thr = fit_ratio_threshold(scene.inputs, scene.bands, ref, areas["train"])
    results["ratio_threshold"] = scores(
        heldout_counts(thr.predict(scene.inputs, scene.bands), ref, areas["test"])
    )
    results["ratio_threshold"]["rule"] = f"{thr.feature} {'>' if thr.above else '<'} {thr.threshold:.4f}"
    results["all_glacier"] = scores(heldout_counts(np.ones_like(ref), ref, areas["test"]))

    seed_dir = Path(os.environ["GLACIERLAB_SEED_DIR"])
    rgi = parts.rgi_outlines(seed_dir)
    debris = parts.debris_fractions(stack, rgi)
    majority = parts.majority_split(split, rgi, stack["reference"])
    glaciers = {
        "model": parts.glacier_figures(prob > 0.5, stack["reference"], rgi, debris, majority),
        "random_forest": parts.glacier_figures(
            forest["prediction"] == 1, stack["reference"], rgi, debris, majority
        ),
    }

    s2 = stack_region(region, date=S2_DATE, groups=tuple(ckpt.bands), like=stack["reference"])
    s2_ref = np.asarray(s2["reference"].values)
    s2_inputs, filled = model_inputs(s2, ckpt.bands, fill_missing=True)
    s2_prob = _predict(ckpt, s2_inputs, window, stride, batch, tta)
    everywhere = np.ones_like(areas["test"])
    sentinel = {
        "date": S2_DATE,
        "filled_bands": {g: b for g, b in filled.items() if b},
        "whole_clip": scores(heldout_counts(s2_prob, s2_ref, everywhere)),
        "test_blocks": scores(heldout_counts(s2_prob, s2_ref, areas["test"])),
        "all_glacier_whole_clip": scores(heldout_counts(np.ones_like(s2_ref), s2_ref, everywhere)),
        "landsat_model_same_pixels": scores(heldout_counts(prob, ref, s2_ref != 255)),
    }
    chosen = parts.choose_calibrator(prob, ref, split, METHODS)
    cal = calibration_ece(prob, ref, areas["val"], areas["test"])
    train_s = extra.get("train_seconds") or _logged_seconds(checkpoint)
    metrics = {
        "checkpoint": checkpoint.name,
        "epoch": extra.get("epoch"),
        "val_iou_at_selection": extra.get("val_pixel_iou", extra.get("val_iou")),
        "selection": "validation pixel IoU" if "val_pixel_iou" in extra else "validation per-patch IoU",
        "parameters": int(sum(p.numel() for p in ckpt.model.parameters())),
        "region": region,
        "window": window,
        "stride": stride,
        "tta": tta,
        "recipe": extra.get("recipe"),
        "train_minutes": None if train_s is None else round(float(train_s) / 60, 1),
        "predict_seconds": round(predict_seconds, 1),
        "predict_threads": torch.get_num_threads(),
        "split": "test blocks of the checkpoint's spatial_split (pixels with a valid RGI reference)",
        "test": results,
        "val_model": val_model,
        "forest_tuning": {"fitted_on": "training blocks", "chosen_on": "validation blocks",
                          "tried": forest["tried"]},
        "glaciers": glaciers,
        "sentinel2": sentinel,
        "calibration": {
            "bins": 100,
            "fitted_on": "validation blocks",
            "scored_on": "test blocks",
            "convention": "entropy",
            "ece_raw": cal.ece_raw,
            "ece_calibrated": cal.ece_calibrated,
            "chosen": chosen,
            "ece_chosen": cal.ece_calibrated[chosen["method"]],
            "pixels_fit": cal.pixels_fit,
            "pixels_eval": cal.pixels_eval,
        },
        "seconds": round(time.perf_counter() - t0, 1),
        "command": COMMAND,
    }
    return {"metrics": metrics, "ckpt": ckpt, "cal": cal, "split": split, "ref": ref}


def _glacier_lines(m: dict[str, Any], rows: int) -> list[str]:
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


def report(m: dict[str, Any], glacier_rows: int = 25) -> None:
    """Print the figures, the per-glacier table and the table of every variant tried."""
    t = m["test"]
    tta = ", TTA x8" if m.get("tta") else ""
    print(
        f"checkpoint {m['checkpoint']} (epoch {m['epoch']}, {m['parameters']:,} parameters), window "
        f"{m['window']}, stride {m['stride']}{tta}; whole 800x655 scene predicted in "
        f"{m['predict_seconds']} s with {m['predict_threads']} torch threads"
    )
    print(f"test blocks of the stored split, {int(t['model']['pixels'])} labelled pixels")
    print(f"{'':<28} gl.IoU prec.  recall F1     bg.IoU mIoU   pixels")
    for k in ROWS:
        print(_row(k, t[k]))
    print(f"  ratio rule (fitted on train blocks): {t['ratio_threshold']['rule']}")
    print(f"  forest: {t['random_forest']['params']} (chosen on validation blocks of "
          f"{m['forest_tuning']['tried']})")
    print(_row("model on val blocks", m["val_model"]))
    s = m["sentinel2"]
    print(f"Sentinel-2 {s['date']} (RGB on the 30 m Landsat grid; bands fed as no data: {s['filled_bands']})")
    print(_row("  model, whole clip", s["whole_clip"]))
    print(_row("  model, test blocks in clip", s["test_blocks"]))
    print(_row("  all glacier, whole clip", s["all_glacier_whole_clip"]))
    print(_row("  Landsat 2000, same pixels", s["landsat_model_same_pixels"]))
    c = m["calibration"]
    print(f"ECE (100 bins) on test blocks, calibrators fitted on validation blocks ({c['pixels_fit']} px):")
    for k, v in c["ece_raw"].items():
        print(f"  raw {k:<22} {v:.4f}")
    for k, v in c["ece_calibrated"].items():
        print(f"  {k:<26} {v:.4f}   (leave-one-val-block-out ECE {c['chosen']['cv_ece'][k]:.4f})")
    print(f"  chosen on validation blocks: {c['chosen']['method']} -> test ECE {c['ece_chosen']:.4f}")
    print("Per glacier over the whole frame (RGI 6.0 outlines split the predicted mask):")
    for line in _glacier_lines(m, glacier_rows):
        print("  " + line)
    print("Targets of issue 15:")
    for line in _targets(m):
        print("  " + line)
    print(f"({m['seconds']} s)")
    print("Every variant tried (everest_variants.json; test blocks of the same split):")
    for line in parts.variants_lines(parts.load_variants()):
        print(line)


def _targets(m: dict[str, Any]) -> list[str]:
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
        f"{m['predict_threads']} CPU threads. Test blocks of the stored split, "
        f"{int(t['model']['pixels'])} labelled pixels.",
        "",
        "| method (test blocks) | glacier IoU | precision | recall | F1 | background IoU | mean IoU |",
        "|---|---|---|---|---|---|---|",
    ]
    for k in ROWS:
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
    lines += ["* " + x for x in _glacier_lines(m, 0)]
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
        f"{c['ece_chosen']:.4f}.",
        "",
        "Targets of issue 15: " + "; ".join(_targets(m)) + ".",
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


def ship(out: dict[str, Any]) -> None:
    """Write the shipped weights (with the chosen calibrator), metrics JSON, card figures and split map.

    Only the calibrator chosen on the validation blocks is stored, so ``predict_scene(calibration=
    "auto")`` (every entry point's default) applies the one whose figures the card states. The window,
    stride and TTA setting the figures were made with are stored in ``extra`` (and ``extra.training``,
    where :func:`glacierlab.reports.regional.training_window` looks).
    """
    from glacierlab.models import save_checkpoint
    from glacierlab.reports.evaluate import calibration_arrays

    ckpt, m = out["ckpt"], out["metrics"]
    chosen = m["calibration"]["chosen"]["method"]
    extra = dict(ckpt.metadata.get("extra", {}))
    extra["calibration"] = {
        "fitted_on": "validation blocks",
        "default": chosen,
        "chosen_by": "leave-one-validation-block-out ECE (100 bins)",
        "bins": 100,
    }
    extra.update(window=m["window"], stride=m["stride"], tta=bool(m.get("tta")))
    extra["training"] = dict(extra.get("training", {}), window=m["window"])
    save_checkpoint(
        WEIGHTS / f"{NAME}.safetensors",
        ckpt.model,
        bands=ckpt.bands,
        normalisation=ckpt.normalisation,
        calibration=calibration_arrays({chosen: out["cal"].calibrators[chosen]}),
        class_names=ckpt.class_names,
        extra=extra,
        overwrite=True,
    )
    m = dict(m, checkpoint=f"{NAME}.safetensors")
    (WEIGHTS / f"{NAME}_metrics.json").write_text(json.dumps(m, indent=1) + "\n")
    card = WEIGHTS / "MODEL_CARD.md"
    text = card.read_text()
    new = re.sub(
        r"(<!-- figures:start -->\n).*?(\n<!-- figures:end -->)",
        lambda mm: mm.group(1) + card_block(m) + mm.group(2),
        text,
        flags=re.S,
    )
    card.write_text(new)
    split_map(WEIGHTS / "split_map.png", out["split"], out["ref"])
    for f in WEIGHTS.glob(f"{NAME}*"):
        f.chmod(0o644)  # files written atomically start as 0600; package data must be world-readable
    print(f"shipped {WEIGHTS / (NAME + '.safetensors')} and its metrics, card figures and split map")


def main() -> None:
    """Parse arguments, evaluate, print (and record, and ship)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped weights")
    p.add_argument("--stride", type=int, default=None, help="tiling stride (default window // 2)")
    p.add_argument("--tta", action="store_true", help="8-fold test-time augmentation")
    p.add_argument("--batch-size", type=int, default=16, help="windows per forward pass")
    p.add_argument("--seed", type=int, default=0, help="random-forest seed")
    p.add_argument("--glacier-rows", type=int, default=25, help="per-glacier rows printed")
    p.add_argument("--record", default=None, help="add/replace this variant name in everest_variants.json")
    p.add_argument("--description", default="", help="one-line description for --record")
    p.add_argument("--ship", action="store_true", help="write the shipped weights, metrics and card figures")
    p.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    a = p.parse_args()
    os.environ.setdefault("GLACIERLAB_SEED_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    if a.checkpoint is None:
        from glacierlab.weights import shipped_checkpoint_path

        a.checkpoint = shipped_checkpoint_path(NAME)
    out = evaluate(a.checkpoint, a.stride, a.batch_size, a.seed, a.tta)
    if a.record:
        parts.record_variant(parts.variant_row(a.record, out["metrics"], a.description))
    report(out["metrics"], a.glacier_rows)
    if a.json:
        a.json.write_text(json.dumps(out["metrics"], indent=1) + "\n")
    if a.ship:
        ship(out)


if __name__ == "__main__":
    main()
