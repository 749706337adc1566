"""An interactive map that lives inside the static report and works offline (Leaflet inlined, no tiles).

Rasters are reprojected to Web Mercator (EPSG:3857, so Leaflet's linear image stretch is pixel-exact),
coloured and embedded as ``data:`` images; outlines are embedded as GeoJSON (WGS84). Optical images are
base layers (one at a time), probability and outlines are overlays that can be toggled; the page loads
Leaflet 1.9.4 from ``glacierlab/assets/leaflet`` inline, so it makes no network request (no CDN, no
basemap tiles).

Data never becomes markup: the layers travel as JSON in a ``<script type="application/json">`` block
(:func:`~glacierlab.reports.escape.script_json`, read with ``textContent`` and ``JSON.parse``); popups
are built from DOM text nodes; layer names are escaped before Leaflet's layer control shows them, and
legend labels with :func:`~glacierlab.reports.escape.html_text`.
"""

from __future__ import annotations

import base64
import io
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.errors import DataNotFoundError, InputError
from glacierlab.reports.escape import html_text, script_json
from glacierlab.reports.tables import HtmlBlock

if TYPE_CHECKING:
    import geopandas as gpd
    import xarray as xr

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "leaflet"
#: Largest side (pixels) of an embedded raster; larger ones are decimated.
MAX_SIDE = 1600


@dataclass
class Layer:
    """One map layer: an embedded image or a GeoJSON.

    Attributes:
        name: Name in the layer control.
        kind: ``"base"`` (optical image, one at a time), ``"image"`` or ``"vector"`` (overlays).
        data: ``data:`` URI (images) or GeoJSON text (vectors).
        bounds: ``[[south, west], [north, east]]`` (images).
        visible: Shown when the page opens.
        style: Leaflet path style (vectors) or ``{"opacity": ...}`` (images).
        legend: Legend HTML built by :func:`swatch` / :func:`ramp` ("" for none; not data: it is markup).
    """

    name: str
    kind: str
    data: str
    bounds: list[list[float]] | None = None
    visible: bool = False
    style: dict[str, Any] = field(default_factory=dict)
    legend: str = ""


@cache
def leaflet_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS as inline text (CSS images as ``data:`` URIs, no source-map comment)."""
    try:
        js = (ASSETS / "leaflet.js").read_text(encoding="utf-8")
        css = (ASSETS / "leaflet.css").read_text(encoding="utf-8")
    except OSError as err:
        raise DataNotFoundError(
            f"Leaflet files missing from {ASSETS} ({err}); reinstall glacierlab (they are package data)."
        ) from err
    js = re.sub(r"//# sourceMappingURL=\S+\s*$", "", js)

    def inline(m: re.Match[str]) -> str:
        f = ASSETS / "images" / m.group(1)
        if f.is_file():
            return "url(data:image/png;base64," + base64.b64encode(f.read_bytes()).decode() + ")"
        return "none"

    css = re.sub(r"url\(images/([\w.-]+)\)", inline, css)
    return js, css


def _encode(rgba: np.ndarray) -> str:
    """RGBA uint8 -> data URI (JPEG when fully opaque, else PNG)."""
    from PIL import Image

    buf = io.BytesIO()
    if (rgba[..., 3] == 255).all():
        Image.fromarray(rgba[..., :3]).save(buf, format="JPEG", quality=85)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    Image.fromarray(rgba).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _to_mercator(da: xr.DataArray, categorical: bool) -> xr.DataArray:
    from rasterio.enums import Resampling

    if da.rio.crs is None:
        raise InputError(f"raster layer {da.name!r} has no CRS; write one with .rio.write_crs().")
    step = int(np.ceil(max(da.sizes["y"], da.sizes["x"]) / MAX_SIDE))
    if step > 1:
        da = da.isel(y=slice(None, None, step), x=slice(None, None, step))
    da = da.astype("float32").rio.write_nodata(np.nan, encoded=False)
    return da.rio.reproject("EPSG:3857", resampling=Resampling.nearest if categorical else Resampling.bilinear)


def _bounds(da: xr.DataArray) -> list[list[float]]:
    from rasterio.warp import transform_bounds

    w, s, e, n = transform_bounds(da.rio.crs, "EPSG:4326", *da.rio.bounds())
    return [[s, w], [n, e]]


def image_layer(
    da: xr.DataArray,
    name: str,
    *,
    cmap: str | None = None,
    vmin: float = 0.0,
    vmax: float = 1.0,
    categories: dict[int, str] | None = None,
    opacity: float = 0.75,
    visible: bool = False,
    base: bool = False,
    legend: str = "",
) -> Layer:
    """A raster layer: RGB (``(3, y, x)`` in [0, 1]), a colour map over ``[vmin, vmax]``, or categories.

    Args:
        da: Georeferenced DataArray (rioxarray CRS); NaN = transparent.
        name: Layer name.
        cmap: Matplotlib colour map for a single band.
        vmin: Value at the bottom of ``cmap``.
        vmax: Value at the top of ``cmap``.
        categories: Integer value -> CSS colour (e.g. change classes); other values transparent.
        opacity: Layer opacity (0-1).
        visible: Shown when the page opens.
        base: A base layer (optical image).
        legend: Legend HTML.
    """
    import matplotlib

    m = _to_mercator(da, categorical=categories is not None)
    arr = np.asarray(m.values, dtype=np.float32)
    if arr.ndim == 3:
        rgb = np.nan_to_num(np.moveaxis(arr[:3], 0, -1), nan=0.0)
        alpha = np.isfinite(arr[:3]).all(axis=0)
        rgba = np.dstack([np.clip(rgb * 255, 0, 255).astype(np.uint8), (alpha * 255).astype(np.uint8)])
    elif categories is not None:
        from matplotlib.colors import to_rgba

        rgba = np.zeros((*arr.shape, 4), np.uint8)
        for value, colour in categories.items():
            rgba[arr == value] = (np.array(to_rgba(colour)) * 255).astype(np.uint8)
    else:
        norm = np.clip((arr - vmin) / max(vmax - vmin, 1e-12), 0, 1)
        rgba = (matplotlib.colormaps[cmap or "viridis"](np.nan_to_num(norm)) * 255).astype(np.uint8)
        rgba[~np.isfinite(arr), 3] = 0
    return Layer(name, "base" if base else "image", _encode(rgba), _bounds(m), visible, {"opacity": opacity}, legend)


def vector_layer(
    gdf: gpd.GeoDataFrame,
    name: str,
    *,
    color: str = "#d62728",
    fill_opacity: float = 0.0,
    weight: float = 1.5,
    visible: bool = True,
    properties: Sequence[str] = (),
    simplify_m: float = 10.0,
    legend: str = "",
) -> Layer:
    """Outlines as GeoJSON (WGS84, ~1 m precision) with ``properties`` shown in a click popup."""
    from glacierlab.outlines.polygons import metric_crs

    if gdf.crs is None:
        raise InputError(f"vector layer {name!r} has no CRS; set one with .set_crs().")
    g = gdf[[*properties, gdf.geometry.name]].copy()
    if len(g) and simplify_m > 0:
        g = g.to_crs(metric_crs(g))
        g = g.set_geometry(g.geometry.simplify(simplify_m, preserve_topology=True))
    g = g.to_crs(4326)
    for c in properties:
        if g[c].dtype.kind == "f":
            g[c] = g[c].round(3)
        elif g[c].dtype.kind not in "iub":
            g[c] = g[c].astype(str)
    g = g.rename(columns={c: POPUP_NAMES.get(c, c.replace("_", " ")) for c in properties})
    text = re.sub(r"(\d+\.\d{5})\d+", r"\1", g.to_json(drop_id=True))
    style = {"color": color, "weight": weight, "fillColor": color, "fillOpacity": fill_opacity}
    return Layer(name, "vector", text, None, visible, style, legend)


#: Readable popup names of the machine column names (others: underscores become spaces).
POPUP_NAMES = {
    "glacier": "glacier",
    "area_km2": "area (km²)",
    "expected_km2": "expected area (km²)",
    "low_km2": "interval low (km²)",
    "high_km2": "interval high (km²)",
    "iou": "IoU with the reference",
    "date": "date",
}


def _control_label(ly: Layer) -> str:
    """The layer control's entry: a colour swatch (outline colour, or the image ramp) and the name."""
    colour = ly.style.get("color")
    if ly.kind == "vector" and colour:
        mark = f"border:2px solid {colour};"
    elif ly.kind == "image":
        mark = "background:linear-gradient(to right,#f7fbff,#08306b);"
    else:
        return html_text(ly.name)
    style = html_text(f"display:inline-block;width:11px;height:11px;{mark}margin:0 4px -1px 0")
    return f'<span style="{style}"></span>' + html_text(ly.name)


def swatch(color: str, label: str, *, line: bool = False) -> str:
    """Legend entry: a colour square (or line) and a label (both shown as text, escaped)."""
    shape = f"border:2px solid {color};" if line else f"background:{color};"
    style = html_text(f"display:inline-block;width:12px;height:12px;{shape}margin-right:5px")
    return f'<div><span style="{style}"></span>{html_text(label)}</div>'


def ramp(cmap: str, label: str, lo: str = "0", hi: str = "1") -> str:
    """Legend entry: a colour ramp of a matplotlib colour map with its end values (texts escaped)."""
    import matplotlib

    stops = ", ".join(matplotlib.colors.to_hex(matplotlib.colormaps[cmap](v)) for v in np.linspace(0, 1, 6))
    return (
        f"<div>{html_text(label)}</div><div style='display:flex;align-items:center;gap:4px'>{html_text(lo)}"
        f"<span style='display:inline-block;width:90px;height:10px;background:linear-gradient(to right, {stops})'>"
        f"</span>{html_text(hi)}</div>"
    )


def leaflet_map(layers: Sequence[Layer], *, height: int = 560, note: str = "") -> HtmlBlock:
    """The map as one self-contained HTML block (Leaflet JS and CSS inline).

    Args:
        layers: Base layers first (the first is shown), then overlays in drawing order.
        height: Map height in CSS pixels.
        note: A line shown under the map (text, escaped).

    Returns:
        An :class:`~glacierlab.reports.tables.HtmlBlock` (displays in notebooks and in nbconvert HTML).
    """
    if not layers:
        raise InputError("no layers for the map; pass at least one image or vector layer.")
    js, css = leaflet_assets()
    div = "glmap-" + uuid.uuid4().hex[:10]
    spec = [
        {
            "name": ly.name,
            "label": _control_label(ly),
            "kind": ly.kind,
            "data": ly.data if ly.kind != "vector" else None,
            "geojson": json.loads(ly.data) if ly.kind == "vector" else None,
            "bounds": ly.bounds,
            "visible": ly.visible,
            "style": ly.style,
        }
        for ly in layers
    ]
    bounds = [ly.bounds for ly in layers if ly.bounds]
    legend = "".join(ly.legend for ly in layers if ly.legend)
    data = {"layers": spec, "bounds": bounds, "legend": legend}
    script = f"""
(function() {{
  var cfg = JSON.parse(document.getElementById("{div}-data").textContent);
  function text(t) {{ var d = document.createElement("div"); d.textContent = String(t); return d.innerHTML; }}
  function popup(name, p) {{
    var box = document.createElement("div"), b = document.createElement("b"), t = document.createElement("table");
    b.textContent = name; box.appendChild(b); box.appendChild(t);
    Object.keys(p).forEach(function(k) {{
      var tr = t.insertRow(), th = document.createElement("th"), td = document.createElement("td");
      th.style.textAlign = "left"; th.style.paddingRight = "6px";
      th.textContent = k; td.textContent = String(p[k]); tr.appendChild(th); tr.appendChild(td);
    }});
    return box;
  }}
  var map = L.map("{div}", {{zoomSnap: 0.25, preferCanvas: false}});
  var bases = {{}}, overlays = {{}}, all = [], firstBase = true;
  cfg.layers.forEach(function(s) {{
    var layer;  // s.label: the layer control's entry, escaped in Python (_control_label)
    if (s.kind === "vector") {{
      layer = L.geoJSON(s.geojson, {{style: s.style, onEachFeature: function(f, l) {{
        var p = f.properties || {{}};
        if (Object.keys(p).length) {{ l.bindPopup(function() {{ return popup(s.name, p); }}); }}
      }}}});
    }} else {{
      layer = L.imageOverlay(s.data, s.bounds, {{opacity: s.style.opacity, className: "gl-" + s.kind}});
    }}
    all.push(layer);
    if (s.kind === "base") {{
      bases[s.label] = layer;
      if (firstBase) {{ layer.addTo(map); firstBase = false; }}
    }} else {{
      overlays[s.label] = layer;
      if (s.visible) {{ layer.addTo(map); }}
    }}
  }});
  L.control.layers(bases, overlays, {{collapsed: false}}).addTo(map);
  L.control.scale({{imperial: false}}).addTo(map);
  var legend = L.control({{position: "bottomright"}});
  legend.onAdd = function() {{
    var d = L.DomUtil.create("div", "gl-legend");
    d.innerHTML = cfg.legend;  // built by swatch()/ramp() with every label escaped
    return d;
  }};
  if (cfg.legend) {{ legend.addTo(map); }}
  var b = cfg.bounds;
  if (b.length) {{
    var lb = L.latLngBounds(b[0]);
    b.forEach(function(x) {{ lb.extend(x); }});
    map.fitBounds(lb);
  }} else {{
    map.fitBounds(L.featureGroup(all.filter(function(l) {{ return l.getBounds; }})).getBounds());
  }}
}})();"""
    note_html = f"<div style='font-size:12px;color:#444;margin-top:4px'>{html_text(note)}</div>" if note else ""
    style = (
        f"<style>{css}\n#{div} {{height:{height}px;width:100%;background:#e8e8e8;border:1px solid #bbb}}"
        ".gl-legend{background:rgba(255,255,255,0.9);padding:6px 8px;font-size:12px;line-height:1.5;"
        "border-radius:4px;box-shadow:0 0 4px rgba(0,0,0,0.3)}</style>"
    )
    return HtmlBlock(
        f"{style}<div id='{div}' class='glacierlab-map'></div>{note_html}"
        # AMD loaders (classic Jupyter's require.js) would capture Leaflet's UMD bundle: hide define meanwhile
        "<script>if (typeof L === 'undefined') { var glDefine = window.define; window.define = undefined;\n"
        f"{js}\nwindow.define = glDefine; }}</script>"
        f'<script type="application/json" id="{div}-data">{script_json(data)}</script><script>{script}</script>'
    )
