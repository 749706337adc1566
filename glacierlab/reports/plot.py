"""Static matplotlib figures (no internet tiles): region overviews and map panels for reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.geo import crs_label
from glacierlab.vocabulary import NODATA

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr
    from matplotlib.figure import Figure


def stretch(rgb: np.ndarray, low: float = 2.0, high: float = 98.0) -> np.ndarray:
    """Percentile stretch of a (3, H, W) or (H, W) array to [0, 1] for display; NaN stays NaN.

    Args:
        rgb: Values in any unit.
        low: Lower percentile (0-100) mapped to 0.
        high: Upper percentile (0-100) mapped to 1.

    Returns:
        float32 array of the same shape with values in [0, 1].
    """
    a = np.asarray(rgb, dtype=np.float32)
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return np.zeros_like(a)
    lo, hi = np.percentile(finite, [low, high])
    return np.clip((a - lo) / max(hi - lo, 1e-12), 0.0, 1.0)


def map_axes(ax: Any, crs: Any) -> None:
    """Label a map panel's axes: kilometres (no ``1e6`` offset) for projected grids, degrees otherwise."""
    from matplotlib.ticker import FuncFormatter

    projected = crs is not None and crs.is_projected
    name = crs_label(crs)
    if projected:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}"))
        ax.set_xlabel(f"easting (km, {name})", fontsize=8)
        ax.set_ylabel("northing (km)", fontsize=8)
    else:
        ax.set_xlabel(f"longitude (°, {name})", fontsize=8)
        ax.set_ylabel("latitude (°)", fontsize=8)
    ax.tick_params(labelsize=7)


def _extent(da: xr.DataArray | xr.Dataset) -> tuple[float, float, float, float]:
    left, bottom, right, top = da.rio.bounds()
    return (left, right, bottom, top)


def rgb_image(optical: xr.DataArray) -> np.ndarray:
    """(H, W, 3) display image from an optical group, chosen by band name (red/green/blue, else the first)."""
    names = [str(b) for b in optical["band"].values]
    if all(b in names for b in ("red", "green", "blue")):
        arr = optical.sel(band=["red", "green", "blue"]).values
    else:
        arr = np.repeat(optical.isel(band=[0]).values, 3, axis=0)
    return np.moveaxis(stretch(arr), 0, -1)


def region_overview(stack: xr.Dataset, title: str = "") -> Figure:
    """Three panels: optical image, elevation with slope shading, and the reference glacier mask.

    Args:
        stack: A dataset from :func:`glacierlab.data.stack.stack_region` (``optical``, optional ``dem``,
            optional ``reference`` with 1 = glacier, 255 = no data).
        title: Figure title.

    Returns:
        The matplotlib figure (not shown; save it with ``fig.savefig``).
    """
    import matplotlib.pyplot as plt

    from glacierlab.data.stack import group

    panels = [p for p in ("optical", "dem", "reference") if p in stack]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.6), constrained_layout=True)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, panels, strict=True):
        da = group(stack, name) if name in ("optical", "dem") else stack[name]
        ext = _extent(stack)
        if name == "optical":
            ax.imshow(rgb_image(da), extent=ext)
            ax.set_title("optical (" + ", ".join(str(b) for b in da["band"].values) + ")")
        elif name == "dem":
            elev = da.sel(band="elevation").values
            im = ax.imshow(elev, extent=ext, cmap="terrain")
            fig.colorbar(im, ax=ax, label="elevation (m)", shrink=0.8)
            valid = np.isfinite(elev).mean() * 100
            ax.set_title(f"DEM ({valid:.0f} % valid)")
        else:
            ref = da.values.astype(float)
            ref[da.values == NODATA] = np.nan
            ax.imshow(ref, extent=ext, cmap="Blues", vmin=0, vmax=1.2, interpolation="nearest")
            frac = np.nanmean(ref) * 100
            ax.set_title(f"reference glacier mask ({frac:.1f} % glacier)")
        map_axes(ax, stack.rio.crs)
    if title:
        fig.suptitle(title)
    return fig


def series_figure(areas: pd.DataFrame, title: str = "", *, z: float = 1.96) -> Figure:
    """Glacier area (km²) of :func:`glacierlab.reports.series.series_areas` against date, error bars ± z sigma."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(areas["date"], areas["area_km2"], "-", color="0.75", zorder=1)
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown")
    for i, (source, g) in enumerate(areas.groupby("source", sort=False)):
        ax.errorbar(
            g["date"],
            g["area_km2"],
            yerr=z * g["sd_km2"],
            fmt="o",
            color=colours[i % len(colours)],
            ecolor="0.4",
            capsize=3,
            label=source,
            zorder=2,
        )
    ax.legend(title="source", fontsize=8)
    ax.set(xlabel="date", ylabel="glacier area (km²)", title=title)
    ax.grid(alpha=0.3)
    return fig
