"""The state of one regional report as its sections fill it in (see :mod:`glacierlab.reports.sections`).

The report notebook creates a :class:`Report` from its parameters and hands it to the section functions
one cell at a time; each section computes with library functions, stores what later sections need
(prediction, calibrated probabilities, glacier zones, tables) and returns what to display.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import xarray as xr

    from glacierlab.data.schema import Region
    from glacierlab.outlines.area_error import AreaErrorModel
    from glacierlab.reports.heldout_area import HeldoutAreaCheck
    from glacierlab.reports.series import Extent
    from glacierlab.reports.timeline import ModelDate


class Md(str):
    """Markdown text that notebooks display as Markdown."""

    def _repr_markdown_(self) -> str:
        return str(self)


class Png:
    """A rendered figure that notebooks display as a PNG (whatever the matplotlib backend)."""

    def __init__(self, fig: Any, dpi: int = 100) -> None:
        import io

        from matplotlib.text import Text

        for text in fig.findobj(Text):  # titles and labels hold data (a region name with '$'): never mathtext
            text.set_parse_math(False)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        self.data = buf.getvalue()
        try:
            import matplotlib.pyplot as plt

            plt.close(fig)  # a pyplot figure would otherwise be shown a second time at the end of the cell
        except ImportError:  # pragma: no cover - matplotlib is a dependency
            pass

    def _repr_png_(self) -> bytes:
        return self.data


@dataclass
class Report:
    """Parameters and intermediate results of one regional report.

    Attributes:
        region: Catalog region id.
        date: Scene key of the main scene (None: the region's default).
        bbox: Optional window (EPSG:4326).
        checkpoint: Checkpoint path given by the user ("" = the shipped model when it fits).
        out_dir: The region's output folder ("" = write no files).
        level: The one interval level of the report (areas and changes), 0.95 by default.
        parameters: The notebook parameters, for the provenance record.
        started: When the report started (UTC).
    """

    region: str
    date: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    checkpoint: str = ""
    out_dir: str = ""
    level: float = 0.95
    parameters: dict[str, Any] = field(default_factory=dict)
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    reg: Region | None = None
    stack: xr.Dataset | None = None
    ck_path: Path | None = None
    no_model: str = ""
    export: Path | None = None
    predict: dict[str, Any] = field(default_factory=dict)
    prediction: xr.Dataset | None = None
    p: np.ndarray | None = None
    check: HeldoutAreaCheck | None = None
    error_model: AreaErrorModel | None = None
    inventory: gpd.GeoDataFrame | None = None
    id_col: str = ""
    zones: np.ndarray | None = None
    zone_ids: list[Any] = field(default_factory=list)
    pixel_km2: float = 0.0
    judged: pd.DataFrame | None = None
    model_polygons: gpd.GeoDataFrame | None = None
    areas: pd.DataFrame | None = None
    region_area: dict[str, float] | None = None
    date_groups: pd.DataFrame | None = None
    other: list[ModelDate] = field(default_factory=list)
    changes: dict[str, pd.DataFrame] = field(default_factory=dict)
    series: list[Extent] = field(default_factory=list)
    series_areas: pd.DataFrame | None = None
    series_changes: pd.DataFrame | None = None
    sources: set[str] = field(default_factory=set)
    summary: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        region: str,
        *,
        date: str | None = None,
        bbox: Any = None,
        checkpoint: str = "",
        out_dir: str = "",
        level: float = 0.95,
        parameters: dict[str, Any] | None = None,
    ) -> Report:
        """Load the region's main stack (when its scene has rasters) and choose the model."""
        from glacierlab.data.catalog import load_catalog
        from glacierlab.data.stack import stack_region
        from glacierlab.geo import BBox
        from glacierlab.inference.compat import checkpoint_for
        from glacierlab.reports.export import export_folder

        rep = cls(region, date, tuple(bbox) if bbox else None, checkpoint, out_dir, level, dict(parameters or {}))
        rep.reg = load_catalog().region(region)
        scene = rep.reg.scene(date)
        if scene.optical or scene.dem:
            rep.stack = stack_region(region, date=date, bbox=BBox.parse(rep.bbox) if rep.bbox else None)
            rep.sources |= set(str(rep.stack.attrs.get("sources", "")).split(","))
        rep.ck_path, rep.no_model = checkpoint_for(rep.stack, checkpoint)
        rep.export = export_folder(out_dir)
        return rep

    @property
    def main_label(self) -> str:
        """The main scene as "<date> <sensor>"."""
        if self.stack is None:
            return str(self.date or "")
        return f"{self.stack.attrs.get('date', '')} {self.stack.attrs.get('sensor', '')}".strip()

    @property
    def main_date(self) -> str:
        """Date of the main scene."""
        return str(self.stack.attrs.get("date", "")) if self.stack is not None else str(self.date or "")
