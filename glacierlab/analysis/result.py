"""The frozen, typed result of one regional analysis (:func:`glacierlab.analysis.pipeline.run_analysis`).

Renderers (:mod:`glacierlab.reports.sections`) display its parts; nothing here is filled in later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import xarray as xr

    from glacierlab.analysis.heldout_area import HeldoutAreaCheck
    from glacierlab.analysis.params import RunParams
    from glacierlab.analysis.series import Extent
    from glacierlab.analysis.timeline import ModelDate
    from glacierlab.data.schema import Region
    from glacierlab.outlines.area_error import AreaErrorModel


@dataclass(frozen=True)
class Failure:
    """A step that failed: its name and the message (the other steps still ran)."""

    step: str
    message: str


@dataclass(frozen=True)
class Inputs:
    """The region, its main stack (None for outline-only scenes), the model chosen and where files go.

    Attributes:
        region: The catalog region.
        stack: Main scene stack (``stack_region`` format) or None.
        checkpoint: The checkpoint that maps the scene, or None (``no_model`` says why).
        no_model: Why there is no model map ("" when there is one).
        folder: ``<out_dir>/analysis``, the run folder of the steps' outputs (None: the run writes no files).
        main_label: The main scene as "<date> <sensor>".
        main_date: Date of the main scene.
    """

    region: Region
    stack: xr.Dataset | None
    checkpoint: Path | None
    no_model: str
    folder: Path | None
    main_label: str
    main_date: str


@dataclass(frozen=True)
class ModelMap:
    """The model's map of the main scene.

    Attributes:
        prediction: ``probability``, ``mask`` (0/1/255), ``confidence`` on the stack's grid.
        p: (H, W) calibrated glacier probability (NaN = no data).
        scores: Whole-frame scores against the reference (None without a reference).
        resumed: True when read back from the run folder instead of predicted.
    """

    prediction: xr.Dataset
    p: np.ndarray = field(repr=False)
    scores: Mapping[str, float] | None
    resumed: bool = False


@dataclass(frozen=True)
class Areas:
    """Glacier area of the mapped frame with its interval and the held-out check of that interval.

    Attributes:
        pixel_km2: Pixel area (km²).
        mask_km2: Area of the p > 0.5 mask (km²).
        reference_km2: Area of the reference (km²), or None.
        check: Held-out coverage check (None when the checkpoint stores no spatial split).
        region_area: ``expected_km2``, ``sd_km2``, ``low_km2``, ``high_km2`` at the run's level, or None.
    """

    pixel_km2: float
    mask_km2: float
    reference_km2: float | None
    check: HeldoutAreaCheck | None
    region_area: Mapping[str, float] | None

    @property
    def error_model(self) -> AreaErrorModel | None:
        """The fitted area error model (None without a held-out split)."""
        return self.check.model if self.check is not None else None


@dataclass(frozen=True)
class Glaciers:
    """Per-glacier results against the scene's reference inventory.

    Attributes:
        inventory: Reference outlines of the scene.
        id_col: Their glacier id column.
        zones: (H, W) glacier zone labels; ``zone_ids`` their ids.
        areas: Expected area and interval per glacier (None without an error model).
        judged: Model vs reference per glacier (IoU, inside the expert band...).
        model_polygons: The model's polygons split by the inventory.
        source_dates: Glacier id -> source date at its recorded precision.
        reference_groups: Source date -> the inventory's outlines of that date inside the frame.
        date_groups: :func:`~glacierlab.analysis.timeline.reference_date_groups` (None without error model).
    """

    inventory: gpd.GeoDataFrame
    id_col: str
    zones: np.ndarray = field(repr=False)
    zone_ids: tuple[object, ...]
    areas: pd.DataFrame | None
    judged: pd.DataFrame
    model_polygons: gpd.GeoDataFrame
    source_dates: pd.Series
    reference_groups: Mapping[str, gpd.GeoDataFrame]
    date_groups: pd.DataFrame | None


@dataclass(frozen=True)
class OutlineSeries:
    """The region's dated outlines (at least two), their areas and the changes between them."""

    extents: tuple[Extent, ...]
    areas: pd.DataFrame
    changes: pd.DataFrame


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one regional analysis produced; each part is None when it does not apply or failed.

    Attributes:
        params: The run's parameters.
        inputs: Region, stack, model choice.
        model_map: The main scene's model map.
        areas: Area of the frame with its interval.
        glaciers: Per-glacier tables.
        other_dates: Every other date with imagery, mapped (with its change) or refused.
        series: The outline series.
        summary: The index's short headlines (``area``, ``change``), caveats included.
        sources: Catalog source ids read.
        failures: Steps that failed, with the message.
    """

    params: RunParams
    inputs: Inputs
    model_map: ModelMap | None = None
    areas: Areas | None = None
    glaciers: Glaciers | None = None
    other_dates: tuple[ModelDate, ...] = ()
    series: OutlineSeries | None = None
    summary: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    failures: tuple[Failure, ...] = ()
