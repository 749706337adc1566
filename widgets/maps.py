"""Map helpers shared by the widgets: a leafmap map, local rasters, outlines, offline-safe behaviour.

Rasters reach the map in one of two ways:

* ``"tiles"`` — a GeoTIFF **file** is served by localtileserver (``leafmap.Map.add_raster``). In
  JupyterLab, and in Voilà run as a Jupyter-server extension (``/voila/render/...``; Binder:
  ``?urlpath=voila/render/...``), jupyter-loopback proxies the tiles through the notebook server.
  Tiles live only while the kernel does.
* ``"overlay"`` — the array is reprojected to Web Mercator (EPSG:3857, so Leaflet's linear stretch is
  pixel-exact), coloured with matplotlib and embedded as one PNG (``ipyleaflet.ImageOverlay``). Needs
  no server: works where no tile server is possible, and for in-memory arrays.

``mode="auto"`` uses tiles for files when localtileserver is importable and the environment variable
``GLACIERLAB_MAP_MODE`` is not ``overlay``; everything else is an overlay. Basemap tiles come from the
internet; offline they fail in the browser only (grey background) and nothing else breaks.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from glacierlab.errors import InputError, unknown_name
from glacierlab.files import file_sha256
from glacierlab.quiet import quiet, quiet_third_party

if TYPE_CHECKING:
    import geopandas as gpd
    import xarray as xr

MODES = ("auto", "tiles", "overlay")
#: Web Mercator: Leaflet draws image overlays linearly in this CRS.
WEB_MERCATOR = "EPSG:3857"


def map_mode(mode: str = "auto", *, is_file: bool = True) -> str:
    """Resolve how a raster will be drawn.

    Args:
        mode: ``"auto"``, ``"tiles"`` or ``"overlay"``.
        is_file: Whether the raster is a file (only files can be tiled).

    Returns:
        ``"tiles"`` or ``"overlay"``.

    Raises:
        UnknownNameError: Unknown mode.
    """
    if mode not in MODES:
        raise unknown_name("map mode", mode, MODES)
    if mode == "overlay" or not is_file:
        return "overlay"
    if mode == "tiles":
        return "tiles"
    env = os.environ.get("GLACIERLAB_MAP_MODE", "auto")
    if env not in MODES:
        raise unknown_name("GLACIERLAB_MAP_MODE value", env, MODES)
    if env == "overlay" or importlib.util.find_spec("localtileserver") is None:
        return "overlay"
    return "tiles"


def new_map(bounds: Sequence[float] | None = None, *, height: str = "450px", **kwargs: Any) -> Any:
    """A leafmap (ipyleaflet) map with its draw control (boxes drawn land in ``m.user_roi``).

    Args:
        bounds: ``(lon_min, lat_min, lon_max, lat_max)`` in EPSG:4326 to fit the view to.
        height: CSS height of the map.
        **kwargs: ipyleaflet ``Map`` traits (``center``, ``zoom``...). leafmap's own options
            (``height=``, ``draw_control=``...) are not passed: leafmap forwards them to ipyleaflet,
            which warns (traitlets deprecation).

    Returns:
        The ``leafmap.Map``.
    """
    import leafmap

    if bounds is not None:
        x0, y0, x1, y1 = bounds
        kwargs.setdefault("center", [(y0 + y1) / 2, (x0 + x1) / 2])
        kwargs.setdefault("zoom", 11)
    m = leafmap.Map(**kwargs)
    m.layout.height = height
    if bounds is not None:
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    return m


@quiet_third_party
def latlon_bounds(obj: xr.DataArray | gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """``(lon_min, lat_min, lon_max, lat_max)`` of a georeferenced array or GeoDataFrame."""
    from pyproj import Transformer

    if hasattr(obj, "rio"):
        x0, y0, x1, y1 = obj.rio.bounds()
        crs = obj.rio.crs
    else:
        x0, y0, x1, y1 = obj.total_bounds
        crs = obj.crs
    if crs is None:
        raise InputError("the data has no CRS; write one with .rio.write_crs(...) / .set_crs(...) to map it.")
    t = Transformer.from_crs(crs, 4326, always_xy=True)
    lon0, lat0, lon1, lat1 = t.transform_bounds(x0, y0, x1, y1)
    return (float(lon0), float(lat0), float(lon1), float(lat1))


def _rgba(
    arr: np.ndarray, colormap: str | None, vmin: float | None, vmax: float | None, nodata: float | None
) -> np.ndarray:
    """(H, W, 4) uint8 image: RGB stacks are percentile-stretched, single bands coloured by ``colormap``."""
    import matplotlib

    from glacierlab.reports.plot import stretch

    a = np.asarray(arr, dtype=np.float32)
    if nodata is not None:
        a = np.where(a == nodata, np.nan, a)
    if a.ndim == 3 and a.shape[0] == 3:
        rgb = stretch(a)
        alpha = np.isfinite(rgb).all(0)
        out = np.concatenate([np.nan_to_num(rgb), alpha[None].astype(np.float32)], 0)
        return (np.moveaxis(out, 0, -1) * 255).astype(np.uint8)
    if a.ndim == 3:
        a = a[0]
    ok = np.isfinite(a)
    lo = float(np.nanmin(a)) if vmin is None and ok.any() else (vmin or 0.0)
    hi = float(np.nanmax(a)) if vmax is None and ok.any() else (vmax if vmax is not None else 1.0)
    norm = np.clip((a - lo) / max(hi - lo, 1e-12), 0, 1)
    rgba = matplotlib.colormaps[colormap or "viridis"](np.nan_to_num(norm))
    rgba[..., 3] = np.where(ok, rgba[..., 3], 0.0)
    return (rgba * 255).astype(np.uint8)


@quiet_third_party
def overlay_png(
    data: xr.DataArray,
    *,
    colormap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    nodata: float | None = None,
) -> tuple[str, tuple[float, float, float, float]]:
    """Reproject an array to Web Mercator and encode it as a PNG data URL.

    Args:
        data: ``(y, x)`` or ``(band, y, x)`` array with a CRS (three bands = RGB, stretched 2-98 %).
        colormap: Matplotlib colormap for a single band (default ``viridis``).
        vmin: Value mapped to the bottom of the colormap (default: the minimum).
        vmax: Value mapped to the top of the colormap (default: the maximum).
        nodata: Value drawn transparent (NaN always is).

    Returns:
        The ``data:image/png;base64,...`` URL and its ``(lon_min, lat_min, lon_max, lat_max)``.
    """
    from PIL import Image
    from rasterio.enums import Resampling

    if data.rio.crs is None:
        raise InputError("the raster has no CRS; write one with .rio.write_crs(...) to map it.")
    src = data.astype(np.float32)
    if nodata is not None:
        src = src.where(src != nodata)
    merc = src.rio.write_nodata(np.nan).rio.reproject(WEB_MERCATOR, resampling=Resampling.nearest)
    img = Image.fromarray(_rgba(merc.values, colormap, vmin, vmax, None), "RGBA")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return url, latlon_bounds(merc)


def _nan_nodata(path: Any) -> bool:
    """True when a file's nodata is NaN.

    localtileserver 1.0.0 then answers 500 on ``/api/metadata`` (NaN is not valid JSON), so such files
    are drawn as overlays.
    """
    import rasterio

    with rasterio.open(path) as f:
        return f.nodata is not None and bool(np.isnan(f.nodata))


def add_raster(
    m: Any,
    data: str | os.PathLike[str] | xr.DataArray,
    *,
    name: str,
    mode: str = "auto",
    colormap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    nodata: float | None = None,
    indexes: Sequence[int] | None = None,
    opacity: float = 1.0,
) -> Any:
    """Add a raster (GeoTIFF path or DataArray) to a map as tiles or as an image overlay.

    Args:
        m: A map from :func:`new_map`.
        data: GeoTIFF path, or a georeferenced ``(y, x)`` / ``(band, y, x)`` DataArray.
        name: Layer name shown in the layer control.
        mode: ``"auto"``, ``"tiles"`` (files only) or ``"overlay"`` (see the module docstring).
        colormap: Matplotlib colormap name for single-band data.
        vmin: Lower end of the colour scale.
        vmax: Upper end of the colour scale.
        nodata: Value drawn transparent.
        indexes: 1-based bands of a file to draw (e.g. ``[1, 2, 3]`` for RGB).
        opacity: Layer opacity in [0, 1].

    Returns:
        The ipyleaflet layer that was added. A layer of the same name already on the map is replaced
        (its visibility kept), so re-running a cell does not stack copies; the view is not changed.
    """
    visible = _drop_named(m, name)
    is_file = isinstance(data, str | os.PathLike)
    how = map_mode(mode, is_file=is_file)
    if how == "tiles" and mode == "auto" and _nan_nodata(data):
        how = "overlay"
    if how == "tiles":
        kw: dict[str, Any] = {"layer_name": name, "opacity": opacity}
        if colormap:
            kw["colormap"] = colormap
        if indexes is not None:
            kw["indexes"] = list(indexes)
        for key, val in (("vmin", vmin), ("vmax", vmax), ("nodata", nodata)):
            if val is not None:
                kw[key] = val
        from leafmap.common import get_local_tile_layer

        with quiet():  # localtileserver / rio-tiler noise, see glacierlab.quiet.THIRD_PARTY_NOISE
            tiles = get_local_tile_layer(str(data), client_args={"cors_all": False}, **kw)
        # the URL names the file's content: a new map in the same file gets new URLs, so the browser
        # cannot show tiles it cached from an earlier run at a zoom level already viewed
        tiles.url = versioned_url(tiles.url, file_sha256(data)[:16])
        tiles.name, tiles.visible = name, visible
        m.add(tiles)
        return tiles
    if is_file:
        from glacierlab.data.rasters import open_raster

        da = open_raster(data)
        if indexes is not None:
            da = da.isel(band=[i - 1 for i in indexes])
        data = da
    from ipyleaflet import ImageOverlay

    url, (x0, y0, x1, y1) = overlay_png(
        cast("xr.DataArray", data), colormap=colormap, vmin=vmin, vmax=vmax, nodata=nodata
    )
    layer = ImageOverlay(url=url, bounds=((y0, x0), (y1, x1)), name=name, opacity=opacity, visible=visible)
    m.add(layer)
    return layer


def versioned_url(url: str, version: str) -> str:
    """A tile URL template with ``glacierlab_data=<version>`` added to its query.

    The tile server ignores the parameter; the browser's image cache keys on the whole URL, so tiles of
    other data (another run written to the same file) are never taken from the cache.
    """
    return f"{url}{'&' if '?' in url else '?'}glacierlab_data={version}"


def _drop_named(m: Any, name: str) -> bool:
    """Take layers called ``name`` off the map; return whether the (last) one was visible (True if none)."""
    visible = True
    for layer in [x for x in m.layers if getattr(x, "name", None) == name]:
        visible = bool(getattr(layer, "visible", True))
        remove_layer(m, layer)
    return visible


#: Outlines are drawn with vertices closer than this merged (m): a third of a 30 m Landsat pixel.
DRAW_TOLERANCE_M = 10.0


def add_outlines(
    m: Any,
    gdf: gpd.GeoDataFrame,
    *,
    name: str,
    style: Mapping[str, Any] | None = None,
    on_click: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """Add polygons to a map as a GeoJSON layer (reprojected to EPSG:4326, simplified for display).

    The drawn shapes merge vertices closer than :data:`DRAW_TOLERANCE_M` (a third of a Landsat pixel):
    the same picture, a fraction of the data sent to the browser (an inventory clip of 2,000 glaciers
    has 240,000 vertices). ``gdf`` itself, and every attribute a click shows, are unchanged.

    Args:
        m: A map from :func:`new_map`.
        gdf: Outlines with a CRS.
        name: Layer name.
        style: Leaflet path style (default: red outline, light fill).
        on_click: Called with the clicked feature's ``properties`` dict.

    Returns:
        The ``ipyleaflet.GeoJSON`` layer (replacing a layer of the same name, as :func:`add_raster` does).
    """
    from ipyleaflet import GeoJSON

    visible = _drop_named(m, name)
    if gdf.crs is None:
        raise InputError("the outlines have no CRS; set one with gdf.set_crs(...) to map them.")
    drawn = gdf.copy()
    tolerance = DRAW_TOLERANCE_M if gdf.crs.is_projected else DRAW_TOLERANCE_M / 111_000  # metres or degrees
    drawn["geometry"] = gdf.geometry.simplify(tolerance)
    geo = json.loads(drawn.to_crs(4326).to_json(default=str))
    layer = GeoJSON(
        data=geo,
        name=name,
        style=dict(style or {"color": "red", "weight": 1.5, "fillOpacity": 0.1}),
        hover_style={"weight": 3, "fillOpacity": 0.3},
        visible=visible,
    )
    if on_click is not None:
        layer.on_click(lambda feature=None, **_: on_click(dict((feature or {}).get("properties") or {})))
    m.add(layer)
    return layer


def remove_layer(m: Any, layer: Any) -> None:
    """Take a layer off the map if it is there (no error otherwise); the layer widget stays open.

    leafmap's ``Map.remove`` also closes the widget; a closed layer that a control still refers to stops
    Voilà's widget manager from loading *any* widget of the page ("Loading widget..." forever).
    """
    if layer is not None and layer in m.layers:
        m.layers = tuple(x for x in m.layers if x is not layer)
