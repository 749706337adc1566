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
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import everest_card as card  # noqa: E402  (sibling modules of this script)
import everest_parts as parts  # noqa: E402

S2_DATE = "2020-04-07"
COMMAND = "GLACIERLAB_SEED_DIR=../shared/data python benchmarks/everest_model.py"
SPLIT_NAMES = ("buffer", "train", "val", "test")



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

    from glacierlab.analysis.evaluate import calibration_ece
    from glacierlab.contract.calibration import METHODS
    from glacierlab.data.stack import stack_region
    from glacierlab.inference.compat import model_inputs
    from glacierlab.metrics import heldout_counts
    from glacierlab.models import load_checkpoint
    from glacierlab.training.baselines import fit_ratio_threshold
    from glacierlab.training.scene_dataset import scene_from_stack

    t0 = time.perf_counter()
    ckpt = load_checkpoint(checkpoint)
    record = ckpt.record
    split = ckpt.split
    if split is None:
        raise SystemExit(f"{checkpoint} records no spatial split: it was not trained by glacierlab")
    window = ckpt.options.window  # the options stored in the checkpoint (its training window)
    stride = stride or ckpt.options.stride
    region = record.region_id or "everest"
    stack = stack_region(region, groups=tuple(ckpt.bands))
    ref = np.asarray(stack["reference"].values)
    if tuple(ref.shape) != split.shape:
        raise SystemExit(f"stack shape {ref.shape} differs from the stored split {split.shape}")
    areas = {s: split.mask(s) for s in ("train", "val", "test")}

    inputs, _ = model_inputs(stack, ckpt.bands)
    t1 = time.perf_counter()
    prob = _predict(ckpt, inputs, window, stride, batch, tta)
    predict_seconds = time.perf_counter() - t1
    results: dict[str, Any] = {"model": heldout_counts(prob, ref, areas["test"]).scores()}
    val_model = heldout_counts(prob, ref, areas["val"]).scores()

    scene = scene_from_stack(stack, tuple(ckpt.bands), ckpt.normalisation)
    forest = parts.tuned_forest(scene, ref, areas, seed)
    results["random_forest"] = heldout_counts(forest["prediction"], ref, areas["test"]).scores()
    results["random_forest"]["params"] = forest["params"]
    thr = fit_ratio_threshold(scene.inputs, scene.bands, ref, areas["train"])
    results["ratio_threshold"] = heldout_counts(thr.predict(scene.inputs, scene.bands), ref, areas["test"]).scores()
    results["ratio_threshold"]["rule"] = f"{thr.feature} {'>' if thr.above else '<'} {thr.threshold:.4f}"
    results["all_glacier"] = heldout_counts(np.ones_like(ref), ref, areas["test"]).scores()

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
        "whole_clip": heldout_counts(s2_prob, s2_ref, everywhere).scores(),
        "test_blocks": heldout_counts(s2_prob, s2_ref, areas["test"]).scores(),
        "all_glacier_whole_clip": heldout_counts(np.ones_like(s2_ref), s2_ref, everywhere).scores(),
        "landsat_model_same_pixels": heldout_counts(prob, ref, s2_ref != 255).scores(),
    }
    chosen = parts.choose_calibrator(prob, ref, split, METHODS)
    cal = calibration_ece(prob, ref, areas["val"], areas["test"])
    train_s = record.other.get("train_seconds") or _logged_seconds(checkpoint)
    metrics = {
        "checkpoint": checkpoint.name,
        "epoch": record.epoch,
        "val_iou_at_selection": record.other.get("val_pixel_iou", record.val_iou),
        "selection": "validation pixel IoU" if "val_pixel_iou" in record.other else "validation per-patch IoU",
        "parameters": int(sum(p.numel() for p in ckpt.model.parameters())),
        "region": region,
        "window": window,
        "stride": stride,
        "tta": tta,
        "recipe": record.other.get("recipe"),
        "train_minutes": None if train_s is None else round(float(train_s) / 60, 1),
        "predict_seconds": round(predict_seconds, 1),
        "predict_threads": torch.get_num_threads(),
        "split": "test blocks of the checkpoint's spatial_split (pixels with a valid RGI reference)",
        "test": results,
        "val_model": val_model,
        "train_blocks": {  # how well each method fits the blocks it was trained on
            "model": heldout_counts(prob, ref, areas["train"]).scores(),
            "random_forest": heldout_counts(forest["prediction"], ref, areas["train"]).scores(),
        },
        "dem_valid_fraction": {
            "frame": float(np.isfinite(np.asarray(stack["dem"].values)[0]).mean()),
            **{k: float(np.isfinite(np.asarray(stack["dem"].values)[0][a]).mean()) for k, a in areas.items()},
        },
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


def report(m: dict[str, Any], glacier_rows: int = 25) -> None:
    """Print the figures, the per-glacier table and the table of every variant tried."""
    t = m["test"]
    tta = ", TTA x8" if m.get("tta") else ""
    print(
        f"checkpoint {m['checkpoint']} (epoch {m['epoch']}, {m['parameters']:,} parameters), window "
        f"{m['window']}, stride {m['stride']}{tta}; whole 800x655 scene predicted in "
        f"{m['predict_seconds']} s with {m['predict_threads']} torch thread{'s' if m['predict_threads'] != 1 else ''}"
    )
    print(f"test blocks of the stored split, {int(t['model']['pixels'])} labelled pixels")
    print(f"{'':<28} gl.IoU prec.  recall F1     bg.IoU mIoU   pixels")
    for k in parts.ROWS:
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
    print(f"  ECE of that method on each validation block, fitted on the other four: {c['chosen']['per_block']}")
    for line in card.fit_lines(m):
        print(line)
    print("Per glacier over the whole frame (RGI 6.0 outlines split the predicted mask):")
    for line in card.glacier_lines(m, glacier_rows):
        print("  " + line)
    print("Targets of issue 15:")
    for line in card.targets(m):
        print("  " + line)
    print(f"({m['seconds']} s)")
    print("Every variant tried (everest_variants.json; test blocks of the same split):")
    for line in parts.variants_lines(parts.load_variants()):
        print(line)


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
    p.add_argument(
        "--card-only", action="store_true", help="rewrite the card figures from the shipped metrics file (no compute)"
    )
    a = p.parse_args()
    if a.card_only:
        card.write_card(json.loads((card.WEIGHTS / f"{card.NAME}_metrics.json").read_text()))
        return
    os.environ.setdefault("GLACIERLAB_SEED_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    if a.checkpoint is None:
        from glacierlab.weights import shipped_checkpoint_path

        a.checkpoint = shipped_checkpoint_path(card.NAME)
    out = evaluate(a.checkpoint, a.stride, a.batch_size, a.seed, a.tta)
    if a.record:
        parts.record_variant(parts.variant_row(a.record, out["metrics"], a.description))
    report(out["metrics"], a.glacier_rows)
    if a.json:
        a.json.write_text(json.dumps(out["metrics"], indent=1) + "\n")
    if a.ship:
        card.ship(out)


if __name__ == "__main__":
    main()
