"""DN -> physical value rules for STAC assets: one explicit rule per provider and collection, applied once.

Which rule a collection follows is the ``dn_rule`` of its ``data_catalog.yaml`` entry; each rule decides
``(scale, offset, nodata)`` from the item's own metadata and refuses (:class:`StacError`) where that
metadata is missing or contradicts itself in a way the rule cannot settle. The evidence for each rule is in
``docs/stac.md`` ("DN -> reflectance rules").

Rules:

* ``"item_metadata"``: the item's own raster metadata (STAC 1.1 / raster v2 asset fields ``raster:scale``,
  ``raster:offset``, ``nodata``; or raster v1 ``raster:bands[0]``), else the catalog's values. Landsat C2 L2
  (``DN * 2.75e-5 - 0.2``, nodata 0, as USGS and both catalogs publish), DEMs (metres) and local mirrors.
* ``"sentinel2_esa"``: ESA's L2A rule from the item's processing baseline (``s2:processing_baseline`` or
  ``processing:version``): ``DN * 1e-4``, minus 0.1 (``BOA_ADD_OFFSET`` -1000 DN) from baseline 04.00 on.
  Planetary Computer, Copernicus Data Space and Earth Search Collection 1 (``sentinel-2-c1-l2a``).
* ``"earthsearch_boa"``: Earth Search v1 ``sentinel-2-l2a``, whose COGs of baseline >= 04.00 had the
  offset subtracted already (``earthsearch:boa_offset_applied: true``) although ``raster:bands`` still say
  ``offset: -0.1``: the flag wins (it describes the pixels; the raster:bands offset is copied from ESA's
  product metadata). ``DN * 1e-4``, minus 0.1 only where the flag is false and the baseline is >= 04.00.

Whatever the rule, stated metadata that contradicts it (a scale other than the rule's, an offset neither
the rule's nor explained by the Earth Search flag, raster v1 and v2 fields that disagree) raises
:class:`StacError` naming the item, the asset and what to do, rather than a silently wrong reflectance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pystac

from glacierlab.data.catalog import StacCollection
from glacierlab.errors import StacError

S2_SCALE = 1e-4  # ESA L2A QUANTIFICATION_VALUE 10000
S2_BOA_OFFSET = -0.1  # ESA L2A BOA_ADD_OFFSET -1000 DN, from processing baseline 04.00 (2022-01-25)
S2_OFFSET_BASELINE = (4, 0)
DN_RULES: tuple[str, ...] = ("item_metadata", "sentinel2_esa", "earthsearch_boa")
_FIX = ("Report the item to the provider, or pick the same scene from another collection/endpoint "
        "(stack_bbox(endpoint=..., collections=...)).")


@dataclass(frozen=True)
class Scaling:
    """How one asset's stored numbers become physical values: ``value = DN * scale + offset``.

    Attributes:
        scale: Multiplier (1e-4 for Sentinel-2 L2A reflectance, 2.75e-5 for Landsat C2 L2).
        offset: Added after scaling (reflectance units; -0.1, -0.2 or 0).
        nodata: Stored value meaning "no data" (None: none declared).
        rule: The ``dn_rule`` that decided it, and why (for messages and provenance).
    """

    scale: float
    offset: float
    nodata: float | None
    rule: str


def baseline(item: pystac.Item) -> tuple[int, int] | None:
    """The Sentinel-2 processing baseline ``(major, minor)`` of an item, None when it does not say.

    Read from ``s2:processing_baseline`` (STAC 1.0 items) or ``processing:version`` (STAC 1.1 / CDSE).

    Raises:
        StacError: Both are given and differ, or the value is not ``"NN.NN"``.
    """
    found = {k: item.properties[k] for k in ("s2:processing_baseline", "processing:version")
             if item.properties.get(k) not in (None, "")}
    parsed = set()
    for key, value in found.items():
        try:
            major, minor = str(value).strip().split(".")
            parsed.add((int(major), int(minor)))
        except ValueError as exc:
            raise StacError(f"item {item.id!r}: {key}={value!r} is not a processing baseline 'NN.NN'. "
                            f"{_FIX}") from exc
    if len(parsed) > 1:
        raise StacError(f"item {item.id!r} states two processing baselines {found}. {_FIX}")
    return parsed.pop() if parsed else None


def stated(item: pystac.Item, asset: str) -> dict[str, float | None]:
    """The scale/offset/nodata an item states for an asset (raster v2 / STAC 1.1 fields, then raster v1).

    Returns:
        A dict with the keys the item gives (``scale``, ``offset``, ``nodata``), nothing invented.

    Raises:
        StacError: The v1 ``raster:bands`` and v2 ``raster:*`` fields disagree, or an asset has several
            bands (glacierlab reads single-band assets).
    """
    fields = item.assets[asset].extra_fields
    v2: dict[str, Any] = {k: fields[f] for k, f in (("scale", "raster:scale"), ("offset", "raster:offset"),
                                                   ("nodata", "nodata")) if f in fields}
    bands = fields.get("raster:bands") or []
    if len(bands) > 1:
        raise StacError(f"asset {asset!r} of item {item.id!r} has {len(bands)} raster:bands; glacierlab reads "
                        "single-band assets. Map the model band to a single-band asset in data_catalog.yaml.")
    v1: dict[str, Any] = {k: bands[0][k] for k in ("scale", "offset", "nodata") if bands and k in bands[0]}
    for k in v1.keys() & v2.keys():
        if not _same(v1[k], v2[k]):
            raise StacError(f"asset {asset!r} of item {item.id!r}: raster:bands says {k}={v1[k]} but the "
                            f"STAC 1.1 field says {v2[k]}. {_FIX}")
    return {k: (None if v is None else float(v)) for k, v in {**v1, **v2}.items()}


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12) or (
        math.isnan(float(a)) and math.isnan(float(b)))


def _check(item: pystac.Item, asset: str, got: dict[str, float | None], want: Scaling) -> None:
    for key in ("scale", "offset"):
        if key in got and not _same(got[key], getattr(want, key)):
            raise StacError(
                f"asset {asset!r} of item {item.id!r} states {key}={got[key]} but the {want.rule} rule gives "
                f"{getattr(want, key)}; glacierlab does not guess which is right. {_FIX}"
            )


def _sentinel2(item: pystac.Item, asset: str, coll: StacCollection, earthsearch: bool) -> Scaling:
    got = stated(item, asset)
    nodata = got["nodata"] if "nodata" in got else coll.nodata
    base = baseline(item)
    flag = item.properties.get("earthsearch:boa_offset_applied") if earthsearch else None
    if base is None and flag is not True:
        raise StacError(
            f"item {item.id!r} ({coll.id}) says no processing baseline (s2:processing_baseline or "
            f"processing:version), so glacierlab cannot tell whether its DNs carry the -1000 BOA offset of "
            f"baseline 04.00+. {_FIX}"
        )
    esa_offset = S2_BOA_OFFSET if base is not None and base >= S2_OFFSET_BASELINE else 0.0
    if not earthsearch:
        want = Scaling(S2_SCALE, esa_offset, nodata, "sentinel2_esa")
        _check(item, asset, got, want)
        return want
    if flag is True:  # pixels already shifted by Element 84: the flag wins over raster:bands offset -0.1
        want = Scaling(S2_SCALE, 0.0, nodata, "earthsearch_boa (boa_offset_applied: DN already offset)")
        _check(item, asset, {k: v for k, v in got.items() if not (k == "offset" and _same(v, esa_offset))},
               want)
        return want
    if flag is None and esa_offset != 0.0:
        raise StacError(
            f"item {item.id!r} ({coll.id}, baseline {base}) lacks earthsearch:boa_offset_applied, so "
            f"glacierlab cannot tell whether Element 84 already subtracted the -1000 DN offset. Use "
            f"collections=('sentinel-2-c1-l2a',) (Earth Search Collection 1) for this scene. {_FIX}"
        )
    want = Scaling(S2_SCALE, esa_offset, nodata, "earthsearch_boa (DN as ESA stores them)")
    _check(item, asset, got, want)
    return want


def scaling(item: pystac.Item, asset: str, coll: StacCollection) -> Scaling:
    """The DN -> value rule of one asset of one item, by its collection's ``dn_rule`` (see module doc).

    Args:
        item: The STAC item (its properties and the asset's raster fields are read).
        asset: Asset key.
        coll: The catalog collection (``dn_rule``, fallback ``scale``/``offset``/``nodata``).

    Returns:
        The :class:`Scaling` to apply exactly once.

    Raises:
        StacError: The item's metadata is missing what the rule needs or contradicts it.
    """
    if coll.dn_rule == "item_metadata":
        got = stated(item, asset)
        return Scaling(
            got["scale"] if got.get("scale") is not None else coll.scale,  # type: ignore[arg-type]
            got["offset"] if got.get("offset") is not None else coll.offset,  # type: ignore[arg-type]
            got["nodata"] if "nodata" in got else coll.nodata,
            "item_metadata",
        )
    return _sentinel2(item, asset, coll, earthsearch=coll.dn_rule == "earthsearch_boa")
