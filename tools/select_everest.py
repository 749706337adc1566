"""Validation-only figures of Everest checkpoints, for choosing a variant and its inference settings.

Run from the repository root::

    GLACIERLAB_SEED_DIR=../shared/data .venv/bin/python tools/select_everest.py runs/a/a.safetensors ... [--tta]

For each checkpoint (and each TTA setting asked for) it predicts the whole scene with the checkpoint's
window (stride window // 2) and prints, on the **validation blocks only**, glacier IoU, mean IoU and
the leave-one-validation-block-out ECE of each calibrator. It never reads a test-block label: this is
what the shipped variant, its TTA setting and its calibrator are chosen on (issue 15: nothing is
chosen on the test blocks). ``benchmarks/everest_model.py`` then scores the choice on the test blocks.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv: list[str] | None = None) -> None:
    """Print the validation figures of each checkpoint."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoints", type=Path, nargs="+")
    p.add_argument("--tta", action="store_true", help="also score with 8-fold test-time augmentation")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--windows", type=int, nargs="*", default=None, help="inference windows (default: training)")
    a = p.parse_args(argv)
    os.environ.setdefault("GLACIERLAB_SEED_DIR", str(ROOT.parent / "shared" / "data"))
    import torch

    torch.set_num_threads(a.threads)
    import everest_parts as parts

    from glacierlab.contract.calibration import METHODS
    from glacierlab.data.stack import stack_region
    from glacierlab.inference.compat import model_inputs
    from glacierlab.inference.predict import predict_scene
    from glacierlab.metrics import heldout_counts
    from glacierlab.models import load_checkpoint

    stack = stack_region("everest", groups=("optical", "dem"))
    ref = np.asarray(stack["reference"].values)
    print(f"{'checkpoint':<44} tta  val IoU  val mIoU  LOBO-ECE " + " ".join(f"{m:>12}" for m in METHODS))
    for path in a.checkpoints:
        ck = load_checkpoint(path)
        split = ck.split
        assert split is not None, f"{path} records no spatial split"
        inputs, _ = model_inputs(stack, ck.bands)
        windows = a.windows or [ck.record.training_window or 96]
        for window, tta in [(w, t) for w in windows for t in ((False, True) if a.tta else (False,))]:
            out = predict_scene(
                ck,
                inputs,
                window=window,
                stride=window // 2,
                tta=tta,
                batch_size=8,
                device="cpu",
                calibration=None,
                nodata="all",
                progress=False,
            )
            prob = np.asarray(out["probability"].values)
            s = heldout_counts(prob, ref, split.mask("val")).scores()
            cv = parts.choose_calibrator(prob, ref, split, METHODS)
            name = f"{path.parent.name}/{path.name} w{window}"[-44:]
            print(
                f"{name:<44} {'yes' if tta else 'no ':<4} {s['iou']:.3f}    {s['mean_iou']:.3f}     "
                f"{cv['method']:<9}"
                + " ".join(f"{cv['cv_ece'][m]:12.4f}" for m in METHODS)
            )


if __name__ == "__main__":
    main()
