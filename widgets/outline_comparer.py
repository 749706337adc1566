"""Outline comparer: two outline sets (two dates, or model vs inventory), a time slider, per-glacier change.

The outline sets are a mapping label -> GeoDataFrame (``from_region`` builds one per date of a catalog
region). Two dropdowns pick A and B; the per-glacier table (area in A and B, change) is shown and kept in
:attr:`OutlineComparer.table`; clicking a glacier on the map shows its row. A slider steps through all
sets in order (time slider). With imagery for two dates, :meth:`split_map` puts them side by side.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from glacierlab.data.catalog import Catalog, load_catalog
from glacierlab.errors import InputError, unknown_name
from glacierlab_widgets._base import WidgetBase

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

STYLE_A = {"color": "#1f77b4", "weight": 1.5, "fillOpacity": 0.15}
STYLE_B = {"color": "#d62728", "weight": 1.5, "fillOpacity": 0.05}
#: Table columns as shown: (column, header, decimals, factor).
SHOWN = (
    ("area_a_km2", "area A (km²)", 3, 1.0),
    ("area_b_km2", "area B (km²)", 3, 1.0),
    ("change_km2", "change (km²)", 3, 1.0),
    ("change_rel", "change (%)", 1, 100.0),
    ("iou", "IoU", 2, 1.0),
    ("mean_boundary_distance_m", "mean boundary distance (m)", 0, 1.0),
    ("hausdorff_m", "Hausdorff distance (m)", 0, 1.0),
)


def _glaciers(n: int) -> str:
    return f"{n} glacier" + ("" if n == 1 else "s")


def table_html(table: pd.DataFrame, id_header: str, rows: int = 30) -> str:
    """The per-glacier table as HTML: one header row, units in the headers, sensible decimals, scrolls."""
    import html as h

    cols = [c for c in SHOWN if c[0] in table.columns]
    head = "".join(f"<th>{h.escape(t)}</th>" for _, t, _, _ in cols)
    body = "".join(
        f"<tr><td>{h.escape(str(gid))}</td>"
        + "".join(
            f"<td style='text-align:right'>{'' if row[c] != row[c] else f'{row[c] * f:.{d}f}'}</td>"
            for c, _, d, f in cols
        )
        + "</tr>"
        for gid, row in table.head(rows).iterrows()
    )
    more = f"<div style='color:#666'>{len(table) - rows} more in comparer.table</div>" if len(table) > rows else ""
    return (
        "<div style='max-width:100%;overflow-x:auto'>"
        "<table class='glacierlab-table' style='border-collapse:collapse'>"
        f"<thead><tr><th>{h.escape(id_header)}</th>{head}</tr></thead><tbody>{body}</tbody></table>{more}</div>"
    )


def _with_ids(gdf: gpd.GeoDataFrame, id_col: str, other: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Outlines with glacier ids; a set without them (a model's polygons) is split along the other set."""
    from glacierlab.outlines.polygons import split_by_inventory

    if id_col in gdf.columns:
        return gdf
    if id_col not in other.columns:
        raise unknown_name(
            "outline column",
            id_col,
            [str(c) for c in gdf.columns],
            "Outlines without glacier ids need an inventory with that column to be split by.",
        )
    pieces = split_by_inventory(gdf, other, id_col=id_col)
    return pieces[pieces[id_col].notna()]


class OutlineComparer(WidgetBase):
    """Compare outline sets glacier by glacier on a map.

    Args:
        outlines: Label (e.g. a date, ``"model"``, ``"inventory"``) -> outlines with a CRS, in time order.
        id_col: Column of glacier ids (RGI/GLIMS); sets without it are split along the other set.
        a: Initial label of set A (default the first). b: Initial label of set B (default the last).
        m: Map to draw on (None: no map).

    Attributes:
        table: Per-glacier DataFrame (index: glacier id) with ``area_a_km2``, ``area_b_km2``,
            ``change_km2``, ``change_rel`` (relative to A), ``iou`` and boundary distances in metres
            (:func:`glacierlab.outlines.change.compare_outlines`) for the current pair.
        selected: The table row of the glacier clicked last (a dict) or None.
    """

    def __init__(
        self,
        outlines: Mapping[str, gpd.GeoDataFrame],
        *,
        id_col: str,
        a: str | None = None,
        b: str | None = None,
        m: Any = None,
    ) -> None:
        import ipywidgets as w

        super().__init__()
        if len(outlines) < 2:
            raise InputError(f"need at least two outline sets to compare, got {list(outlines)}")
        self.outlines = dict(outlines)
        self.id_col = id_col
        self.m = m
        labels = list(self.outlines)
        for name, val in (("a", a), ("b", b)):
            if val is not None and val not in self.outlines:
                raise unknown_name(f"outline set ({name})", val, labels)
        self.table: pd.DataFrame | None = None
        self.selected: dict[str, Any] | None = None
        self._layers: dict[str, Any] = {}
        self.a = w.Dropdown(description="A", options=labels, value=a or labels[0])
        self.b = w.Dropdown(description="B", options=labels, value=b or labels[-1])
        self.time = w.SelectionSlider(
            description="Show",
            options=labels,
            value=self.b.value,
            continuous_update=False,
            layout=w.Layout(width="480px"),
        )
        self.table_view = w.HTML(layout=w.Layout(max_width="100%", overflow="auto"))
        self.legend = w.HTML()
        self.details = w.HTML("<i>click a glacier on the map to see its numbers</i>")
        self.a.observe(self._guarded(self.compare), names="value")
        self.b.observe(self._guarded(self.compare), names="value")
        self._time_handler = self._guarded(lambda: self.show(self.time.value))
        self.time.observe(self._time_handler, names="value")
        self.box.children = [w.HBox([self.a, self.b]), self.time, self.status, self.details, self.table_view]
        if m is not None:
            from ipyleaflet import WidgetControl

            m.add(WidgetControl(widget=self.legend, position="bottomright"))
        self.compare()

    @classmethod
    def from_region(
        cls, region_id: str, *, id_col: str | None = None, catalog: Catalog | None = None, **kwargs: Any
    ) -> OutlineComparer:
        """One outline set per outline date / inventory of a catalog region (its ``region_contents``).

        Args:
            region_id: Catalog region id.
            id_col: Glacier id column (default: the first set's RGI / GLIMS / SGI id column).
            catalog: Catalog (default :func:`load_catalog`).
            **kwargs: ``a``, ``b``, ``m`` as for the constructor.
        """
        from glacierlab.analysis.regional import glacier_id_column
        from glacierlab.data.contents import region_contents
        from glacierlab.data.vectors import load_outlines

        cat = catalog or load_catalog()
        sets = {
            o.label: load_outlines(o.source, date=o.date, catalog=cat)
            for o in region_contents(region_id, cat).outlines
            if o.kind == "vector"
        }
        if id_col is None and sets:
            id_col = glacier_id_column(next(iter(sets.values())))
        return cls(sets, id_col=id_col or "", **kwargs)

    def compare(self) -> pd.DataFrame:
        """Build the per-glacier table for the current A and B, redraw both sets, return the table."""
        from glacierlab.outlines.change import compare_outlines

        la, lb = self.a.value, self.b.value
        oa, ob = self.outlines[la], self.outlines[lb]
        t = compare_outlines(
            _with_ids(oa, self.id_col, ob), _with_ids(ob, self.id_col, oa), id_col=self.id_col
        )
        t.index.name = self.id_col
        self.table = t.sort_values("area_a_km2", ascending=False)
        total_a, total_b = t["area_a_km2"].sum(), t["area_b_km2"].sum()
        self.table_view.value = table_html(self.table, f"glacier ({self.id_col})")
        self._say(
            f"{la} -> {lb}: {_glaciers(len(t))}, {total_a:.3f} -> {total_b:.3f} km² "
            f"({total_b - total_a:+.3f} km²)"
        )
        self._draw({la: STYLE_A, lb: STYLE_B})
        self._quiet_time(lb)  # the slider names what is drawn: A and B, B last
        if self.selected is not None:  # the clicked glacier's summary follows the new pair of dates
            self.select(self.selected["id"])
        self._emit(self.table)
        return self.table

    def _quiet_time(self, label: str) -> None:
        """Move the time slider without redrawing (its observer is paused)."""
        if self.time.value == label:
            return
        self.time.unobserve(self._time_handler, names="value")  # not unobserve_all: see RegionPicker
        self.time.value = label
        self.time.observe(self._time_handler, names="value")

    def show(self, label: str) -> None:
        """Time slider: ``label`` becomes B, so the map, the dropdowns, the table and the clicked glacier agree."""
        if label not in self.outlines:
            raise unknown_name("outline set", label, list(self.outlines))
        if self.b.value == label:
            self.compare()
        else:
            self.b.value = label  # its observer compares and redraws

    def _draw(self, styles: Mapping[str, Mapping[str, Any]]) -> None:
        if self.m is None:
            return
        from glacierlab_widgets.maps import add_outlines, remove_layer

        for layer in self._layers.values():
            remove_layer(self.m, layer)
        self.legend.value = "<div class='glacierlab-legend'><b>outlines</b>" + "".join(
            f"<div><span style='display:inline-block;width:14px;height:10px;margin-right:4px;"
            f"border:2px solid {style['color']}'></span>{'A' if style is STYLE_A else 'B'}: {html.escape(label)}</div>"
            for label, style in styles.items()
        ) + "</div>"
        self._layers = {
            label: add_outlines(
                self.m, self.outlines[label], name=f"outlines {label}", style=style, on_click=self.select
            )
            for label, style in styles.items()
        }

    def select(self, properties: Mapping[str, Any]) -> dict[str, Any] | None:
        """Show the numbers of the glacier whose feature ``properties`` were clicked (or an id string)."""
        gid = str(properties.get(self.id_col)) if isinstance(properties, Mapping) else str(properties)
        if self.table is None or gid not in self.table.index:
            self.selected = None
            self.details.value = (
                f"<i>{html.escape(gid)} is not in the table (no id in column {self.id_col})</i>"
            )
            return None
        row = self.table.loc[gid]
        self.selected = {"id": gid, **{k: float(v) for k, v in row.items()}}
        self.details.value = (
            f"<b>{html.escape(gid)}</b>: {row['area_a_km2']:.3f} km2 ({self.a.value}) -> "
            f"{row['area_b_km2']:.3f} km2 ({self.b.value}), change {row['change_km2']:+.3f} km2"
            + (f" ({100 * row['change_rel']:+.1f} %)" if row["change_rel"] == row["change_rel"] else "")
            + f", IoU {row['iou']:.2f}, mean boundary distance {row['mean_boundary_distance_m']:.0f} m"
        )
        return self.selected

    def split_map(
        self,
        left: str | os.PathLike[str],
        right: str | os.PathLike[str],
        *,
        left_label: str = "A",
        right_label: str = "B",
        indexes: list[int] | None = None,
    ) -> Any:
        """Put two GeoTIFFs side by side on the map (leafmap ``split_map``; needs the tile server).

        Raises:
            InputError: No map, or tiles are unavailable (``maps.map_mode`` resolves to overlay).
        """
        from glacierlab_widgets.maps import map_mode

        if self.m is None:
            raise InputError("this comparer has no map; pass m=new_map(...) to use split_map.")
        if map_mode("auto") != "tiles":
            raise InputError(
                "split_map needs localtileserver tiles (pip install localtileserver, and unset "
                "GLACIERLAB_MAP_MODE=overlay); image overlays cannot be split."
            )
        kw = {"left_args": {"indexes": indexes}, "right_args": {"indexes": indexes}} if indexes else {}
        self.m.split_map(
            left_layer=str(left),
            right_layer=str(right),
            left_label=left_label,
            right_label=right_label,
            add_close_button=True,
            **kw,
        )
        return self.m
