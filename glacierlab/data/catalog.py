"""Loading ``data_catalog.yaml``: the :class:`Catalog` of sources and regions, validated and cross-checked.

The entry schema lives in :mod:`glacierlab.data.schema` (documented in ``docs/catalog.md``). Validation
reports every bad key at once, each with its path in the file (``sources[3] (id 'x').sha256: ...``), as a
:class:`~glacierlab.errors.CatalogError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from glacierlab.data.schema import (
    SCENE_ROLES,
    Band,
    BandRole,
    FileEntry,
    Region,
    Scene,
    SceneRole,
    Source,
    SourceKind,
    StacCollection,
    StacEndpoint,
    StacMask,
    _Strict,
)
from glacierlab.errors import CatalogError, unknown_name
from glacierlab.files import safe_yaml

# In a checkout this is a symlink to the repository's data_catalog.yaml; wheels carry a copy.
DEFAULT_CATALOG = Path(__file__).resolve().parents[1] / "data_catalog.yaml"

__all__ = [
    "DEFAULT_CATALOG",
    "SCENE_ROLES",
    "Band",
    "BandRole",
    "Catalog",
    "FileEntry",
    "Region",
    "Scene",
    "SceneRole",
    "Source",
    "SourceKind",
    "StacCollection",
    "StacEndpoint",
    "StacMask",
    "load_catalog",
    "validate_catalog",
]


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
                f"Regions are listed in {self.path or 'the catalog'} (glacierlab.data.catalog.load_catalog()).",
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
    out = ""
    node_any: Any = raw
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            item = node_any[part] if isinstance(node_any, list) and part < len(node_any) else None
            if isinstance(item, dict) and "id" in item and out.count("[") == 1:
                out += f" (id {item['id']!r})"
            node_any = item
        else:
            out += ("." if out else "") + str(part)
            node_any = node_any.get(part) if isinstance(node_any, dict) else None
    return out or "<top level>"


def _cross_refs(raw: dict[str, Any]) -> list[str]:
    """Check ids and region -> source references on the raw mapping (tolerant of other errors)."""
    errs: list[str] = []
    sources: list[Any] = raw["sources"] if isinstance(raw.get("sources"), list) else []
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
    regions: dict[Any, Any] = raw["regions"] if isinstance(raw.get("regions"), dict) else {}
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
        dates = [str(s.get("id") or s.get("date")) for s in reg.get("scenes") or [] if isinstance(s, dict)]
        if reg.get("default_date") is not None and str(reg["default_date"]) not in dates:
            errs.append(
                f"regions.{rid}.default_date: {reg['default_date']!r} is not a scene date or id; "
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
    try:
        with open(path, encoding="utf-8") as fh:
            raw = safe_yaml(fh)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path} is not valid YAML: {exc}. Pass a data_catalog.yaml file.") from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"{path} is not a text (UTF-8 YAML) file but binary data ({exc.reason} at byte {exc.start}); "
            "pass a data_catalog.yaml file (path= or GLACIERLAB_CATALOG)."
        ) from exc
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror or exc}.") from exc
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
