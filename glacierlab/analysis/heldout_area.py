"""Does the area interval hold? Fit the area error model on validation blocks, check it on test blocks.

Uses the spatial split stored in a checkpoint (its training record's ``spatial_split`` and ``region_id``):
the correlation length of :mod:`glacierlab.outlines.area_error` is fitted on the validation blocks, then on
the test blocks each unit's interval (a tile, a whole block, the part of a glacier inside the test blocks)
is compared with the reference (RGI) area. The result is cached per checkpoint sha256 in the download
cache, so reports of any region can quote it without predicting the training scene again.

``benchmarks/area_uncertainty.py`` prints it; the regional report quotes it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.outlines.area_error import LEVELS, AreaErrorModel, area_table, glacier_probability, z_of

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from glacierlab.contract.calibration import Calibrator
    from glacierlab.contract.record import CheckpointContract
    from glacierlab.contract.split import SpatialSplit

log = logging.getLogger(__name__)
CACHE_VERSION = 1
#: Square test tiles (pixels) used as units, besides whole test blocks and glacier parts.
TEST_TILES = (32, 64)
#: Glacier parts with fewer labelled pixels than this inside the test blocks are not units.
MIN_GLACIER_PIXELS = 50


@dataclass
class HeldoutAreaCheck:
    """Coverage of the area intervals on the test blocks of a checkpoint's spatial split.

    Attributes:
        checkpoint: File name of the checkpoint.
        sha256: Its sha256.
        region: Region of the split.
        model: The error model fitted on the validation blocks.
        coverage: One row per unit kind, error model (``fitted L`` or ``independent pixels``) and level:
            ``units``, ``level``, ``coverage`` (fraction of units whose interval holds the reference area),
            ``median_abs_z`` (0.674 when the errors are exactly normal with the modelled spread),
            ``mean_width_km2`` (mean interval width), ``width_rel`` (summed width over summed reference
            area), ``bias_rel`` (sum of expected minus reference area over the sum of reference area).
        units: One row per unit and error model: ``kind``, ``unit``, ``unit_km2`` (labelled area),
            ``reference_km2``, ``expected_km2``, ``sd_km2``, ``model``.
        seconds: Time the check took.
    """

    checkpoint: str
    sha256: str
    region: str
    model: AreaErrorModel
    coverage: pd.DataFrame = field(repr=False)
    units: pd.DataFrame = field(repr=False)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tables as records)."""
        return {
            "version": CACHE_VERSION,
            "checkpoint": self.checkpoint,
            "sha256": self.sha256,
            "region": self.region,
            "model": self.model.to_dict(),
            "coverage": self.coverage.to_dict(orient="records"),
            "units": self.units.to_dict(orient="records"),
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeldoutAreaCheck:
        """Inverse of :meth:`to_dict`."""
        import pandas as pd

        return cls(
            d["checkpoint"],
            d["sha256"],
            d["region"],
            AreaErrorModel.from_dict(d["model"]),
            pd.DataFrame.from_records(d["coverage"]),
            pd.DataFrame.from_records(d["units"]),
            float(d.get("seconds", 0.0)),
        )

    def at(self, level: float = 0.9, model: str = "fitted L") -> pd.DataFrame:
        """Coverage rows of one level and error model, indexed by unit kind."""
        c = self.coverage
        return c[(np.isclose(c["level"], level)) & (c["model"] == model)].set_index("kind")

    def sentence(self, level: float = 0.9) -> str:
        """One sentence quoting the measured coverage at ``level`` for every unit kind."""
        rows = self.at(level)
        parts = [f"{r['coverage'] * 100:.0f} % of {int(r['units'])} {kind}" for kind, r in rows.iterrows()]
        return (
            f"On the held-out test blocks of {self.region} ({self.checkpoint}), the {level * 100:.0f} % interval "
            f"held the reference area for {'; '.join(parts)} (nominal {level * 100:.0f} %)."
        )


def checkpoint_calibrator(ck: CheckpointContract) -> Calibrator | None:
    """The calibrator a checkpoint's stored options select (``"auto"``: its default), or None without one."""
    from glacierlab.contract.calibration import Calibrator
    from glacierlab.contract.options import options_for

    arrays = ck.calibration
    method = options_for(ck).calibration
    if not arrays or method in (None, "none"):
        return None
    return Calibrator.from_arrays(arrays, method=None if method == "auto" else method)


def _units(
    split: SpatialSplit, ref: np.ndarray, zones: np.ndarray, zone_ids: list[Any], pixel_km2: float
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Unit label raster over the test blocks and (kind, unit id) per label."""
    test = split.mask("test") & ((ref == 0) | (ref == 1))
    pieces: list[tuple[str, str, np.ndarray]] = []
    h, w = ref.shape
    for size in TEST_TILES:
        kind = f"{size} px tiles ({size * size * pixel_km2:.2f} km²)"
        for i in range(0, h - size + 1, size):
            for j in range(0, w - size + 1, size):
                u = np.zeros_like(test)
                u[i : i + size, j : j + size] = test[i : i + size, j : j + size]
                if u.sum() >= 0.5 * size * size:
                    pieces.append((kind, f"{i},{j}", u))
    bs = split.block_size
    for bi, bj in zip(*np.nonzero(split.blocks == 2), strict=True):
        u = np.zeros_like(test)
        u[bi * bs : (bi + 1) * bs, bj * bs : (bj + 1) * bs] = True
        u &= test
        if u.any():
            pieces.append(("test blocks", f"{bi},{bj}", u))
    for k, gid in enumerate(zone_ids, start=1):
        u = test & (zones == k)
        if ((ref == 1) & u).sum() >= MIN_GLACIER_PIXELS:
            pieces.append(("glacier parts in test blocks", str(gid), u))
    return np.stack([p[2] for p in pieces]) if pieces else np.zeros((0, h, w), bool), [(p[0], p[1]) for p in pieces]


def evaluate_split(
    p: np.ndarray,
    ref: np.ndarray,
    split: SpatialSplit,
    zones: np.ndarray,
    zone_ids: list[Any],
    pixel_km2: float,
    *,
    calibration: str,
    region: str,
    levels: tuple[float, ...] = LEVELS,
) -> tuple[AreaErrorModel, pd.DataFrame, pd.DataFrame]:
    """Fit on the validation blocks, score the intervals on the test blocks (see :class:`HeldoutAreaCheck`).

    Args:
        p: (H, W) calibrated glacier probability on the split's grid (NaN = no data).
        ref: (H, W) reference (1 glacier, 0 ice-free, 255 no data).
        split: The :class:`~glacierlab.training.scene_dataset.SpatialSplit`.
        zones: (H, W) glacier zone labels (:func:`~glacierlab.outlines.area_error.glacier_zones`).
        zone_ids: Glacier ids of the zone labels.
        pixel_km2: Pixel area (km²).
        calibration: Name of the calibrator behind ``p``.
        region: Region id (for the record).
        levels: Interval levels.

    Returns:
        ``(model, coverage, units)``.
    """
    import pandas as pd

    from glacierlab.outlines.area_error import fit_length

    length, at_bound, n_fit = fit_length(p, ref, split.mask("val"))
    model = AreaErrorModel(length, calibration, f"validation blocks of {region}", n_fit, at_bound)
    masks, keys = _units(split, ref, zones, zone_ids, pixel_km2)
    rows, cov = [], []
    models = {"fitted L": model, "independent pixels": AreaErrorModel(0.0, calibration)}
    for name, m in models.items():
        exp, sd = np.zeros(len(keys)), np.zeros(len(keys))
        for i, u in enumerate(masks):  # units overlap (tiles vs glaciers): one table per unit
            t = area_table(p, u.astype(np.int32), [0], m, pixel_km2)
            exp[i], sd[i] = t["expected_km2"].iloc[0], t["sd_km2"].iloc[0]
        truth = np.array([((ref == 1) & u).sum() * pixel_km2 for u in masks])
        frame = pd.DataFrame(
            {
                "kind": [k for k, _ in keys],
                "unit": [u for _, u in keys],
                "unit_km2": [u.sum() * pixel_km2 for u in masks],
                "reference_km2": truth,
                "expected_km2": exp,
                "sd_km2": sd,
                "model": name,
            }
        )
        rows.append(frame)
        for kind, g in frame.groupby("kind", sort=False):
            z = np.abs(g["reference_km2"] - g["expected_km2"]) / np.maximum(g["sd_km2"], 1e-12)
            for level in levels:
                zq = z_of(level)
                cov.append(
                    {
                        "kind": kind,
                        "model": name,
                        "level": level,
                        "units": len(g),
                        "coverage": float((z <= zq).mean()),
                        "median_abs_z": float(np.median(z)),
                        "mean_width_km2": float(np.mean(2 * zq * g["sd_km2"])),
                        "width_rel": float((2 * zq * g["sd_km2"]).sum() / g["reference_km2"].sum()),
                        "bias_rel": float(
                            (g["expected_km2"].sum() - g["reference_km2"].sum()) / g["reference_km2"].sum()
                        ),
                    }
                )
    units = pd.concat(rows, ignore_index=True)
    return model, pd.DataFrame(cov), units


def _cache_path(sha: str) -> Path:
    from glacierlab.settings import cache_dir

    return cache_dir() / "area_error" / f"{sha[:32]}-v{CACHE_VERSION}.json"


def heldout_area_check(
    checkpoint: str | Path,
    *,
    stack: xr.Dataset | None = None,
    probability: np.ndarray | None = None,
    cache: bool = True,
    batch_size: int = 16,
) -> HeldoutAreaCheck | None:
    """The area error model of a checkpoint and its measured coverage on the held-out test blocks.

    Args:
        checkpoint: Checkpoint path (its training record holds ``spatial_split`` and ``region_id``).
        stack: The training region's full stack when already loaded (else loaded here).
        probability: Raw glacier probability of that whole stack when already predicted with the
            checkpoint's stored options (as ``map_stack`` does without overrides); else the whole training
            scene is predicted here the same way.
        cache: Read / write the result in ``<cache>/area_error/`` (keyed by the checkpoint's sha256).
        batch_size: Windows per forward pass when predicting.

    Returns:
        The check, or None when the checkpoint stores no spatial split (nothing held out to check on).
    """
    import time

    from glacierlab.analysis.regional import glacier_id_column
    from glacierlab.data.contents import scene_outlines
    from glacierlab.data.stack import stack_region
    from glacierlab.files import atomic_path, file_sha256
    from glacierlab.models import load_checkpoint
    from glacierlab.outlines.area_error import glacier_zones, pixel_area_km2

    path = Path(checkpoint)
    sha = file_sha256(path)
    cached = _cache_path(sha)
    if cache and cached.is_file():
        try:
            return HeldoutAreaCheck.from_dict(json.loads(cached.read_text()))
        except (KeyError, ValueError, TypeError) as err:
            log.warning("ignoring unreadable area check cache %s: %s", cached, err)
    t0 = time.perf_counter()
    ck = load_checkpoint(path)
    split = ck.split
    if split is None:
        return None
    region = ck.record.region_id or "everest"
    same = (
        stack is not None
        and stack.attrs.get("region") == region
        and "reference" in stack
        and tuple(stack["reference"].shape) == tuple(split.shape)
    )
    if stack is None or not same:
        stack, probability = stack_region(region, groups=tuple(ck.bands)), None
    ref = np.asarray(stack["reference"].values)
    if probability is None or np.shape(probability) != tuple(split.shape):
        from glacierlab.inference.compat import model_inputs
        from glacierlab.inference.predict import predict_scene

        inputs, _ = model_inputs(stack, ck.bands)
        # the whole scene with the checkpoint's stored options, as the report maps it; raw probability
        pred = predict_scene(ck, inputs, batch_size=batch_size, calibration=None, progress=False)
        probability = np.asarray(pred["probability"].values)
    calibrator = checkpoint_calibrator(ck)
    p = glacier_probability(np.asarray(probability), calibrator)
    inventory = scene_outlines(region)
    if inventory is None:
        return None
    zones, ids = glacier_zones(inventory, stack["reference"], glacier_id_column(inventory))
    model, coverage, units = evaluate_split(
        p,
        ref,
        split,
        zones,
        ids,
        pixel_area_km2(stack["reference"]),
        calibration=calibrator.method if calibrator else "none",
        region=region,
    )
    check = HeldoutAreaCheck(path.name, sha, region, model, coverage, units, round(time.perf_counter() - t0, 1))
    if cache:
        with atomic_path(cached, overwrite=True) as tmp:
            tmp.write_text(json.dumps(check.to_dict(), indent=1, default=str))
    return check
