"""Region view: the picker's current selection drawn on its map, redrawn as soon as the selection changes.

Wraps :meth:`glacierlab_widgets.region_picker.RegionSelection.stack`,
:func:`glacierlab_widgets.layers.stack_layers` and :func:`glacierlab.data.contents.scene_outlines`. Every
layer, legend, outline and click read-out on the map belongs to the current selection: a new region,
date, box or your own files first takes the previous selection's off the map, then draws the new one.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from glacierlab_widgets._base import WidgetBase

if TYPE_CHECKING:
    import geopandas as gpd
    import xarray as xr


class RegionView(WidgetBase):
    """Draw a :class:`~glacierlab_widgets.region_picker.RegionPicker`'s selection on its map.

    Args:
        picker: The picker (its map is drawn on).

    Attributes:
        stack: The current selection's inputs (``xr.Dataset``) or None before the first draw / after an error.
        outlines: The reference outlines of the selection (catalog regions) or None.
        panel: The :class:`~glacierlab_widgets.layers.LayerPanel` holding the input layers.
        advice: One sentence on what to do next with the selection.
    """

    def __init__(self, picker: Any) -> None:
        import ipywidgets as w

        from glacierlab_widgets.layers import LayerPanel

        super().__init__()
        self.picker = picker
        self.stack: xr.Dataset | None = None
        self.outlines: gpd.GeoDataFrame | None = None
        self.advice = ""
        self._outline_layer: Any = None
        self.panel = LayerPanel(picker.map, title="input")
        self.advice_line = w.HTML()
        self.box.children = [self.panel.box, self.advice_line, self.status]
        picker.observe_result(lambda _: self._guarded(self.draw)())
        self._guarded(self.draw)()

    def draw(self) -> xr.Dataset:
        """Stack the picker's selection and draw it, replacing the previous selection's layers."""
        from glacierlab.data.contents import files_advice, region_contents, scene_outlines
        from glacierlab_widgets.layers import stack_layers
        from glacierlab_widgets.maps import add_outlines, remove_layer

        s = self.picker.selection
        self.stack, self.outlines = None, None
        remove_layer(self.picker.map, self._outline_layer)
        self._outline_layer = None
        self.panel.clear()
        self.advice_line.value = ""
        self._say(f"loading {s.label}...")
        self.stack = s.stack()
        self.panel.set_layers(stack_layers(self.stack))
        catalog = s.region_id is not None and s.files is None
        if catalog:
            # the inventory's glaciers that reach the scene (a country-wide inventory is not drawn whole)
            view = s.bbox or self.stack.rio.transform_bounds("EPSG:4326", densify_pts=21)
            self.outlines = scene_outlines(s.region_id, s.date, view)
        if self.outlines is not None:  # click a glacier to see its inventory attributes
            self._outline_layer = add_outlines(
                self.picker.map, self.outlines, name="reference outlines", on_click=self.panel.show_feature
            )
        if catalog:
            self.advice = region_contents(s.region_id).advice(s.date)
        elif s.files is not None:  # the rule of the catalog regions, for the level chosen under Values
            self.advice = files_advice(str(dict(s.files).get("product_level", "")), self.picker.catalog)
        else:  # a box read through STAC: its stack states the level (surface reflectance)
            self.advice = files_advice(
                str(self.stack.attrs.get("product_level", "")),
                self.picker.catalog,
                what="this box's scenes",
                how="draw the box there and press Use drawn box",
            )
        self.advice_line.value = f"<b>Next:</b> {html.escape(self.advice)}"
        self._say(
            f"{s.label}: grid {self.stack.sizes['y']} x {self.stack.sizes['x']} px; "
            f"layers: {', '.join(self.panel.layers)}"
        )
        return self.stack
