"""Schema and loading of ``data_catalog.yaml``: sources (files with provenance) and regions (scenes).

The schema is documented in ``docs/catalog.md``. Validation reports every bad key at once, each with its
path in the file (``sources[3] (id 'x').sha256: ...``), as a :class:`~glacierlab.errors.CatalogError`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from glacierlab.errors import CatalogError, unknown_name

# In a checkout this is a symlink to the repository's data_catalog.yaml; wheels carry a copy.
DEFAULT_CATALOG = Path(__file__).parent / "data_catalog.yaml"
#: Band names the models know, in their canonical order (``optical`` group).
OPTICAL_BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
SourceKind = Literal["raster", "vector", "netcdf", "hdf5_benchmark", "stac"]
BandRole = Literal["optical", "dem", "mask", "alpha", "elevation_series", "auxiliary"]
SceneRole = Literal["optical", "dem", "reference", "mask", "extra"]
SCENE_ROLES: tuple[str, ...] = ("optical", "dem", "reference", "mask", "extra")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$|^\d{4}/\d{4}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    """One band (raster) or variable (netCDF) of a source, with its role."""

    name: str = Field(min_length=1)
    role: BandRole


class FileEntry(_Strict):
    """A companion file fetched with its source (e.g. the ``.shx/.dbf/.prj`` of a shapefile)."""

    seed_path: str = Field(min_length=1)
    url: str | None = None
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0, description="bytes")


class Source(_Strict):
    """One data source: a file (plus companions) with provenance, bands and dates."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    kind: SourceKind
    url: str | None = None
    origin: str = Field(min_length=1)
    seed_path: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(default=None, gt=0)
    companions: tuple[FileEntry, ...] = ()
    licence: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    bands: tuple[Band, ...] = ()
    role: Literal["outlines"] | None = None
    glacier_values: tuple[int, ...] = (1,)
    nodata: float | None = None
    date: dt.date | None = None
    date_range: tuple[dt.date, dt.date] | None = None
    date_attribute: str | None = None
    crs: int | None = Field(default=None, gt=0)
    stac_endpoint: str | None = None
    collection: str | None = None
    notes: str = ""

    @field_validator("url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("https://", "http://", "file://")):
            raise ValueError(f"must be an http(s):// or file:// URL, got {v!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Source:
        problems = []
        if self.kind != "stac":
            problems += [
                f"'{k}' is required for kind {self.kind!r}"
                for k in ("seed_path", "sha256", "size")
                if getattr(self, k) is None
            ]
        elif not (self.stac_endpoint and self.collection):
            problems.append("kind 'stac' needs 'stac_endpoint' and 'collection'")
        if self.kind in ("raster", "netcdf") and not self.bands:
            problems.append(f"kind {self.kind!r} needs 'bands' (a name and role per band)")
        if self.kind == "vector" and self.role != "outlines":
            problems.append("kind 'vector' needs 'role: outlines'")
        if self.date and self.date_range:
            problems.append("give either 'date' or 'date_range', not both")
        if self.date_range and self.date_range[0] > self.date_range[1]:
            problems.append(f"date_range starts after it ends: {self.date_range[0]} > {self.date_range[1]}")
        names = [b.name for b in self.bands]
        if len(set(names)) != len(names):
            problems.append(f"band names repeat: {names}")
        bad = [b.name for b in self.bands if b.role == "optical" and b.name not in OPTICAL_BANDS]
        if bad:
            problems.append(f"optical band names {bad} are not model band names {list(OPTICAL_BANDS)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def band_names(self, role: str | None = None) -> list[str]:
        """Band names in file order, optionally only those with ``role``."""
        return [b.name for b in self.bands if role is None or b.role == role]

    @property
    def date_label(self) -> str:
        """The acquisition date as ISO text (``start/end`` for a range, ``""`` if unknown)."""
        if self.date:
            return self.date.isoformat()
        if self.date_range:
            return f"{self.date_range[0].isoformat()}/{self.date_range[1].isoformat()}"
        return ""

    def provenance(self) -> dict[str, str]:
        """Attributes to attach to arrays loaded from this source."""
        return {
            "source": self.id,
            "licence": self.licence,
            "citation": self.citation,
            "date": self.date_label,
            "origin": self.url or self.origin,
        }


class Scene(_Strict):
    """The sources that cover a region at one date, per role (ids in priority order)."""

    date: str
    optical: tuple[str, ...] = ()
    dem: tuple[str, ...] = ()
    reference: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> str:
        v = v.isoformat() if isinstance(v, dt.date) else str(v)
        if not _DATE.match(v):
            raise ValueError(f"expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY/YYYY, got {v!r}")
        return v

    def ids(self, role: str) -> tuple[str, ...]:
        """Source ids of one role (``optical``, ``dem``, ``reference``, ``mask`` or ``extra``)."""
        return tuple(getattr(self, role))


class Region(_Strict):
    """A named area with a lon/lat bounding box and its scenes."""

    id: str = ""
    name: str = Field(min_length=1)
    bbox: tuple[float, float, float, float] = Field(
        description="lon_min, lat_min, lon_max, lat_max (EPSG:4326)"
    )
    default_date: str | None = None
    scenes: tuple[Scene, ...] = Field(min_length=1)
    notes: str = ""

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = v
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise ValueError(
                f"expected lon_min < lon_max in [-180, 180] and lat_min < lat_max in [-90, 90], got {v}"
            )
        return v

    @property
    def dates(self) -> list[str]:
        """Scene dates in catalog order."""
        return [s.date for s in self.scenes]

    def scene(self, date: str | dt.date | None = None) -> Scene:
        """The scene at ``date`` (default: ``default_date``, else the first scene).

        Raises:
            UnknownNameError: If no scene has that date.
        """
        want = (
            self.default_date
            if date is None
            else (date.isoformat() if isinstance(date, dt.date) else str(date))
        )
        if want is None:
            return self.scenes[0]
        for s in self.scenes:
            if s.date == want:
                return s
        raise unknown_name(f"date of region {self.id!r}", want, self.dates, "Pass one of the scene dates.")


class StacMask(_Strict):
    """Cloud/shadow mask asset: ``invalid`` SCL classes (kind ``classes``) or QA_PIXEL bits (``bits``)."""

    asset: str = Field(min_length=1)
    kind: Literal["classes", "bits"]
    invalid: tuple[int, ...] = Field(min_length=1)


class StacCollection(_Strict):
    """A STAC collection: model band name -> asset key; reflectance = DN * ``scale`` + ``offset``."""

    id: str
    role: Literal["optical", "dem"]
    bands: dict[str, str]
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None
    mask: StacMask | None = None
    licence: str = ""
    citation: str = ""
    notes: str = ""

    @model_validator(mode="after")
    def _names(self) -> StacCollection:
        valid = OPTICAL_BANDS if self.role == "optical" else ("elevation",)
        bad = sorted(set(self.bands) - set(valid))
        if bad:
            raise ValueError(f"band names {bad} are not model names {list(valid)}")
        return self


class StacEndpoint(_Strict):
    """A STAC API (search is implemented in ``glacierlab.stac``)."""

    id: str
    url: str = Field(pattern=r"^https?://")  # http:// only for local mirrors (e.g. a workshop hub)
    sign: Literal["planetary_computer", "none"] = "none"
    collections: tuple[StacCollection, ...]


class Catalog(_Strict):
    """The validated catalog. Use :func:`load_catalog` to build one."""

    version: Literal[1]
    stac_endpoints: tuple[StacEndpoint, ...] = ()
    sources: tuple[Source, ...]
    regions: dict[str, Region]
    path: str = ""

    @property
    def source_ids(self) -> list[str]:
        """All source ids, in file order."""
        return [s.id for s in self.sources]

    @property
    def region_ids(self) -> list[str]:
        """All region ids, in file order."""
        return list(self.regions)

    def source(self, source_id: str | Source) -> Source:
        """The source with this id (a :class:`Source` is returned as is).

        Raises:
            UnknownNameError: Listing the valid ids and the closest ones.
        """
        if isinstance(source_id, Source):
            return source_id
        for s in self.sources:
            if s.id == source_id:
                return s
        raise unknown_name(
            "source", source_id, self.source_ids, f"Sources are listed in {self.path or 'the catalog'}."
        )

    def region(self, region_id: str) -> Region:
        """The region with this id.

        Raises:
            UnknownNameError: Listing the valid ids and the closest ones.
        """
        if region_id not in self.regions:
            raise unknown_name(
                "region",
                region_id,
                self.region_ids,
                f"Regions are listed in {self.path or 'the catalog'} (glacierlab.catalog.load_catalog()).",
            )
        return self.regions[region_id]

    def stac_endpoint(self, endpoint_id: str) -> StacEndpoint:
        """The STAC endpoint with this id (raises ``UnknownNameError``)."""
        for e in self.stac_endpoints:
            if e.id == endpoint_id:
                return e
        raise unknown_name("STAC endpoint", endpoint_id, [e.id for e in self.stac_endpoints])


def _loc(loc: Iterable[Any], raw: dict[str, Any]) -> str:
    """Render a pydantic location as a path in the file, naming list items by their id."""
    out, node = "", raw
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(item, dict) and "id" in item and out.count("[") == 1:
                out += f" (id {item['id']!r})"
            node = item
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "<top level>"


def _cross_refs(raw: dict[str, Any]) -> list[str]:
    """Check ids and region -> source references on the raw mapping (tolerant of other errors)."""
    errs: list[str] = []
    sources = raw.get("sources") if isinstance(raw.get("sources"), list) else []
    ids = [s.get("id") for s in sources if isinstance(s, dict)]
    seen: set[Any] = set()
    for i, sid in enumerate(ids):
        if sid in seen:
            errs.append(f"sources[{i}].id: duplicate id {sid!r}; ids must be unique")
        seen.add(sid)
    by_id = {s.get("id"): s for s in sources if isinstance(s, dict)}
    endpoints = {e.get("id") for e in raw.get("stac_endpoints") or [] if isinstance(e, dict)}
    for i, s in enumerate(sources):
        if isinstance(s, dict) and s.get("stac_endpoint") and s["stac_endpoint"] not in endpoints:
            errs.append(
                f"sources[{i}] (id {s.get('id')!r}).stac_endpoint: unknown endpoint {s['stac_endpoint']!r}; "
                f"valid: {', '.join(sorted(map(str, endpoints)))}"
            )
    valid = ", ".join(sorted(str(i) for i in ids if i is not None))
    regions = raw.get("regions") if isinstance(raw.get("regions"), dict) else {}
    for rid, reg in regions.items():
        if not isinstance(reg, dict):
            continue
        for j, scene in enumerate(reg.get("scenes") or []):
            if not isinstance(scene, dict):
                continue
            for role in SCENE_ROLES:
                for k, sid in enumerate(scene.get(role) or []):
                    where = f"regions.{rid}.scenes[{j}].{role}[{k}]"
                    src = by_id.get(sid)
                    if src is None:
                        errs.append(f"{where}: unknown source {sid!r}; valid: {valid}")
                        continue
                    errs += [f"{where}: {m}" for m in _role_fits(role, src)]
        dates = [str(s.get("date")) for s in reg.get("scenes") or [] if isinstance(s, dict)]
        if reg.get("default_date") is not None and str(reg["default_date"]) not in dates:
            errs.append(
                f"regions.{rid}.default_date: {reg['default_date']!r} is not a scene date; "
                f"valid: {', '.join(dates)}"
            )
    return errs


def _role_fits(role: str, src: dict[str, Any]) -> list[str]:
    kind = src.get("kind")
    roles = {b.get("role") for b in src.get("bands") or [] if isinstance(b, dict)}
    sid = src.get("id")
    if role == "optical" and not (kind in ("raster", "stac") and "optical" in roles):
        return [f"source {sid!r} has no optical bands (kind {kind!r}, band roles {sorted(map(str, roles))})"]
    if role == "dem" and not (kind in ("raster", "netcdf", "stac") and "dem" in roles):
        return [f"source {sid!r} has no band with role 'dem'"]
    if role in ("reference", "mask") and not (kind == "vector" or "mask" in roles):
        return [f"source {sid!r} is neither outlines (vector) nor a raster with a 'mask' band"]
    return []


def validate_catalog(raw: Any, path: str = "") -> Catalog:
    """Validate a parsed catalog mapping.

    Args:
        raw: The mapping from ``yaml.safe_load``. Top-level keys starting with ``_`` (YAML anchor
            holders) are ignored.
        path: The file it came from (for messages).

    Returns:
        The catalog.

    Raises:
        CatalogError: Listing every bad key with its path in the file.
    """
    if not isinstance(raw, dict):
        raise CatalogError(
            f"{path or 'catalog'}: expected a mapping at the top level, got {type(raw).__name__}"
        )
    raw = {k: v for k, v in raw.items() if not str(k).startswith("_")}
    if isinstance(raw.get("regions"), dict):
        raw["regions"] = {k: {**v, "id": k} if isinstance(v, dict) else v for k, v in raw["regions"].items()}
    errs: list[str] = []
    cat = None
    try:
        cat = Catalog.model_validate({**raw, "path": path})
    except ValidationError as exc:
        for e in exc.errors():
            msg = e["msg"].removeprefix("Value error, ")
            errs.append(
                f"{_loc(e['loc'], raw)}: {msg} (got {e['input']!r})"
                if e["type"] in ("literal_error", "string_pattern_mismatch")
                else f"{_loc(e['loc'], raw)}: {msg}"
            )
    errs += _cross_refs(raw)
    if errs or cat is None:
        raise CatalogError(
            f"{path or 'catalog'} has {len(errs)} error(s):\n  "
            + "\n  ".join(errs)
            + "\nFix these keys (schema: docs/catalog.md)."
        )
    return cat


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> Catalog:
    with open(path, encoding="utf-8") as fh:
        try:
            raw = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise CatalogError(f"{path} is not valid YAML: {exc}") from exc
    return validate_catalog(raw, path)


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Load and validate the data catalog (cached until the file changes).

    Args:
        path: A catalog YAML file; default ``$GLACIERLAB_CATALOG`` or the packaged ``data_catalog.yaml``.

    Returns:
        The validated :class:`Catalog`.

    Raises:
        CatalogError: If the file is missing, not YAML, or breaks the schema (every bad key listed).
    """
    p = Path(path or os.environ.get("GLACIERLAB_CATALOG") or DEFAULT_CATALOG).resolve()
    if not p.is_file():
        raise CatalogError(
            f"catalog file not found: {p}; pass path= or set GLACIERLAB_CATALOG to a data_catalog.yaml"
        )
    return _load_cached(str(p), p.stat().st_mtime_ns)
