r"""Train one GlaViTU variant on the Everest scene with the shipped spatial split (issue 15 experiments).

Run from the repository root (CPU, one thread, low priority), for example::

    GLACIERLAB_SEED_DIR=../shared/data nice -n 10 .venv/bin/python tools/train_everest.py \\
        --name ctx256 --window 256 --context masked --epochs 70 --threads 1

The split is the one declared in the shipped checkpoint (160 px blocks, 32 px buffer, seed 0; the
same test blocks as every earlier Everest model): it is rebuilt with
:func:`glacierlab.contract.split.make_spatial_split` and checked against the shipped checkpoint's
``extra.spatial_split`` before anything is trained. Normalisation statistics come from the training
blocks only. With ``--context masked`` a training window may be larger than a block: every pixel
outside the training area is blanked in its inputs and its target, so no training window reads a
validation or test pixel (:class:`glacierlab.training.ScenePatches`). Validation (checkpoint choice)
uses the validation blocks only. The test blocks are never read here.

Writes ``runs/<name>/<name>.safetensors`` (best validation pixel IoU), ``..._minloss.safetensors``,
``..._log.csv`` and ``..._state.pt``; the checkpoint's ``extra`` holds the split, the window, the
recipe and the training wall time. Score it with ``benchmarks/everest_model.py --checkpoint ...``.
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

ROOT = Path(__file__).resolve().parents[1]
SPLIT = {"block_size": 160, "buffer": 32, "fractions": (0.6, 0.2, 0.2), "seed": 0}


def everest_split(shape: tuple[int, int]) -> Any:
    """The shipped Everest split, rebuilt and checked against the shipped checkpoint's declaration."""
    from glacierlab.contract.split import make_spatial_split
    from glacierlab.models import load_checkpoint
    from glacierlab.weights import shipped_checkpoint_path

    split = make_spatial_split(
        shape, SPLIT["block_size"], SPLIT["buffer"], SPLIT["fractions"], SPLIT["seed"]
    )
    shipped = load_checkpoint(shipped_checkpoint_path("glavitu_lite_everest")).split
    assert shipped is not None, "the shipped checkpoint records its spatial split"
    if not (
        np.array_equal(shipped.pixel_map(), split.pixel_map())
        and shipped.block_size == split.block_size
        and shipped.buffer == split.buffer
    ):
        raise SystemExit("the rebuilt split differs from the shipped checkpoint's split; refusing to train.")
    return split


def parser() -> argparse.ArgumentParser:
    """Command-line options (each one is stored in the checkpoint's ``extra.recipe``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--name", required=True, help="run name (output folder runs/<name>)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default runs/<name>)")
    p.add_argument("--variant", default="glavitu_lite")
    p.add_argument("--init", type=Path, default=None, help="start from this checkpoint (fine-tuning)")
    p.add_argument("--overrides", default="{}", help="JSON model config overrides")
    p.add_argument("--window", type=int, default=96, help="training window (px)")
    p.add_argument("--val-window", type=int, default=None, help="validation window (default --window)")
    p.add_argument("--context", default="inside", choices=("inside", "masked"))
    p.add_argument("--min-inside", type=float, default=0.25, help="masked: share of train pixels per window")
    p.add_argument("--epochs", type=int, default=70)
    p.add_argument("--samples-per-epoch", type=int, default=384)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--schedule", default="restarts", choices=("restarts", "cosine"))
    p.add_argument("--restart-epochs", type=int, default=10)
    p.add_argument("--gamma", type=float, default=2.0, help="focal gamma (0 = cross-entropy)")
    p.add_argument("--aux-weight", type=float, default=0.5)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--drop-dem-p", type=float, default=0.0, help="probability of blanking the whole DEM")
    p.add_argument("--occlusion-p", type=float, default=0.5)
    p.add_argument("--ema", type=float, default=None, help="EMA decay of the weights (e.g. 0.999)")
    p.add_argument("--monitor", default="pixel_iou", choices=("iou", "pixel_iou", "loss"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast + channels-last on CPU (about 2x faster)")
    p.add_argument("--resume", action="store_true")
    return p


def main(argv: list[str] | None = None) -> None:
    """Train one variant and print where its checkpoint is."""
    a = parser().parse_args(argv)
    os.environ.setdefault("GLACIERLAB_SEED_DIR", str(ROOT.parent / "shared" / "data"))
    import torch

    torch.set_num_threads(a.threads)
    from glacierlab.data.stack import stack_region
    from glacierlab.training import AugmentConfig, ScenePatches, TrainConfig, scene_from_stack, train

    stack = stack_region("everest", groups=("optical", "dem"))
    shape = tuple(int(s) for s in stack["reference"].shape)
    split = everest_split(shape)  # type: ignore[arg-type]
    norm = None
    if a.init is not None:  # fine-tuning feeds the inputs scaled as the starting checkpoint was trained
        from glacierlab.models import load_checkpoint

        norm = load_checkpoint(a.init).normalisation
    scene = scene_from_stack(stack, ("optical", "dem"), norm, stats_mask=split.mask("train"))
    augment = AugmentConfig(
        label_smoothing=a.label_smoothing,
        occlusion_p=a.occlusion_p,
        drop_groups=("dem",) if a.drop_dem_p > 0 else (),
        drop_group_p=a.drop_dem_p,
    )
    tr = ScenePatches(
        scene,
        split,
        "train",
        a.window,
        mode="random",
        n_samples=a.samples_per_epoch,
        seed=a.seed,
        augment=augment,
        context=a.context,
        min_inside=a.min_inside,
    )
    va = ScenePatches(scene, split, "val", a.val_window or a.window, mode="grid", context="full")
    out = a.out or ROOT / "runs" / a.name
    config = TrainConfig(
        variant=a.variant,
        model_overrides=json.loads(a.overrides),
        init_checkpoint=None if a.init is None else str(a.init),
        epochs=a.epochs,
        batch_size=a.batch_size,
        lr=a.lr,
        schedule=a.schedule,
        restart_epochs=a.restart_epochs,
        focal_gamma=a.gamma,
        aux_weight=a.aux_weight,
        monitor=a.monitor,
        seed=a.seed,
        device="cpu",
        num_threads=a.threads,
        out_dir=str(out),
        name=a.name,
        progress=False,
        ema_decay=a.ema,
        cpu_bf16=a.bf16,
    )
    extra = {
        "strategy": "global",
        "region_id": "everest",
        "region_code": None,
        "window": a.window,
        "spatial_split": split.to_dict(),
        "split_fractions": list(SPLIT["fractions"]),
        "split_seed": SPLIT["seed"],
        "recipe": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
        "train_windows": int(len(tr.positions)),
        "command": "tools/train_everest.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    t0 = time.perf_counter()
    result = train(config, tr, va, extra=extra, resume=a.resume)
    seconds = time.perf_counter() - t0
    prior = sum(float(h.get("seconds", 0.0)) for h in result.history)
    _stamp_time(result.best_path, seconds if not a.resume else prior)
    _stamp_time(result.minloss_path, seconds if not a.resume else prior)
    print(
        f"{a.name}: best epoch {result.best_epoch}, val pixel IoU "
        f"{max(h['val_pixel_iou'] for h in result.history):.3f}, {seconds / 60:.1f} min -> {result.best_path}"
    )


def _stamp_time(path: Path, seconds: float) -> None:
    """Add the run's training wall time to a checkpoint's ``extra`` (rewrites the file)."""
    from glacierlab.models import load_checkpoint, save_checkpoint

    ck = load_checkpoint(path)
    extra = ck.record.to_extra()
    extra["train_seconds"] = round(seconds, 1)
    save_checkpoint(
        path,
        ck.model,
        bands=ck.bands,
        normalisation=ck.normalisation,
        class_names=ck.class_names,
        extra=extra,
        overwrite=True,
    )


if __name__ == "__main__":
    main()
