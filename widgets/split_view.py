"""Split view for A/B comparisons: two linked maps side by side, each with its own layer switcher.

Both maps share centre and zoom in the browser (``jslink``), so panning one pans the other. Each side
is a :class:`~glacierlab_widgets.layers.LayerPanel` over the same named arrays (e.g. the optical image,
the reference and the model's layers; or two dates), so any two can be compared with their legends, and
a click on either map reads the values there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from glacierlab.errors import unknown_name
from glacierlab_widgets._base import WidgetBase

if TYPE_CHECKING:
    import xarray as xr


class SplitView(WidgetBase):
    """Two linked maps showing layer A (left) and layer B (right) of the same named arrays.

    Args:
        arrays: Name -> georeferenced ``(y, x)`` (or RGB ``(3, y, x)``) DataArray.
        left: Name shown on the left (A). right: Name shown on the right (B).
        bounds: ``(lon_min, lat_min, lon_max, lat_max)`` to fit both maps to (default: the left array's).
        height: CSS height of each map.

    Attributes:
        left, right: The two :class:`~glacierlab_widgets.layers.LayerPanel` (``.switch`` picks the layer).
        maps: The two leafmap maps.
    """

    def __init__(
        self,
        arrays: Mapping[str, xr.DataArray],
        *,
        left: str,
        right: str,
        bounds: Sequence[float] | None = None,
        height: str = "380px",
    ) -> None:
        import ipywidgets as w

        from glacierlab_widgets.layers import LayerPanel
        from glacierlab_widgets.maps import latlon_bounds, new_map

        super().__init__()
        for side, name in (("left", left), ("right", right)):
            if name not in arrays:
                raise unknown_name(f"layer for the {side} map", name, list(arrays))
        bounds = bounds if bounds is not None else latlon_bounds(arrays[left])
        self.maps = (new_map(bounds, height=height), new_map(bounds, height=height))
        for trait in ("center", "zoom"):
            w.jslink((self.maps[0], trait), (self.maps[1], trait))
        self.left = LayerPanel(self.maps[0], title="A")
        self.right = LayerPanel(self.maps[1], title="B")
        self.left.set_layers(arrays, visible=left)
        self.right.set_layers(arrays, visible=right)
        layout = w.Layout(width="50%")
        self.box.children = [
            w.HBox(
                [
                    w.VBox([w.HTML("<b>A</b>"), self.left.switch, self.maps[0], self.left.values], layout=layout),
                    w.VBox([w.HTML("<b>B</b>"), self.right.switch, self.maps[1], self.right.values], layout=layout),
                ]
            ),
            self.status,
        ]
        self._say(f"A: {left} | B: {right}; pan or zoom either map, click to read values")

    def set_arrays(self, arrays: Mapping[str, xr.DataArray]) -> None:
        """Replace both sides' layers with ``arrays`` (each side keeps its layer where it still exists)."""
        self.left.set_layers(arrays)
        self.right.set_layers(arrays)
        self._say(f"A: {self.left.visible} | B: {self.right.visible}; pan or zoom either map, click to read values")

    def follow(self, runner: Any) -> SplitView:
        """Redraw from every new run of a :class:`~glacierlab_widgets.model_runner.ModelRunner`.

        The maps then show the runner's scene (inputs) and its latest result; a run that is cleared (a new
        scene, a failed run) empties them, so the split view never shows an earlier model.
        """
        from glacierlab_widgets.layers import stack_layers

        def redraw(result: Any) -> None:
            if result is None:
                self.left.clear("press Run above to fill the split view")
                self.right.clear("press Run above to fill the split view")
                self._say("no result yet: press Run above")
                return
            self.set_arrays({**stack_layers(runner.scene()), **{str(k): result[k] for k in result.data_vars}})

        runner.observe_result(self._guarded_value(redraw))
        return self

    def _guarded_value(self, func: Any) -> Any:
        """An observer that shows errors in the status line (as :meth:`_guarded` does for buttons)."""

        def observer(value: Any) -> None:
            self._guarded(lambda: func(value))()

        return observer

    def _ipython_display_(self) -> Any:
        from IPython.display import display

        display(self.box)
