"""Every report figure (static matplotlib, no internet tiles): overviews, model maps, changes, area series."""

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


def prediction_figure(stack: xr.Dataset, prediction: xr.Dataset, title: str = "") -> Figure:
    """Four panels: optical image, glacier probability, agreement with the reference, confidence.

    Agreement colours: blue = both glacier, red = model only (false positive), orange = reference only
    (false negative), white = both ice-free, grey = no data.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from glacierlab.data.stack import group

    left, bottom, right, top = stack.rio.bounds()
    ext = (left, right, bottom, top)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.8), constrained_layout=True)
    axes[0].imshow(rgb_image(group(stack, "optical")), extent=ext)
    axes[0].set_title("optical")
    im = axes[1].imshow(prediction["probability"].values, extent=ext, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=axes[1], shrink=0.8, label="glacier probability")
    axes[1].set_title("model: glacier probability")
    pred = np.asarray(prediction["mask"].values)
    ref = np.asarray(stack["reference"].values) if "reference" in stack else np.full_like(pred, NODATA)
    agree = np.full(pred.shape, 4, dtype=np.uint8)  # no data
    ok = (pred != NODATA) & (ref != NODATA)
    agree[ok & (pred == 0) & (ref == 0)] = 0
    agree[ok & (pred == 1) & (ref == 1)] = 1
    agree[ok & (pred == 1) & (ref == 0)] = 2
    agree[ok & (pred == 0) & (ref == 1)] = 3
    cmap = ListedColormap(["white", "tab:blue", "tab:red", "orange", "0.7"])
    axes[2].imshow(agree, extent=ext, cmap=cmap, vmin=-0.5, vmax=4.5, interpolation="nearest")
    axes[2].set_title("blue both · red model only · orange reference only")
    im = axes[3].imshow(prediction["confidence"].values, extent=ext, cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(im, ax=axes[3], shrink=0.8, label="confidence")
    axes[3].set_title("confidence")
    for ax in axes:
        map_axes(ax, stack.rio.crs)
    if title:
        fig.suptitle(title)
    return fig


def change_figure(
    stack: xr.Dataset, p_a: np.ndarray, p_b: np.ndarray, rgb_b: np.ndarray | None, label_a: str, label_b: str
) -> Figure:
    """Three panels: the image of date A, the image of date B, and stable / gained / lost ice (p > 0.5).

    Args:
        stack: The stack of date A (its optical image and grid).
        p_a: (H, W) calibrated glacier probability at A (NaN = no data).
        p_b: Same at B, on the same grid.
        rgb_b: (H, W, 3) image of date B in [0, 1], or None.
        label_a: Title of date A's panel.
        label_b: Title of date B's panel.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    from glacierlab.data.stack import group

    left, bottom, right, top = stack.rio.bounds()
    ext = (left, right, bottom, top)
    fig = Figure(figsize=(16, 4.8), layout="constrained")
    axes = fig.subplots(1, 3)
    axes[0].imshow(rgb_image(group(stack, "optical")), extent=ext)
    axes[0].set_title(label_a)
    if rgb_b is not None:
        axes[1].imshow(rgb_b, extent=ext)
    axes[1].set_title(label_b)
    both = np.isfinite(p_a) & np.isfinite(p_b)
    a, b = p_a > 0.5, p_b > 0.5
    cls = np.full(p_a.shape, np.nan)
    cls[both & ~a & ~b] = 0
    cls[both & a & b] = 1
    cls[both & ~a & b] = 2
    cls[both & a & ~b] = 3
    cmap = ListedColormap(["white", "0.6", "tab:blue", "tab:red"])
    axes[2].imshow(cls, extent=ext, cmap=cmap, vmin=-0.5, vmax=3.5, interpolation="nearest")
    axes[2].set_title("grey stable · blue gained · red lost (p > 0.5 masks)")
    for ax in axes:
        map_axes(ax, stack.rio.crs)
    return fig


def series_figure(areas: pd.DataFrame, title: str = "", *, z: float = 1.96) -> Figure:
    """Glacier area (km²) of :func:`glacierlab.analysis.series.series_areas` against date, error bars ± z sigma."""
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


def area_history_figure(table: pd.DataFrame, *, title: str = "", label_col: str = "date") -> Figure:
    """Line-and-marker figure of glacier area (km²) against date.

    Args:
        table: Output of :func:`glacierlab.outlines.change.area_time_series` (columns ``date``,
            ``area_km2``; extra rows with the same date, e.g. two analysts, are drawn as separate markers).
        title: Figure title.
        label_col: Column used for the x axis.

    Returns:
        A matplotlib Figure (not shown; save it with ``fig.savefig``).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(table[label_col], table["area_km2"], "o-", color="tab:blue")
    ax.set_xlabel("date")
    ax.set_ylabel("glacier area (km²)")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig
