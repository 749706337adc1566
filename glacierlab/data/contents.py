"""What a catalog region holds (imagery by date and sensor, DEMs, outlines by date) and what it allows.

:func:`region_contents` derives it from the region's scenes and their sources (the catalog stays the one
place that lists files): the region picker shows it, notebooks use it to do what the region allows and
to say in one sentence how to get the rest, and the tests run each notebook on every region it supports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from glacierlab.data.advice import next_step, shipped_model_reads
from glacierlab.data.catalog import Catalog, load_catalog
from glacierlab.errors import InputError
from glacierlab.geo import BBox

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from glacierlab.data.schema import Source

#: Workshop notebooks (``notebooks/<name>.ipynb``) and what each needs from a region.
NOTEBOOK_NEEDS = {
    "explore_region": "nothing: any region (imagery, DEM or outlines)",
    "train_your_region": "a scene with imagery and reference outlines",
    "map_glaciers": "a scene with imagery",
    "reliability_calibration": "a scene with imagery and reference outlines",
    "compare_outlines": "outlines at two or more dates or from two inventories",
}

GET_MORE = (
    "when online, draw a box on the map and press Use drawn box to fetch Sentinel-2 and the Copernicus DEM "
    "through STAC, or map your own download by giving GeoTIFF paths under Your own files "
    "(glacierlab.data.user_files.stack_from_files)"
)


@dataclass(frozen=True)
class Imagery:
    """One optical scene of a region: its key, date, sensor, product level and bands."""

    scene: str
    date: str
    sensor: str
    product_level: str
    bands: tuple[str, ...]
    has_reference: bool


@dataclass(frozen=True)
class OutlineSet:
    """One set of outlines: a label (date, made unique with the source id), the source, the date filter."""

    label: str
    source: str
    date: str | None
    kind: str


@dataclass(frozen=True)
class RegionContents:
    """What a region holds. Build it with :func:`region_contents`."""

    region: str
    name: str
    imagery: tuple[Imagery, ...]
    dems: tuple[tuple[str, str], ...]
    outlines: tuple[OutlineSet, ...]
    default: str = ""

    @property
    def can_map(self) -> bool:
        """A model can run on it (some scene has optical imagery)."""
        return bool(self.imagery)

    @property
    def can_train(self) -> bool:
        """A model can be trained on it (imagery and reference outlines in one scene)."""
        return any(i.has_reference for i in self.imagery)

    @property
    def can_compare(self) -> bool:
        """Two outline sets can be compared glacier by glacier."""
        return len([o for o in self.outlines if o.kind == "vector"]) >= 2

    @property
    def notebooks(self) -> tuple[str, ...]:
        """The workshop notebooks that run on this region (see :data:`NOTEBOOK_NEEDS`)."""
        ok = {
            "explore_region": True,
            "train_your_region": self.can_train,
            "map_glaciers": self.can_map,
            "reliability_calibration": self.can_train,
            "compare_outlines": self.can_compare,
        }
        return tuple(n for n in NOTEBOOK_NEEDS if ok[n])

    def imagery_scene(self, date: str | None = None) -> str:
        """The scene key a model step should use: ``date`` if it has imagery, else the first one that does.

        Raises:
            InputError: The region has no imagery (the message says how to get some).
        """
        keys = [i.scene for i in self.imagery]
        if not keys:
            raise InputError(f"region {self.region!r} holds no optical imagery; {GET_MORE}.")
        for want in (date, self.default):
            if want in keys:
                return str(want)
        return next((i.scene for i in self.imagery if i.has_reference), keys[0])

    def summary(self) -> str:
        """Plain lines: imagery (scenes grouped by sensor, level and date), DEMs, outline sets, what is missing."""
        groups: dict[tuple[str, str, str], list[str]] = {}
        for i in self.imagery:
            groups.setdefault((i.sensor or "unknown sensor", i.product_level, i.date), []).append(i.scene)
        img = "; ".join(
            (f"{keys[0]} ({sensor}, {level})" if keys == [date] else f"{_listed(keys)} ({sensor}, {level}, {date})")
            for (sensor, level, date), keys in groups.items()
        )
        dem = _listed([f"{s} ({d or 'undated'})" for s, d in self.dems])
        out = _listed([o.label for o in self.outlines], 12)
        lines = [f"{self.name}: imagery {img or 'none'}", f"DEM: {dem or 'none'}", f"outlines: {out or 'none'}"]
        hint = self.hint()
        return "\n".join(lines + ([hint] if hint else []))

    def advice(self, scene: str | None = None) -> str:
        """One sentence on what to do next with a scene (``None`` = the default).

        Map it with the shipped model, train on the region first (imagery the shipped model does not
        read, e.g. top-of-atmosphere reflectance, which ``map_glaciers`` refuses with it), or where to get
        imagery.
        """
        key = scene or self.default
        with_imagery = [i.scene for i in self.imagery]
        if not with_imagery:
            return self.hint()
        if key in with_imagery:
            return self._next_step(key, "this scene")
        shown = ", ".join(with_imagery[:4]) + (f" and {len(with_imagery) - 4} more" if len(with_imagery) > 4 else "")
        step = self._next_step(with_imagery[0], f"scene {with_imagery[0]}")
        return f"This scene holds no imagery; the region's scenes with imagery are {shown}: {step[0].lower()}{step[1:]}"

    def _next_step(self, key: str, what: str) -> str:
        level = next(i.product_level for i in self.imagery if i.scene == key)
        where = f'region = "{self.region}", date = "{key}"'
        train = f"on this region first with train_your_region.ipynb ({where})"
        return next_step(level, what, map_how=where, train_how=train)

    def hint(self) -> str:
        """One sentence on how to get what the region lacks for mapping ('' when it lacks nothing)."""
        missing = [w for w, have in (("imagery", self.imagery), ("DEM", self.dems)) if not have]
        if not missing:
            return ""
        return f"This region has no {' or '.join(missing)}: {GET_MORE}."


def files_advice(
    product_level: str,
    catalog: Catalog | None = None,
    *,
    what: str = "your files",
    how: str = "give them under Your own files there",
) -> str:
    """One sentence on what to do next with your own files holding optical imagery of ``product_level``.

    The same rule as :meth:`RegionContents.advice` (:mod:`glacierlab.data.advice`): map them with the shipped
    model, or train a model on imagery of their kind first (on a catalog region that has such imagery and
    reference outlines, named here), then map the files with it.

    Args:
        product_level: The level chosen under Values (a :data:`~glacierlab.vocabulary.PRODUCT_LEVELS` key;
            ``""`` for files without optical imagery).
        catalog: Catalog (default :func:`load_catalog`).
        what: What the inputs are, plural (e.g. ``"this box's Sentinel-2 scenes"`` for a box read through STAC).
        how: How to give them to map_glaciers.ipynb.
    """
    if not product_level:
        return f"{what[0].upper()}{what[1:]} hold no optical imagery, which every model needs: {GET_MORE}."
    if shipped_model_reads(product_level):
        return next_step(product_level, what, map_how=how, train_how="", plural=True)
    cat = catalog or load_catalog()
    regions = [
        rid
        for rid in cat.region_ids
        if any(i.has_reference and i.product_level == product_level for i in region_contents(rid, cat).imagery)
    ]
    on = f" on a region with such imagery ({_listed(regions)})" if regions else " on imagery of their kind"
    return next_step(product_level, what, map_how=how, train_how=f"first with train_your_region.ipynb{on}", plural=True)


def _int_text(value: object) -> str:
    """``519702.0`` -> ``"519702"`` (ids read as floats from .dbf files)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _listed(items: Sequence[str], most: int = 4) -> str:
    """``a, b, c, d and 24 more``."""
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def region_contents(region_id: str, catalog: Catalog | None = None) -> RegionContents:
    """Summarise a catalog region from its scenes and sources.

    Args:
        region_id: Catalog region id.
        catalog: Catalog (default :func:`load_catalog`).

    Returns:
        The region's :class:`RegionContents`.

    Raises:
        UnknownNameError: Unknown region id.
    """
    cat = catalog or load_catalog()
    reg = cat.region(region_id)
    imagery: list[Imagery] = []
    dems: dict[str, str] = {}
    sets: dict[tuple[str, str | None], tuple[str, str]] = {}
    for scene in reg.scenes:
        if scene.optical:
            srcs = [cat.source(s) for s in scene.optical]
            imagery.append(
                Imagery(
                    scene=scene.key,
                    date=scene.date,
                    sensor=" + ".join(dict.fromkeys(s.sensor for s in srcs if s.sensor)),
                    product_level=srcs[0].product_level or "",
                    bands=tuple(b for s in srcs for b in s.band_names("optical")),
                    has_reference=bool(scene.reference),
                )
            )
        for sid in scene.dem:
            dems.setdefault(sid, cat.source(sid).date_label)
        for sid in (*scene.reference, *scene.extra):
            src = cat.source(sid)
            if src.kind == "vector" or (sid in scene.reference and src.band_names("mask")):
                when = scene.date if src.date_attribute else None
                label = when or src.date_label or scene.date
                sets.setdefault((sid, when), (label, src.kind))
    labels = [lab for lab, _ in sets.values()]
    outlines = tuple(
        OutlineSet(label=lab if labels.count(lab) == 1 else f"{lab} {sid}", source=sid, date=when, kind=kind)
        for (sid, when), (lab, kind) in sets.items()
    )
    return RegionContents(
        region_id, reg.name, tuple(imagery), tuple(dems.items()), outlines, default=reg.scene(None).key
    )


def scene_footprint(region_id: str, scene: str | None = None, catalog: Catalog | None = None) -> BBox | None:
    """Lon/lat bounds of a scene's imagery, read from its first optical file's header (no pixels are read).

    Args:
        region_id: Catalog region id.
        scene: Scene key (date or clip id); None: the region's default scene.
        catalog: Catalog (default :func:`load_catalog`).

    Returns:
        The footprint as a :class:`~glacierlab.geo.BBox` in degrees, or None when the scene has no
        imagery or its file declares no CRS (and the catalog gives none).

    Raises:
        UnknownNameError: Unknown region or scene. DataNotFoundError: The file cannot be fetched.
    """
    import rasterio
    from rasterio.warp import transform_bounds

    from glacierlab.data.download import fetch

    cat = catalog or load_catalog()
    sc = cat.region(region_id).scene(scene)
    if not sc.optical:
        return None
    src = cat.source(sc.optical[0])
    with rasterio.open(fetch(src)) as ds:
        crs = ds.crs or (f"EPSG:{src.crs}" if src.crs else None)
        if crs is None:
            return None
        x0, y0, x1, y1 = transform_bounds(crs, "EPSG:4326", *ds.bounds, densify_pts=21)
    return BBox(float(x0), float(y0), float(x1), float(y1))


def regions_for(notebook: str, catalog: Catalog | None = None) -> list[str]:
    """Catalog regions a workshop notebook runs on (see :data:`NOTEBOOK_NEEDS`)."""
    cat = catalog or load_catalog()
    return [rid for rid in cat.region_ids if notebook in region_contents(rid, cat).notebooks]


def scene_outlines(
    region_id: str, date: str | None = None, bbox: Sequence[float] | None = None, catalog: Catalog | None = None
) -> gpd.GeoDataFrame | None:
    """The vector reference outlines of a region's scene within ``bbox`` (None when the scene has none).

    Args:
        region_id: Catalog region id.
        date: Scene key (default: the region's default scene).
        bbox: ``(lon_min, lat_min, lon_max, lat_max)``; default the region's box (a country-wide inventory
            is clipped to it rather than drawn whole).
        catalog: Catalog (default :func:`load_catalog`).
    """
    from glacierlab.data.vectors import load_outlines

    cat = catalog or load_catalog()
    reg = cat.region(region_id)
    scene = reg.scene(date)
    for sid in scene.reference:
        src = cat.source(sid)
        if src.kind == "vector":
            return load_outlines(
                src, date=scene.date if src.date_attribute else None, bbox=BBox.parse(bbox or reg.bbox), catalog=cat
            )
    return None


def outline_areas(
    region_id: str, bbox: Sequence[float] | None = None, catalog: Catalog | None = None
) -> pd.DataFrame:
    """Glacier count and area (km², local UTM) of every vector outline set of a region, in catalog order.

    Args:
        region_id: Catalog region id.
        bbox: Only outlines intersecting this lon/lat box (default: the region's box).
        catalog: Catalog (default :func:`load_catalog`).

    Returns:
        Columns ``outlines`` (the set's label; one row per analysis when analysts' outlines of one date
        differ, e.g. GLIMS ``anlys_id``), ``source``, ``glaciers``, ``area_km2``; empty without outlines.
    """
    import pandas as pd

    from glacierlab.data.vectors import load_outlines
    from glacierlab.geo import utm_epsg

    cat = catalog or load_catalog()
    reg = cat.region(region_id)
    box = BBox.parse(bbox or reg.bbox)
    epsg = utm_epsg((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    rows: list[dict[str, object]] = []
    for o in region_contents(region_id, cat).outlines:
        if o.kind != "vector":  # a glacier mask raster: its area; glaciers are not told apart in it
            rows.append(
                {
                    "outlines": f"{o.label} (mask raster)",
                    "source": o.source,
                    "glaciers": None,
                    "area_km2": _mask_area_km2(cat.source(o.source), box, epsg, cat),
                }
            )
            continue
        gdf = load_outlines(o.source, date=o.date, bbox=box, catalog=cat)
        # several analysts' outlines of one date (GLIMS analyses) are separate sets, never summed
        parts = list(gdf.groupby("anlys_id")) if "anlys_id" in gdf.columns and gdf["anlys_id"].nunique() > 1 else []
        for key, part in parts or [(None, gdf)]:
            rows.append(
                {
                    "outlines": o.label if key is None else f"{o.label} (analysis {_int_text(key)})",
                    "source": o.source,
                    "glaciers": len(part),
                    "area_km2": float(part.to_crs(epsg).geometry.area.sum() / 1e6),
                }
            )
    table = pd.DataFrame(rows, columns=["outlines", "source", "glaciers", "area_km2"])
    return table.astype({"glaciers": "Int64", "area_km2": float})


def _mask_area_km2(src: Source, box: BBox, epsg: int, cat: Catalog) -> float:
    """Glacier area (km², in UTM ``epsg``) of a mask raster source inside ``box``."""
    import numpy as np
    from rasterio.enums import Resampling

    from glacierlab.data.stack import load_layer

    da = load_layer(src, cat, box, "mask")
    if not da.rio.crs.is_projected:
        da = da.rio.reproject(f"EPSG:{epsg}", resampling=Resampling.nearest)
    res_x, res_y = da.rio.resolution()
    values = np.asarray(da.values)  # an integer class raster: a lookup table, 4x faster on 10^8 px
    glacier = np.isin(values, np.asarray(src.glacier_values), kind="table" if values.dtype.kind in "iu" else None)
    return float(glacier.sum() * abs(res_x * res_y) / 1e6)
