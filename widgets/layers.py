"""Readable result layers: one visible at a time with a switcher, a legend for it, values on click.

:class:`LayerPanel` owns a set of named raster layers on a map (e.g. a model's probability, mask,
confidence). Setting new data replaces its layers in place - same names, the layer the user was looking
at stays the visible one, the map view is not touched - so re-running a cell or pressing Run again never
stacks duplicates. Every raster has a legend (a colour bar with units, or class swatches). Clicking the
map reads the value of every layer (and any extra arrays, e.g. the inputs) at that point.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.errors import unknown_name
from glacierlab_widgets._base import WidgetBase

if TYPE_CHECKING:
    import xarray as xr


@dataclass(frozen=True)
class LayerStyle:
    """How a layer is coloured and explained: a colormap over [vmin, vmax] or named classes.

    Attributes:
        label: Legend title. colormap: Matplotlib name. vmin, vmax: Colour range (None = data range).
        units: Units shown in the legend and on click. classes: ``(value, name)`` pairs of a class map.
        nodata: Value drawn transparent. rgb: Three bands drawn as a stretched colour image.
    """

    label: str
    colormap: str | None = "viridis"
    vmin: float | None = None
    vmax: float | None = None
    units: str = ""
    classes: tuple[tuple[int, str], ...] = ()
    nodata: float | None = None
    rgb: bool = False


STYLES: dict[str, LayerStyle] = {
    "probability": LayerStyle("glacier probability", "Blues", 0.0, 1.0),
    "mask": LayerStyle("model mask", "Blues", 0.0, 1.0, classes=((0, "ice-free"), (1, "glacier")), nodata=255),
    "reference": LayerStyle(
        "reference (inventory)", "Oranges", 0.0, 1.0, classes=((0, "ice-free"), (1, "glacier")), nodata=255
    ),
    "confidence": LayerStyle("confidence", "magma", 0.0, 1.0),
    "uncertainty": LayerStyle("uncertainty (std of MC passes)", "inferno", 0.0, 0.5),
    "elevation": LayerStyle("elevation", "terrain", None, None, units="m"),
    "slope": LayerStyle("slope", "YlOrBr", 0.0, 60.0, units="degrees"),
    "thermal": LayerStyle("brightness temperature", "coolwarm", None, None, units="K"),
    "optical": LayerStyle("true colour (red, green, blue; 2-98 % stretch)", None, rgb=True),
}


def style_for(name: str) -> LayerStyle:
    """The style of a layer name (its last word decides: ``"model mask"`` -> ``mask``), else viridis."""
    key = name if name in STYLES else name.split()[-1]
    return STYLES.get(key, LayerStyle(name))


def _hex(rgba: Any) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(round(255 * c)) for c in rgba[:3]))


def legend_html(name: str, style: LayerStyle, vmin: float | None = None, vmax: float | None = None) -> str:
    """A legend: class swatches, or a colour bar from ``vmin`` to ``vmax`` with units (offline, plain HTML)."""
    import matplotlib

    title = f"<b>{html.escape(style.label)}</b>"
    if style.rgb:
        return f"<div class='glacierlab-legend'>{title}</div>"
    cmap = matplotlib.colormaps[style.colormap or "viridis"]
    lo = style.vmin if style.vmin is not None else vmin
    hi = style.vmax if style.vmax is not None else vmax
    if style.classes:
        span = (hi if hi is not None else 1.0) - (lo if lo is not None else 0.0)
        items = "".join(
            f"<div><span style='display:inline-block;width:14px;height:14px;margin-right:4px;"
            f"background:{_hex(cmap((v - (lo or 0.0)) / (span or 1.0)))};border:1px solid #888'></span>"
            f"{html.escape(label)}</div>"
            for v, label in style.classes
        )
        return f"<div class='glacierlab-legend'>{title}{items}<div style='color:#666'>no data: clear</div></div>"
    stops = ", ".join(_hex(cmap(t)) for t in np.linspace(0, 1, 9))
    unit = f" {html.escape(style.units)}" if style.units else ""
    fmt = (lambda v: f"{v:.0f}") if style.units in ("m", "K") else (lambda v: f"{v:.2f}")
    ends = (
        f"<div style='display:flex;justify-content:space-between'><span>{fmt(lo)}{unit}</span>"
        f"<span>{fmt(hi)}{unit}</span></div>"
        if lo is not None and hi is not None
        else ""
    )
    bar = f"<div style='height:12px;width:180px;background:linear-gradient(to right, {stops})'></div>"
    return f"<div class='glacierlab-legend'>{title}{bar}{ends}</div>"


def value_at(da: xr.DataArray, lon: float, lat: float) -> float | np.ndarray | None:
    """The value of a georeferenced ``(y, x)`` or ``(band, y, x)`` array at a lon/lat point (None outside)."""
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, da.rio.crs, always_xy=True).transform(lon, lat)
    x0, y0, x1, y1 = da.rio.bounds()
    if not (x0 <= x <= x1 and y0 <= y <= y1):
        return None
    v = np.asarray(da.sel(x=x, y=y, method="nearest").values, dtype=np.float64)
    return float(v) if v.ndim == 0 else v


def describe_value(name: str, value: float | np.ndarray | None, bands: Any = None) -> str:
    """``"probability 0.83"``, ``"mask glacier"``, ``"elevation 5230 m"``, ``"optical red 0.31, ..."``."""
    style = style_for(name)
    if value is None:
        return f"{name}: outside"
    if isinstance(value, np.ndarray):
        names = [str(b) for b in (bands if bands is not None else range(len(value)))]
        return f"{name}: " + ", ".join(f"{b} {v:.3g}" for b, v in zip(names, value, strict=False))
    if not np.isfinite(value) or (style.nodata is not None and value == style.nodata):
        return f"{name}: no data"
    if style.classes:
        return f"{name}: " + dict(style.classes).get(int(value), f"{value:g}")
    if style.units in ("m", "K"):
        return f"{name}: {value:.0f} {style.units}"
    unit = f" {style.units}" if style.units else ""
    return f"{name}: {value:.3g}{unit}"


class LayerPanel(WidgetBase):
    """Named raster layers on a map: a switcher (one visible), opacity, a legend and click-to-read values.

    Args:
        m: A map from :func:`glacierlab_widgets.maps.new_map`.
        title: Prefix of the layer names on the map (e.g. ``"model"``).

    Attributes:
        layers: Name -> ipyleaflet layer currently on the map.
        data: Name -> the array drawn (read on click).
        extra: Name -> further arrays read on click but not drawn (e.g. the inputs).
        clicked: The values of the latest click (name -> text).
    """

    def __init__(self, m: Any, *, title: str = "") -> None:
        import ipywidgets as w
        from ipyleaflet import WidgetControl

        super().__init__()
        self.m = m
        self.title = title
        self.layers: dict[str, Any] = {}
        self.data: dict[str, Any] = {}
        self.extra: dict[str, xr.DataArray] = {}
        self.clicked: dict[str, str] = {}
        self.switch = w.ToggleButtons(description="Show", options=[], style={"button_width": "110px"})
        self.opacity = w.FloatSlider(description="Opacity", value=0.8, min=0.0, max=1.0, step=0.05)
        self.legend = w.HTML()
        self.values = w.HTML("<i>click the map to read the values there</i>")
        self._switch_handler = self._guarded(lambda: self.show(self.switch.value))
        self.switch.observe(self._switch_handler, names="value")
        self.opacity.observe(self._guarded(self._set_opacity), names="value")
        self.box.children = [w.HBox([self.switch]), self.opacity, self.values, self.status]
        self._legend_control = WidgetControl(widget=self.legend, position="bottomright")
        self._point: tuple[float, float] | None = None
        self.chosen: str | None = None  # the layer last shown: kept through clear() and set_layers()
        # one panel per title and map: a panel made again (a re-run cell) takes over from the old one,
        # whose layers, legend and click handler leave the map, so legends never stack up
        owners = m.__dict__.setdefault("_glacierlab_panels", {})
        if title in owners:
            owners[title].close()
        owners[title] = self
        m.add(self._legend_control)
        m.on_interaction(self._on_map_event)

    def clear(self, note: str = "") -> None:
        """Take this panel's layers and legend off the map and forget their values (e.g. a new scene).

        Args:
            note: Shown where the click read-out was (default: the "click the map" hint).
        """
        from glacierlab_widgets.maps import remove_layer

        for layer in self.layers.values():
            remove_layer(self.m, layer)
        self.layers, self.data, self.extra, self.clicked = {}, {}, {}, {}
        self.switch.unobserve(self._switch_handler, names="value")
        self.switch.options = []
        self.switch.observe(self._switch_handler, names="value")
        self.legend.value = ""
        self.values.value = html.escape(note) if note else "<i>click the map to read the values there</i>"

    def close(self) -> None:
        """Clear the panel and take its legend and click handler off the map for good."""
        self.clear()
        self.m.on_interaction(self._on_map_event, remove=True)
        if self._legend_control in self.m.controls:
            self.m.controls = tuple(c for c in self.m.controls if c is not self._legend_control)
        owners = self.m.__dict__.get("_glacierlab_panels", {})
        if owners.get(self.title) is self:
            del owners[self.title]

    def set_layers(
        self, arrays: Mapping[str, Any], *, visible: str | None = None, files: Mapping[str, Any] | None = None
    ) -> None:
        """Draw ``arrays`` (name -> DataArray), replacing this panel's previous layers; the view is kept.

        Args:
            arrays: Name -> ``(y, x)`` or (RGB) ``(3, y, x)`` georeferenced DataArray.
            visible: Layer to show (default: the one shown before, even before a :meth:`clear`, if still
                there, else the first).
            files: Name -> GeoTIFF path drawn as tiles instead of the array (the array is still read on click).
        """
        from glacierlab_widgets.maps import add_raster, remove_layer

        before = self.chosen
        for layer in self.layers.values():
            remove_layer(self.m, layer)
        self.layers, self.data = {}, dict(arrays)
        files = dict(files or {})
        for name, da in arrays.items():
            st = style_for(name)
            self.layers[name] = add_raster(
                self.m,
                files.get(name, da),
                name=f"{self.title} {name}".strip(),
                colormap=st.colormap if not st.rgb else None,
                vmin=st.vmin,
                vmax=st.vmax,
                nodata=st.nodata,
                opacity=self.opacity.value,
            )
        names = list(self.layers)
        show = visible if visible in names else before if before in names else (names[0] if names else None)
        self.switch.unobserve(self._switch_handler, names="value")  # not unobserve_all: see RegionPicker
        self.switch.options = names
        self.switch.value = show
        self.switch.observe(self._switch_handler, names="value")
        self.show(show)
        # the read-out belongs to the data shown: read the new layers at the last clicked point
        if self._point is not None:
            self.inspect(*self._point)
        else:
            self.clicked = {}
            self.values.value = "<i>click the map to read the values there</i>"

    def show(self, name: str | None) -> None:
        """Make ``name`` the one visible layer and put its legend on the map."""
        if name is None:
            self.legend.value = ""
            return
        if name not in self.layers:
            raise unknown_name("layer", name, list(self.layers))
        self.chosen = name
        for key, layer in self.layers.items():
            layer.visible = key == name
        if self.switch.value != name:
            self.switch.value = name
        da, st = self.data.get(name), style_for(name)
        lo = hi = None
        if da is not None and not st.rgb and (st.vmin is None or st.vmax is None):
            vals = np.asarray(da.values, dtype=np.float64)
            ok = np.isfinite(vals) & (vals != st.nodata if st.nodata is not None else True)
            if ok.any():
                lo, hi = float(vals[ok].min()), float(vals[ok].max())
        self.legend.value = legend_html(name, st, lo, hi)

    @property
    def visible(self) -> str | None:
        """The name of the visible layer."""
        return next((k for k, v in self.layers.items() if v.visible), None)

    def _set_opacity(self) -> None:
        for layer in self.layers.values():
            layer.opacity = self.opacity.value

    def _on_map_event(self, **kwargs: Any) -> None:
        if kwargs.get("type") == "click" and kwargs.get("coordinates"):
            lat, lon = kwargs["coordinates"]
            self._guarded(lambda: self.inspect(lon, lat))()  # an error shows in the status, not the kernel log

    def show_feature(self, properties: Mapping[str, Any]) -> dict[str, str]:
        """Show a clicked outline's attributes (id, name, area, dates...); pass it as ``add_outlines(on_click=)``."""
        keep = {
            str(k): v
            for k, v in properties.items()
            if v not in (None, "") and not str(k).startswith("style") and str(k) != "geometry"
        }
        self.clicked = {k: f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}" for k, v in list(keep.items())[:12]}
        rows = "".join(f"<li>{html.escape(t)}</li>" for t in self.clicked.values())
        self.values.value = f"<b>glacier</b><ul style='margin:0'>{rows}</ul>"
        return self.clicked

    def inspect(self, lon: float, lat: float) -> dict[str, str]:
        """Read every layer (and :attr:`extra` array) at a lon/lat point; show and return the texts."""
        self._point = (lon, lat)
        out = {}
        for name, da in {**self.data, **self.extra}.items():
            bands = da["band"].values if "band" in da.dims else None
            out[name] = describe_value(name, value_at(da, lon, lat), bands)
        self.clicked = out
        rows = "".join(f"<li>{html.escape(t)}</li>" for t in out.values())
        self.values.value = f"<b>{lat:.5f} N, {lon:.5f} E</b><ul style='margin:0'>{rows}</ul>"
        return out


def stack_layers(stack: xr.Dataset) -> dict[str, xr.DataArray]:
    """The displayable layers of a stack: ``optical`` (RGB, or the first band), elevation, slope, reference, thermal."""
    from glacierlab.data.stack import group

    out: dict[str, xr.DataArray] = {}
    if "optical" in stack:
        opt = group(stack, "optical")
        names = [str(b) for b in opt["band"].values]
        rgb = [b for b in ("red", "green", "blue") if b in names]
        out["optical"] = opt.sel(band=rgb) if len(rgb) == 3 else opt.isel(band=0)
    if "dem" in stack:
        dem = group(stack, "dem")
        out["elevation"] = dem.sel(band="elevation", drop=True)
        out["slope"] = dem.sel(band="slope", drop=True)
    for name in ("reference", "thermal"):
        if name in stack:
            out[name] = stack[name].rio.write_crs(stack.rio.crs)
    return out
