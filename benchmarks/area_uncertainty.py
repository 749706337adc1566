"""Coverage of the glacier-area intervals on the held-out test blocks of the shipped model's spatial split.

Run (from the repository root, with the shared data as seed folder)::

    GLACIERLAB_SEED_DIR=../shared/data .venv/bin/python benchmarks/area_uncertainty.py [--sentinel2]

Method (docs/area_uncertainty.md): calibrated glacier probabilities (the checkpoint's default calibrator,
fitted on the validation blocks) give an expected area per unit; residuals are modelled as correlated
with ``exp(-d / L)``, ``L`` fitted on the **validation** blocks; on the **test** blocks every unit's
interval is compared with the RGI 6.0 area of that unit. Units: square tiles, whole test blocks and the
part of every glacier inside the test blocks. The same figures are printed for independent pixels
(``L = 0``) to show what ignoring the spatial correlation would claim.

``--sentinel2`` also applies the Landsat-fitted intervals to the 2020-04-07 Sentinel-2 RGB clip (NIR fed
as no data) over the glacier zones of the whole clip: an out-of-domain check (other sensor, snow, and an
RGI reference 10-20 years older than the image), not a held-out score.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

COMMAND = "GLACIERLAB_SEED_DIR=../shared/data python benchmarks/area_uncertainty.py"


def _print_coverage(check) -> None:  # noqa: ANN001
    m = check.model
    print(
        f"checkpoint {check.checkpoint} (sha256 {check.sha256[:12]}), region {check.region}; "
        f"calibration {m.calibration}; L = {m.length_px:.1f} px fitted on {m.fitted_on} "
        f"({m.pixels_fit} px{', AT THE SEARCH BOUND' if m.at_bound else ''})"
    )
    c = check.coverage
    print(
        f"{'unit kind':<34} {'error model':<19} {'units':>5}  {'68 %':>5} {'90 %':>5} {'95 %':>5}  "
        f"{'med|z|':>6} {'width90':>8} {'bias':>6}"
    )
    for (kind, model), g in c.groupby(["kind", "model"], sort=False):
        g = g.set_index("level")
        r90 = g.loc[0.9]
        print(
            f"{kind:<34} {model:<19} {int(r90['units']):>5}  "
            + " ".join(f"{g.loc[lv, 'coverage'] * 100:>4.0f}%" for lv in (0.68, 0.9, 0.95))
            + f"  {r90['median_abs_z']:>6.2f} {r90['width_rel'] * 100:>7.0f}% {r90['bias_rel'] * 100:>+5.0f}%"
        )
    print("(coverage = share of units whose interval holds the RGI area; nominal = the column's level;")
    print(" med|z| = median |RGI - expected| / sd, 0.67 if the spread is right; width90 = summed 90 % interval")
    print(" width / summed RGI area; bias = sum(expected - RGI) / sum(RGI))")


def _sentinel2(check) -> None:  # noqa: ANN001
    from glacierlab.analysis.heldout_area import checkpoint_calibrator
    from glacierlab.analysis.regional import glacier_id_column
    from glacierlab.data.contents import scene_outlines
    from glacierlab.data.stack import stack_region
    from glacierlab.inference.compat import model_inputs
    from glacierlab.inference.predict import predict_scene
    from glacierlab.models import load_checkpoint
    from glacierlab.outlines.area_error import area_table, glacier_probability, glacier_zones, pixel_area_km2
    from glacierlab.weights import shipped_checkpoint_path

    path = shipped_checkpoint_path()
    ck = load_checkpoint(path)
    base = stack_region(check.region, groups=tuple(ck.bands))
    s2 = stack_region(check.region, date="2020-04-07", groups=tuple(ck.bands), like=base["reference"])
    inputs, filled = model_inputs(s2, ck.bands, fill_missing=True)
    pred = predict_scene(ck, inputs, batch_size=16, calibration=None, progress=False)  # the stored options
    cal = checkpoint_calibrator(ck)
    p = glacier_probability(np.asarray(pred["probability"].values), cal)
    ref = np.asarray(s2["reference"].values)
    inv = scene_outlines(check.region)
    zones, ids = glacier_zones(inv, base["reference"], glacier_id_column(inv))
    zones = np.where(ref != 255, zones, 0)
    t = area_table(p, zones, ids, check.model, pixel_area_km2(base["reference"]), level=0.9)
    truth = np.array([((ref == 1) & (zones == k)).sum() for k in range(1, len(ids) + 1)]) * pixel_area_km2(
        base["reference"]
    )
    keep = truth >= 50 * pixel_area_km2(base["reference"])
    inside = (t["low_km2"].to_numpy() <= truth) & (truth <= t["high_km2"].to_numpy())
    bias = (t["expected_km2"].to_numpy()[keep].sum() - truth[keep].sum()) / truth[keep].sum()
    print(
        f"Sentinel-2 2020-04-07 (fed as no data: {filled}), {int(keep.sum())} glacier zones in the clip: "
        f"90 % interval holds the RGI area for {inside[keep].mean() * 100:.0f} % (nominal 90 %), "
        f"bias {bias * 100:+.0f} %"
    )


def main() -> None:
    """Parse arguments, run the check (no cache), print."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped weights")
    p.add_argument("--sentinel2", action="store_true", help="also the out-of-domain 2020 Sentinel-2 check")
    a = p.parse_args()
    os.environ.setdefault("GLACIERLAB_SEED_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    from glacierlab.analysis.heldout_area import heldout_area_check

    if a.checkpoint is None:
        from glacierlab.weights import shipped_checkpoint_path

        a.checkpoint = shipped_checkpoint_path()
    t0 = time.perf_counter()
    check = heldout_area_check(a.checkpoint, cache=False)
    if check is None:
        raise SystemExit(f"{a.checkpoint} stores no spatial split: nothing held out to check the intervals on.")
    _print_coverage(check)
    if a.sentinel2:
        _sentinel2(check)
    print(f"({time.perf_counter() - t0:.1f} s; {COMMAND})")


if __name__ == "__main__":
    main()
