r"""``train_your_region`` with its defaults: wall time, CPU time, and the model re-scored on its test blocks.

Run from the repository root (shared data as seed folder)::

    GLACIERLAB_SEED_DIR=../shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_default.py \
        [--region khumbu] [--param epochs=20 --param init_checkpoint=""]

It executes ``notebooks/train_your_region.ipynb`` under papermill (a new kernel, imports included) in a
fresh workspace with the notebook's defaults (``--param`` overrides one), and measures the wall time and
the CPU time of the kernel (user + system of the finished child processes). On a shared machine the
wall time depends on the load; CPU time / 2 estimates the wall time on 2 quiet cores (the kernel runs
one torch thread, so CPU time / 1 is the upper bound).

Then it re-scores the checkpoint the notebook wrote **independently of the notebook's own table**:
the split is rebuilt from the notebook's declared parameters (:func:`glacierlab.contract.split.make_spatial_split`,
checked against the split stored in the checkpoint), the model and the shipped Everest model predict the
whole stack with :func:`glacierlab.inference.predict.predict_scene`, a random forest is fitted on the
training blocks (:func:`glacierlab.training.baselines.fit_random_forest`), and glacier IoU is counted with
:func:`glacierlab.metrics.confusion_counts` on the labelled test-block pixels. The shipped model's own
training blocks are compared with these test blocks (overlap printed). Finally it prints the comparison
the notebook stored in the checkpoint, for the same rows.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "train_your_region.ipynb"


def notebook_defaults() -> dict[str, Any]:
    """The parameters cell of the notebook, as values."""
    nb = json.loads(NOTEBOOK.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)}  # type: ignore[attr-defined]


def run_notebook(params: dict[str, Any], workspace: Path) -> tuple[float, float, str]:
    """Execute the notebook; returns (wall s, kernel CPU s, stdout)."""
    import papermill as pm

    workspace.mkdir(parents=True, exist_ok=True)
    os.environ["GLACIERLAB_WORKSPACE"] = str(workspace)
    os.environ.setdefault("GLACIERLAB_MAP_MODE", "overlay")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = workspace / "train_your_region.out.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK), str(out), parameters=params, kernel_name="python3", cwd=str(NOTEBOOK.parent),
        progress_bar=False, execution_timeout=3600,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cells = json.loads(out.read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    return wall, cpu, text


def _iou(mask: np.ndarray, ref: np.ndarray, area: np.ndarray) -> tuple[float, int]:
    from glacierlab.metrics import confusion_counts

    valid = area & ((ref == 0) | (ref == 1)) & (mask != 255)
    c = confusion_counts(mask[valid] == 1, ref[valid] == 1)
    return c.iou, int(valid.sum())


def rescore(checkpoint: Path, params: dict[str, Any]) -> list[tuple[str, float, str]]:
    """Independent held-out scores: (method, glacier IoU, note) on the declared test blocks."""
    from glacierlab.contract.split import SpatialSplit, make_spatial_split
    from glacierlab.data.contents import region_contents
    from glacierlab.data.stack import stack_region
    from glacierlab.inference.compat import fit_problem, model_inputs
    from glacierlab.inference.predict import predict_scene
    from glacierlab.models import load_checkpoint
    from glacierlab.training import scene_from_stack
    from glacierlab.training.baselines import fit_random_forest, predict_random_forest
    from glacierlab.training.split_fit import fit_split
    from glacierlab.weights import shipped_checkpoint_path

    region = params["region"]
    stack = stack_region(region, region_contents(region).imagery_scene(params["date"]), bbox=params["bbox"])
    ref = np.asarray(stack["reference"].values)
    fit = fit_split(ref, window=params["window"], block_size=params["block_size"], buffer=params["buffer"])
    split = make_spatial_split(ref.shape, fit.block_size, fit.buffer, (0.6, 0.2, 0.2), 0)
    ck = load_checkpoint(checkpoint)
    stored = SpatialSplit.from_dict(ck.metadata["extra"]["spatial_split"])
    if not np.array_equal(stored.pixel_map(), split.pixel_map()):
        raise SystemExit("the checkpoint's split is not the one the notebook's parameters declare")
    test = split.mask("test")

    def mask_of(c: Any) -> np.ndarray:
        inputs, filled = model_inputs(stack, c.bands, fill_missing=True)
        out = predict_scene(c, inputs, device="cpu", progress=False, check=c is not ck,
                            **({"nodata": "all"} if any(filled.values()) else {}))
        return np.asarray(out["mask"].values)

    own = mask_of(ck)
    rows = [("your model", _iou(own, ref, test)[0], "")]
    rows.append(("everything is glacier", _iou(np.where(own == 255, 255, 1), ref, test)[0], ""))
    scene = scene_from_stack(stack, tuple(ck.bands), ck.normalisation, stats_mask=split.mask("train"))
    forest = fit_random_forest(scene.inputs, scene.bands, scene.reference, split.mask("train"), seed=0)
    rows.append(("random forest", _iou(predict_random_forest(forest, scene.inputs, scene.bands), ref, test)[0], ""))
    ship = load_checkpoint(shipped_checkpoint_path())
    if not fit_problem(ship, stack):
        sx = ship.metadata["extra"]
        same = sx.get("region_id") == region and tuple(sx["spatial_split"]["shape"]) == ref.shape
        if same:
            seen = SpatialSplit.from_dict(sx["spatial_split"]).mask("train") & test
            note = f"its training blocks cover {seen.sum() / test.sum():.1%} of these test blocks"
        else:
            note = "other frame/region: overlap with its training data not known"
        rows.append(("shipped Everest model", _iou(mask_of(ship), ref, test)[0], note))
    return rows


def main() -> None:
    """Run the notebook, re-score, print the figures."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--region", default=None, help="region (default: the notebook's)")
    p.add_argument("--param", action="append", default=[], help="NAME=VALUE (a Python literal) for the notebook")
    p.add_argument("--workspace", type=Path, default=None, help="workspace (default: a new temporary folder)")
    a = p.parse_args()
    os.environ.setdefault("GLACIERLAB_SEED_DIR", str(REPO.parent / "shared" / "data"))
    params = notebook_defaults()
    overrides: dict[str, Any] = {} if a.region is None else {"region": a.region}
    for item in a.param:
        k, v = item.split("=", 1)
        overrides[k] = ast.literal_eval(v)
    params |= overrides
    ws = a.workspace or Path(tempfile.mkdtemp(prefix="train_default_"))
    load = os.getloadavg()
    wall, cpu, text = run_notebook(overrides, ws)
    load_after = os.getloadavg()
    ckpt = ws / "runs" / "train_your_region" / f"{params['name']}.safetensors"
    print(text.strip())
    print(
        f"\nnotebook {NOTEBOOK.name} with {overrides or 'its defaults'}: wall {wall:.0f} s, kernel CPU {cpu:.0f} s "
        f"(2 quiet cores: ~{cpu / 2:.0f}-{cpu:.0f} s); 1-min load average {load[0]:.1f} before, "
        f"{load_after[0]:.1f} after (shared machine)"
    )
    t0 = time.perf_counter()
    rows = rescore(ckpt, params)
    from glacierlab.contract.comparison import stored_comparison
    from glacierlab.models.header import header_of

    stored = stored_comparison(header_of(ckpt))
    print(f"\nre-scored independently on the declared test blocks ({time.perf_counter() - t0:.0f} s):")
    print(f"{'method':<24} {'IoU':>6} {'notebook':>9}  note")
    for name, iou, note in rows:
        nb = stored.row_for(name) if stored else None
        print(f"{name:<24} {iou:6.3f} {nb.iou if nb else float('nan'):9.3f}  {note}")
    base = dict((n, i) for n, i, _ in rows)
    gain = base["your model"] - base["everything is glacier"]
    shipped = base.get("shipped Everest model")
    gap = "" if shipped is None else f"; shipped model minus yours {shipped - base['your model']:+.3f} (target <= 0.02)"
    print(f"your model minus 'everything is glacier': {gain:+.3f} (target >= 0.025){gap}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
