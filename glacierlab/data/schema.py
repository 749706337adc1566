"""The pydantic schema of ``data_catalog.yaml`` entries: sources (files with provenance), regions, STAC.

Loading and cross-checking the whole file is :mod:`glacierlab.data.catalog`; the schema is documented
in ``docs/catalog.md``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from glacierlab.errors import unknown_name
from glacierlab.files import safe_name
from glacierlab.geo import BBox
from glacierlab.vocabulary import OPTICAL_BANDS, PRODUCT_LEVELS

SourceKind = Literal["raster", "vector", "netcdf", "hdf5_benchmark", "stac", "file"]
BandRole = Literal["optical", "dem", "mask", "alpha", "elevation_series", "auxiliary"]
SceneRole = Literal["optical", "dem", "reference", "mask", "extra"]
SCENE_ROLES: tuple[str, ...] = ("optical", "dem", "reference", "mask", "extra")
ProductLevel = Literal["toa", "surface", "dn8"]
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$|^\d{4}/\d{4}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative_path(v: str) -> str:
    """A ``seed_path`` must stay inside the cache and seed folders: relative, POSIX, no ``..``."""
    parts = v.split("/")
    if v.startswith(("/", "~")) or "\\" in v or ":" in v or any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            f"must be a relative POSIX path inside the cache (like 'folder/file.tif', no leading '/', "
            f"'~', '..', '.', empty parts, backslashes or drive letters), got {v!r}"
        )
    return v


SeedPath = Annotated[str, AfterValidator(_relative_path)]


class Band(_Strict):
    """One band (raster) or variable (netCDF) of a source, with its role."""

    name: str = Field(min_length=1)
    role: BandRole


class FileEntry(_Strict):
    """A companion file fetched with its source (e.g. the ``.shx/.dbf/.prj`` of a shapefile)."""

    seed_path: SeedPath = Field(min_length=1)
    url: str | None = None
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0, description="bytes")


class Source(_Strict):
    """One data source: a file (plus companions) with provenance, bands and dates."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    kind: SourceKind
    url: str | None = None
    origin: str = Field(min_length=1)
    seed_path: SeedPath | None = None
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
    product_level: ProductLevel | None = Field(
        default=None, description="optical product level, a key of glacierlab.vocabulary.PRODUCT_LEVELS"
    )
    sensor: str = ""
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
        if any(b.role == "optical" for b in self.bands) and self.product_level is None:
            problems.append(
                f"a source with optical bands needs 'product_level' (one of {', '.join(PRODUCT_LEVELS)}): "
                "models must not be fed reflectance when trained on digital numbers, or vice versa"
            )
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

    def provenance_attrs(self) -> dict[str, str]:
        """Provenance attrs (source id, licence, citation, date, origin) to attach to arrays loaded from this source."""
        return {
            "source": self.id,
            "licence": self.licence,
            "citation": self.citation,
            "date": self.date_label,
            "origin": self.url or self.origin,
        }


class Scene(_Strict):
    """The sources that cover a region at one date, per role (ids in priority order).

    A scene is named by its :attr:`key`: its ``id`` when given (several scenes of one region sharing a
    date, or undated clips), else its ``date``.
    """

    date: str
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    optical: tuple[str, ...] = ()
    dem: tuple[str, ...] = ()
    reference: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> str:
        text = v.isoformat() if isinstance(v, dt.date) else str(v)
        if not _DATE.match(text):
            raise ValueError(f"expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY/YYYY, got {text!r}")
        return text

    def ids(self, role: str) -> tuple[str, ...]:
        """Source ids of one role (``optical``, ``dem``, ``reference``, ``mask`` or ``extra``)."""
        return tuple(getattr(self, role))

    @property
    def key(self) -> str:
        """The name that selects this scene in its region (``id``, else ``date``)."""
        return self.id or self.date


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

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        # region ids become folder names (reports, batch outputs): a slug, checked at load time
        return safe_name(v, "region id") if v else v

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        return tuple(BBox.parse(v))  # type: ignore[return-value]

    @model_validator(mode="after")
    def _unique_keys(self) -> Region:
        keys = self.dates
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"scene keys repeat: {dup}; give scenes that share a date an 'id'")
        return self

    @property
    def dates(self) -> list[str]:
        """Scene keys in catalog order (the scene's date, or its ``id`` when it has one)."""
        return [s.key for s in self.scenes]

    def scene(self, date: str | dt.date | None = None) -> Scene:
        """The scene with key (or unique date) ``date`` (default: ``default_date``, else the first scene).

        Raises:
            UnknownNameError: If no scene has that key.
        """
        want = (
            self.default_date
            if date is None
            else (date.isoformat() if isinstance(date, dt.date) else str(date))
        )
        if want is None:
            return self.scenes[0]
        for s in self.scenes:
            if s.key == want:
                return s
        by_date = [s for s in self.scenes if s.date == want]
        if len(by_date) == 1:
            return by_date[0]
        raise unknown_name(
            f"scene (date or id) of region {self.id!r}", want, self.dates, "Pass one of the scene keys."
        )


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
    # DN -> value rule, glacierlab.data.stac_scaling.DN_RULES (evidence per provider in docs/stac.md)
    dn_rule: Literal["item_metadata", "sentinel2_esa", "earthsearch_boa"] = "item_metadata"
    default: bool = False  # searched when stack_bbox/search_scenes get collections=None
    s3_public: bool = False  # s3:// assets lie in a public bucket: read unsigned (AWS_NO_SIGN_REQUEST)
    mask: StacMask | None = None
    product_level: ProductLevel | None = None  # vocabulary.PRODUCT_LEVELS
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
    """A STAC API (search is implemented in ``glacierlab.data.stac``)."""

    id: str
    url: str = Field(pattern=r"^https?://")  # http:// only for local mirrors (e.g. a workshop hub)
    sign: Literal["planetary_computer", "none"] = "none"
    collections: tuple[StacCollection, ...]
