"""Region picker: a catalog region and scene, a glacier by RGI/GLIMS id, a box drawn on the map, or your files.

The result, :attr:`RegionPicker.selection`, is a :class:`RegionSelection`: the arguments
:func:`glacierlab.data.stack.stack_region` takes (region id, scene, lon/lat bbox), or your own GeoTIFFs
(:func:`glacierlab.data.user_files.stack_from_files`), with a ``stack()`` call. The picker says what the
chosen region holds (:func:`glacierlab.data.contents.region_contents`) and, in one sentence, how to get
what it lacks.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glacierlab.data.catalog import Catalog, load_catalog
from glacierlab.data.contents import region_contents
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
    files: tuple[tuple[str, Any], ...] | None = None

    @property
    def label(self) -> str:
        """A short description: ``everest 2000-10-30``, ``your files (scene.tif)``..."""
        if self.files is not None:
            return "your files (" + Path(str(dict(self.files).get("optical") or dict(self.files).get("dem"))).name + ")"
        return f"{self.region_id or 'STAC archives (outside the catalog regions)'} {self.date or ''}".strip()

    def stack(
        self, groups: tuple[str, ...] = ("optical", "dem"), catalog: Catalog | None = None, **stac: Any
    ) -> xr.Dataset:
        """The inputs on one grid, from the catalog or, outside it, from STAC archives.

        A catalog region uses :func:`glacierlab.data.stack.stack_region`; a box outside every region uses
        :func:`glacierlab.data.stac.stack_bbox` (Sentinel-2 + Copernicus DEM found through STAC; ``stac``
        keyword arguments such as ``endpoint`` or ``max_cloud`` are passed on).
        """
        if self.files is not None:
            from glacierlab.data.user_files import stack_from_files

            return stack_from_files(**dict(self.files), bbox=self.bbox)
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
        glacier_id: An RGI/GLIMS id to zoom to right away (an unknown id raises ``UnknownNameError``,
            so a notebook run with a wrong id fails); ``""`` = none.
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
        glacier_id: str = "",
        catalog: Catalog | None = None,
        m: Any = None,
    ) -> None:
        import ipywidgets as w

        super().__init__()
        self.catalog = catalog or load_catalog()
        reg = self.catalog.region(region)  # raises UnknownNameError listing the valid ids
        self._map = m
        self._outline = None
        self._files_bounds: BBox | None = None  # lon/lat frame of your own files (drawn, and fitted to)
        self.region = w.Dropdown(
            description="Region",
            options=[(f"{r.name} ({k})", k) for k, r in self.catalog.regions.items()],
            value=region,
        )
        self.date = w.Dropdown(description="Date", options=self._date_options(region), value=reg.scene(date).key)
        self.about = w.HTML()
        self.glacier = w.Text(description="Glacier id", placeholder="RGI60-15.03733 or G086932E27925N")
        self.find_button = w.Button(description="Find glacier", icon="search")
        self.box_button = w.Button(
            description="Use drawn box",
            icon="square-o",
            tooltip="Draw a rectangle with the map's draw tool, then click here",
        )
        self.whole_button = w.Button(description="Whole region", icon="expand")
        self.optical_files = w.Text(
            description="Optical", placeholder="/path/scene.tif (or one file per band, comma-separated)"
        )
        self.band_names = w.Text(description="Bands", placeholder="blue, green, red, nir (in file order; - skips one)")
        # no default: a wrong guess makes a plausible, wrong map. The shipped model reads 8-bit numbers;
        # a model you train reads what it was trained on.
        self.product_level = w.Dropdown(
            description="Values",
            options=[
                ("choose: what do the optical values hold?", ""),
                ("8-bit numbers 0-255 (the shipped model)", "dn8"),
                ("surface reflectance 0-1 (L2A / C2 L2)", "surface"),
                ("TOA reflectance 0-1 (L1C / C2 L1)", "toa"),
            ],
            value="",
            layout=w.Layout(width="max-content"),
        )
        self.scale = w.FloatText(description="Scale", value=1.0, tooltip="reflectance = value x scale (S2 L2A: 0.0001)")
        self.dem_file = w.Text(description="DEM", placeholder="/path/dem.tif (metres)")
        self.outline_file = w.Text(description="Outlines", placeholder="optional: /path/outlines.gpkg")
        self.files_button = w.Button(description="Use these files", icon="folder-open")
        self.files_box = w.Accordion(
            children=[
                w.VBox(
                    [
                        self.optical_files,
                        self.band_names,
                        w.HBox([self.product_level, self.scale]),
                        self.dem_file,
                        self.outline_file,
                        self.files_button,
                    ]
                )
            ]
        )
        self.files_box.set_title(0, "Your own files (GeoTIFF)")
        self.files_box.selected_index = None
        self.selection = RegionSelection(region, self.date.value, tuple(bbox) if bbox else None)
        self.find_button.on_click(self._guarded(self.find))
        self.box_button.on_click(self._guarded(self.use_drawn_box))
        self.whole_button.on_click(self._guarded(lambda: self._set(bbox=None, glacier_id=None)))
        self.files_button.on_click(self._guarded(self.use_files))
        self.region.observe(self._guarded(self._region_changed), names="value")
        self._date_handler = self._guarded(lambda: self._set(date=self.date.value))
        self.date.observe(self._date_handler, names="value")
        self.box.children = [
            w.HBox([self.region, self.date]),
            w.HBox([self.glacier, self.find_button]),
            w.HBox([self.box_button, self.whole_button]),
            self.files_box,
            self.about,
            self.status,
        ]
        self._describe()
        if glacier_id:
            self.glacier.value = glacier_id
            self.find(glacier_id)

    @property
    def map(self) -> Any:
        """The map (created with a draw control on first access when none was given)."""
        if self._map is None:
            from glacierlab_widgets.maps import new_map

            self._map = new_map(self.catalog.region(self.selection.region_id).bbox)
            self._draw_box()
        return self._map

    def _date_options(self, region_id: str) -> list[tuple[str, str]]:
        """(label, scene key) pairs: the key with what the scene holds (imagery sensor, or DEM / outlines)."""
        cat = self.catalog
        out = []
        for sc in cat.region(region_id).scenes:
            if sc.optical:
                src = cat.source(sc.optical[0])
                what = f"{src.sensor or 'imagery'}, {src.product_level}"
                what += "" if sc.key == sc.date else f", {sc.date}"
            else:
                what = " + ".join(n for n, ids in (("DEM", sc.dem), ("outlines", sc.reference)) if ids) or "extras"
            out.append((f"{sc.key} · {what}", sc.key))
        return out

    def _region_changed(self) -> None:
        if self.region.value is None:  # blanked by _leave_catalog: your files or a box outside the catalog
            return
        self.date.disabled = False
        reg = self.catalog.region(self.region.value)
        # pause only our own observer: unobserve_all would also drop ipywidgets' own value -> index/label
        # sync, and the dropdown would show the first date while the selection uses another
        self.date.unobserve(self._date_handler, names="value")
        self.date.options = self._date_options(reg.id)
        self.date.value = reg.scene(None).key
        self.date.observe(self._date_handler, names="value")
        self._set(region_id=self.region.value, date=self.date.value, bbox=None, glacier_id=None, files=None)

    def _leave_catalog(self) -> None:
        """Blank Region and Date (your files, or a box outside the catalog); picking a region selects it again."""
        self.region.value = None  # shows no region; _region_changed ignores it
        self.date.unobserve(self._date_handler, names="value")
        self.date.value = None
        self.date.disabled = True
        self.date.observe(self._date_handler, names="value")

    def _set(self, **changes: Any) -> RegionSelection:
        old = self.selection
        self.selection = dataclasses.replace(old, **changes)
        self._describe()
        if self._map is not None:  # refit only when the area changes, so a date change keeps the view
            moved = (old.region_id, old.bbox, old.files) != (
                self.selection.region_id,
                self.selection.bbox,
                self.selection.files,
            )
            self._draw_box(fit=moved)
        self._emit(self.selection)
        return self.selection

    def _describe(self) -> None:
        s = self.selection
        whole = "the files' whole frame (no catalog region in use)" if s.files is not None else "whole region"
        where = whole if s.bbox is None else "window " + ", ".join(f"{v:.4f}" for v in s.bbox)
        self._say(f"{s.label}: {where}" + (f" (glacier {s.glacier_id})" if s.glacier_id else ""))
        if s.region_id is not None and s.files is None:
            text = region_contents(s.region_id, self.catalog).summary()
            self.about.value = "<br>".join(html.escape(line) for line in text.splitlines())
        else:
            self.about.value = ""

    def _draw_box(self, fit: bool = True) -> None:
        from ipyleaflet import Rectangle

        from glacierlab_widgets.maps import remove_layer

        m = self._map
        s = self.selection
        remove_layer(m, self._outline)  # the previous frame goes whatever comes next
        self._outline = None
        if s.bbox is not None:
            x0, y0, x1, y1 = s.bbox
        elif s.files is not None and self._files_bounds is not None:
            x0, y0, x1, y1 = self._files_bounds  # your files are drawn in their own frame
        elif s.region_id is not None:
            x0, y0, x1, y1 = self.catalog.region(s.region_id).bbox
        else:
            return
        self._outline = Rectangle(
            bounds=((y0, x0), (y1, x1)), color="#ff7f00", fill_opacity=0.0, weight=2, name="selection"
        )
        m.add(self._outline)
        if fit:
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
        return self._set(bbox=(x0 - dx, y0 - dy, x1 + dx, y1 + dy), glacier_id=gid, files=None)

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
            self._leave_catalog()
            return self._set(region_id=None, date=STAC_DEFAULT_DATES, bbox=box, glacier_id=None, files=None)
        rid = current if current in hits else hits[0]
        if rid != self.region.value:
            self.region.value = rid
        return self._set(bbox=box, glacier_id=None, files=None)

    def use_files(
        self,
        optical: str | None = None,
        dem: str | None = None,
        *,
        bands: str | None = None,
        product_level: str | None = None,
        scale: float | None = None,
        reference: str | None = None,
    ) -> RegionSelection:
        """Select your own GeoTIFFs (arguments default to the "Your own files" boxes).

        The files are checked right away (paths, band names against the bands in the files, product
        level) by stacking them once, so a mistake shows here rather than at Run.

        Raises:
            DataNotFoundError, InputError, UnknownNameError: see
            :func:`glacierlab.data.user_files.stack_from_files`.
        """
        from glacierlab.data.user_files import stack_from_files

        files = {
            "optical": optical if optical is not None else self.optical_files.value.strip(),
            "dem": dem if dem is not None else self.dem_file.value.strip(),
            "bands": bands if bands is not None else self.band_names.value,
            "product_level": product_level or self.product_level.value,
            "scale": scale if scale is not None else self.scale.value,
            "reference": reference if reference is not None else self.outline_file.value.strip(),
        }
        files = {k: v for k, v in files.items() if v not in ("", None)}
        if files.get("optical") and not files.get("product_level"):
            raise InputError(
                "choose under Values what the optical file holds: 8-bit numbers 0-255 (what the shipped model "
                "reads), surface reflectance 0-1 or top-of-atmosphere reflectance 0-1 (after Scale)."
            )
        stack = stack_from_files(**files)  # fail now, with the message, not at Run
        if "optical" in stack:
            _check_values(stack, str(files["product_level"]))
        from glacierlab_widgets.maps import latlon_bounds

        self._files_bounds = BBox.parse(latlon_bounds(stack["optical" if "optical" in stack else "dem"]))
        self._leave_catalog()
        return self._set(region_id=None, date=None, bbox=None, glacier_id=None, files=tuple(files.items()))


def _check_values(stack: xr.Dataset, level: str) -> None:
    """Refuse optical values that do not match the chosen Values (e.g. an 8-bit file called reflectance)."""
    from glacierlab.inference.checks import value_scale
    from glacierlab.vocabulary import PRODUCT_LEVEL_UNITS

    values = stack["optical"].values[:, ::4, ::4]
    found = value_scale(values)
    want = "dn8" if PRODUCT_LEVEL_UNITS[level] == "DN" else "unit"
    if found is None or found == want:
        return
    top = float(values[values == values].max())
    if found == "dn8":
        raise InputError(
            f"the optical values go up to {top:.0f}: an 8-bit file (0-255), but Values says {level} reflectance "
            "0-1. Choose '8-bit numbers 0-255', or set Scale to turn the numbers into reflectance."
        )
    raise InputError(
        f"the optical values go up to {top:.4g}, which is not what Values = {level} expects "
        f"({'0-255' if want == 'dn8' else '0-1'}): choose the Values that match the file, or set Scale "
        "(e.g. 0.0001 for Sentinel-2 L2A numbers)."
    )
