"""Region picker: a catalog region and date, a glacier by RGI/GLIMS id, or a box drawn on the map.

The result, :attr:`RegionPicker.selection`, is a :class:`RegionSelection`: the arguments
:func:`glacierlab.data.stack.stack_region` takes (region id, date, lon/lat bbox), with a ``stack()`` call.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from glacierlab.data.catalog import Catalog, load_catalog
from glacierlab.errors import InputError
from glacierlab.geo import BBox
from glacierlab_widgets._base import WidgetBase

if TYPE_CHECKING:
    import xarray as xr


@dataclasses.dataclass(frozen=True)
class RegionSelection:
    """What the picker emits: a catalog region, a scene date and an optional lon/lat window.

    Attributes:
        region_id: Catalog region id, or None for a box outside every catalog region (then the data come
            from STAC archives, see :func:`glacierlab.data.stac.stack_bbox`).
        date: Scene date (None = the region's default); for a STAC box a window ``"YYYY-MM-DD/YYYY-MM-DD"``.
        bbox: ``(lon_min, lat_min, lon_max, lat_max)`` in EPSG:4326, or None for the whole region.
        glacier_id: The RGI/GLIMS id the window was chosen for, if any.
    """

    region_id: str | None
    date: str | None = None
    bbox: BBox | None = None
    glacier_id: str | None = None

    def stack(
        self, groups: tuple[str, ...] = ("optical", "dem"), catalog: Catalog | None = None, **stac: Any
    ) -> xr.Dataset:
        """The inputs on one grid, from the catalog or, outside it, from STAC archives.

        A catalog region uses :func:`glacierlab.data.stack.stack_region`; a box outside every region uses
        :func:`glacierlab.data.stac.stack_bbox` (Sentinel-2 + Copernicus DEM found through STAC; ``stac``
        keyword arguments such as ``endpoint`` or ``max_cloud`` are passed on).
        """
        if self.region_id is None:
            from glacierlab.data.stac import stack_bbox

            return stack_bbox(self.bbox, self.date or STAC_DEFAULT_DATES, catalog=catalog, **stac)
        from glacierlab.data.stack import stack_region

        return stack_region(self.region_id, self.date, groups, self.bbox, catalog=catalog)


#: Date window searched for a drawn box outside the catalog (end-of-season scenes are preferred).
STAC_DEFAULT_DATES = "2023-01-01/2024-12-31"


class RegionPicker(WidgetBase):
    """Choose what to work on: a catalog region + date, a glacier id, or a box drawn on the map.

    Args:
        region: Initial region id.
        date: Initial date (None = the region's default).
        bbox: Initial lon/lat window (None = whole region).
        catalog: Catalog (default :func:`glacierlab.data.catalog.load_catalog`).
        m: A map from :func:`glacierlab_widgets.maps.new_map` to draw on; None creates one on first use of
            :attr:`map` (with the draw control for boxes).

    Attributes:
        selection: The latest :class:`RegionSelection`.
    """

    def __init__(
        self,
        region: str = "everest",
        date: str | None = None,
        bbox: BBox | None = None,
        *,
        catalog: Catalog | None = None,
        m: Any = None,
    ) -> None:
        import ipywidgets as w

        super().__init__()
        self.catalog = catalog or load_catalog()
        reg = self.catalog.region(region)  # raises UnknownNameError listing the valid ids
        self._map = m
        self._outline = None
        self.region = w.Dropdown(
            description="Region",
            options=[(f"{r.name} ({k})", k) for k, r in self.catalog.regions.items()],
            value=region,
        )
        self.date = w.Dropdown(description="Date", options=reg.dates, value=reg.scene(date).date)
        self.glacier = w.Text(description="Glacier id", placeholder="RGI60-15.03733 or G086932E27925N")
        self.find_button = w.Button(description="Find glacier", icon="search")
        self.box_button = w.Button(
            description="Use drawn box",
            icon="square-o",
            tooltip="Draw a rectangle with the map's draw tool, then click here",
        )
        self.whole_button = w.Button(description="Whole region", icon="expand")
        self.selection = RegionSelection(region, self.date.value, tuple(bbox) if bbox else None)
        self.find_button.on_click(self._guarded(self.find))
        self.box_button.on_click(self._guarded(self.use_drawn_box))
        self.whole_button.on_click(self._guarded(lambda: self._set(bbox=None, glacier_id=None)))
        self.region.observe(self._guarded(self._region_changed), names="value")
        self.date.observe(self._guarded(lambda: self._set(date=self.date.value)), names="value")
        self.box.children = [
            w.HBox([self.region, self.date]),
            w.HBox([self.glacier, self.find_button]),
            w.HBox([self.box_button, self.whole_button]),
            self.status,
        ]
        self._describe()

    @property
    def map(self) -> Any:
        """The map (created with a draw control on first access when none was given)."""
        if self._map is None:
            from glacierlab_widgets.maps import new_map

            self._map = new_map(self.catalog.region(self.selection.region_id).bbox)
            self._draw_box()
        return self._map

    def _region_changed(self) -> None:
        reg = self.catalog.region(self.region.value)
        self.date.unobserve_all("value")
        self.date.options = reg.dates
        self.date.value = reg.scene(None).date
        self.date.observe(self._guarded(lambda: self._set(date=self.date.value)), names="value")
        self._set(region_id=self.region.value, date=self.date.value, bbox=None, glacier_id=None)

    def _set(self, **changes: Any) -> RegionSelection:
        self.selection = dataclasses.replace(self.selection, **changes)
        self._describe()
        if self._map is not None:
            self._draw_box()
        self._emit(self.selection)
        return self.selection

    def _describe(self) -> None:
        s = self.selection
        where = "whole region" if s.bbox is None else "window " + ", ".join(f"{v:.4f}" for v in s.bbox)
        source = s.region_id or "STAC archives (outside the catalog regions)"
        self._say(f"{source} {s.date or ''}: {where}" + (f" (glacier {s.glacier_id})" if s.glacier_id else ""))

    def _draw_box(self) -> None:
        from ipyleaflet import Rectangle

        from glacierlab_widgets.maps import remove_layer

        m = self._map
        s = self.selection
        x0, y0, x1, y1 = s.bbox if s.bbox is not None or s.region_id is None else self.catalog.region(s.region_id).bbox
        remove_layer(m, self._outline)
        self._outline = Rectangle(
            bounds=((y0, x0), (y1, x1)), color="#ff7f00", fill_opacity=0.0, weight=2, name="selection"
        )
        m.add(self._outline)
        m.fit_bounds([[y0, x0], [y1, x1]])

    def find(self, glacier_id: str | None = None, margin: float = 0.1) -> RegionSelection:
        """Select the window around a glacier (by RGI/GLIMS id) in the catalog region that maps it.

        Args:
            glacier_id: The id (default: the text box).
            margin: Extra border around the glacier as a fraction of its size (>= 0).

        Returns:
            The new selection.
        """
        from glacierlab_widgets.maps import latlon_bounds

        gid = (glacier_id if glacier_id is not None else self.glacier.value).strip()
        if not gid:
            raise InputError("type a glacier id (RGI or GLIMS) first.")
        if margin < 0:
            raise InputError(f"margin must be >= 0, got {margin}")
        from glacierlab.data.vectors import find_glacier

        rid, hit = find_glacier(gid, region=self.selection.region_id, catalog=self.catalog)
        x0, y0, x1, y1 = latlon_bounds(hit)
        dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
        if rid != self.region.value:
            self.region.value = rid  # resets date and box
        return self._set(bbox=(x0 - dx, y0 - dy, x1 + dx, y1 + dy), glacier_id=gid)

    def use_drawn_box(self, bounds: BBox | None = None) -> RegionSelection:
        """Select the box drawn on the map (``m.user_roi``), or ``bounds``, inside a catalog region.

        The region is the selected one if the box overlaps it, else the first catalog region it overlaps.

        A box that overlaps no catalog region gives a selection with ``region_id=None``: its
        :meth:`RegionSelection.stack` searches the STAC archives of the catalog instead.

        Raises:
            InputError: Nothing drawn, or the box is malformed.
        """
        if bounds is None:
            roi = getattr(self.map, "user_roi", None)
            if roi is None:
                raise InputError("no box drawn yet: draw a rectangle with the map's draw tool first.")
            bounds = tuple(self.map.user_roi_bounds())
        box = BBox.parse(bounds, "drawn box")
        current = self.selection.region_id
        hits = [rid for rid, r in self.catalog.regions.items() if box.intersects(r.bbox)]
        if not hits:
            return self._set(region_id=None, date=STAC_DEFAULT_DATES, bbox=box, glacier_id=None)
        rid = current if current in hits else hits[0]
        if rid != self.region.value:
            self.region.value = rid
        return self._set(bbox=box, glacier_id=None)
