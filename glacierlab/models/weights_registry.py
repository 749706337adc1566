"""Weights that carry their metadata (the torchgeo weights-enum idea): ``glacierlab weights list/info/import``.

Every published or shipped set of GlaViTU weights is an entry of ``weights_registry.yaml`` (package
data, read with ``yaml.safe_load``): where to download it (the authors' Google Drive ids), the input
groups and band names, units and product level, the normalisation statistics, the strategy, the
paper-reported IoU per region, the calibrator, licence and citation. Importing an entry
(:func:`glacierlab.models.paper_import.import_weights`) writes a checkpoint that carries all of it, so its model card
(:mod:`glacierlab.models.model_card`) and its inference options come from the checkpoint alone.

Numpy/yaml only at import; torch is imported when weights are converted.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glacierlab.errors import CatalogError, DataNotFoundError, unknown_name
from glacierlab.files import safe_yaml
from glacierlab.vocabulary import BAND_UNITS, PRODUCT_LEVELS, STRATEGIES

REGISTRY_PATH = Path(__file__).with_name("weights_registry.yaml")
KINDS = ("keras_h5", "shipped")
DRIVE_FILE_URL = "https://drive.google.com/uc?id={}"


@dataclass(frozen=True)
class WeightsEntry:
    """One registered set of weights (see ``weights_registry.yaml`` for the meaning of each field).

    Attributes:
        name: Registry name (e.g. ``"glavitu_global"``).
        title: One-line description.
        kind: ``"keras_h5"`` (the authors' Keras file, converted by :func:`import_weights`) or
            ``"shipped"`` (a glacierlab checkpoint inside the package).
        file: File name of the published or shipped weights.
        strategy: One of :data:`STRATEGIES` (GLAVITU_SPEC.md §2).
        bands: Group -> band names in model order (empty for shipped entries: in the checkpoint).
        product_level: Optical product level (``"toa"`` for the paper) or None.
        statistics: Registry statistics name (``"glavitu_dataset"``), or ``"checkpoint"``/None.
        calibrator: Catalog source id of the authors' calibration pickle, ``"checkpoint"`` or None.
        iou: Reported IoU per region code (``mean`` over regions included when reported).
        licence: Licence of the weights. citation: How to cite them.
    """

    name: str
    title: str
    kind: str
    file: str
    strategy: str
    variant: str = "glavitu"
    location: str = "none"
    default_location: str | None = None
    region: str | None = None
    bands: dict[str, list[str]] = field(default_factory=dict)
    product_level: str | None = None
    statistics: str | None = None
    calibrator: str | None = None
    iou: dict[str, float] = field(default_factory=dict)
    iou_source: str = ""
    drive_file_id: str | None = None
    size_mb: float | None = None
    licence: str = ""
    citation: str = ""
    notes: str = ""

    @property
    def download(self) -> str:
        """Where to download the file: its Google Drive URL, else the authors' weights folder."""
        if self.drive_file_id:
            return DRIVE_FILE_URL.format(self.drive_file_id)
        return _registry()["paper"]["weights_folder"] if self.kind == "keras_h5" else "shipped with glacierlab"

    @property
    def units(self) -> dict[str, list[str]]:
        """Group -> unit per band (:data:`~glacierlab.vocabulary.BAND_UNITS`)."""
        return {g: [BAND_UNITS.get(b, "unknown") for b in names] for g, names in self.bands.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (what ``glacierlab weights info NAME --json`` prints)."""
        from dataclasses import asdict

        d = asdict(self)
        d["download"] = self.download
        d["units"] = self.units
        if self.statistics and self.statistics != "checkpoint":
            d["statistics_values"] = statistics(self.statistics, list(self.bands) or None)
            d["statistics_source"] = _registry()["statistics"][self.statistics]["source"]
        return d


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, Any]:
    import yaml

    try:
        data = safe_yaml(REGISTRY_PATH.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise CatalogError(
            f"the weights registry {REGISTRY_PATH} cannot be read ({err}); reinstall glacierlab."
        ) from err
    return dict(data)


def _entry(name: str, raw: Mapping[str, Any]) -> WeightsEntry:
    paper = _registry()["paper"]
    data = dict(raw)
    if data.get("kind") == "keras_h5":
        data.setdefault("licence", " ".join(str(paper["weights_licence"]).split()))
        data.setdefault("citation", " ".join(str(paper["citation"]).split()))
    data["iou"] = {str(k): float(v) for k, v in (data.get("iou") or {}).items()}
    try:
        entry = WeightsEntry(name=name, **data)
    except TypeError as err:
        raise CatalogError(f"weights registry entry {name!r} is malformed: {err}") from err
    problems = []
    if entry.kind not in KINDS:
        problems.append(f"kind {entry.kind!r} not in {KINDS}")
    if entry.strategy not in STRATEGIES:
        problems.append(f"strategy {entry.strategy!r} not in {STRATEGIES}")
    if entry.product_level is not None and entry.product_level not in PRODUCT_LEVELS:
        problems.append(f"product_level {entry.product_level!r} not in {list(PRODUCT_LEVELS)}")
    if problems:
        raise CatalogError(f"weights registry entry {name!r}: " + "; ".join(problems))
    return entry


def list_weights() -> list[str]:
    """Names of the registered weights, in registry order."""
    return list(_registry()["entries"])


def weights_entry(name: str) -> WeightsEntry:
    """The registry entry ``name``.

    Raises:
        UnknownNameError: Not a registered name (the valid ones and the closest are listed).
    """
    entries = _registry()["entries"]
    if name not in entries:
        raise unknown_name("weights", name, entries, "List them with `glacierlab weights list`.")
    return _entry(name, entries[name])


def entry_for_file(path: str | os.PathLike[str]) -> WeightsEntry | None:
    """The keras_h5 entry whose published file name is ``path``'s name, or None."""
    name = Path(path).name
    for n in list_weights():
        e = weights_entry(n)
        if e.kind == "keras_h5" and e.file == name:
            return e
    return None


def statistics(name: str = "glavitu_dataset", groups: Sequence[str] | None = None) -> dict[str, dict[str, list[float]]]:
    """Normalisation statistics ``{group: {"min": [...], "max": [...]}}`` of a registry statistics set.

    Args:
        name: Statistics set (``"glavitu_dataset"``: the paper's training data, GLAVITU_SPEC.md §3.1).
        groups: Groups to return (default: all).

    Raises:
        UnknownNameError: Unknown set or group.
    """
    sets = _registry()["statistics"]
    if name not in sets:
        raise unknown_name("statistics set", name, sets)
    stored = sets[name]["groups"]
    out = {}
    for g in groups if groups is not None else list(stored):
        if g not in stored:
            raise unknown_name(f"group of statistics {name!r}", g, stored)
        out[g] = {"min": [float(x) for x in stored[g]["min"]], "max": [float(x) for x in stored[g]["max"]]}
    return out


def statistics_source(name: str = "glavitu_dataset") -> str:
    """Where a statistics set comes from (repository, commit and file)."""
    return str(_registry()["statistics"][name]["source"])


def paper_citation() -> str:
    """The GlaViTU paper's citation."""
    return " ".join(str(_registry()["paper"]["citation"]).split())


def info(name: str) -> dict[str, Any]:
    """Everything known about ``name`` (shipped entries add their checkpoint header and held-out figures)."""
    entry = weights_entry(name)
    out = entry.to_dict()
    if entry.kind == "shipped":
        import json

        from glacierlab.models.header import header_of
        from glacierlab.weights import shipped_checkpoint_path, shipped_metrics_path

        path = shipped_checkpoint_path(name)
        header = header_of(path)
        out.update(
            path=str(path),
            variant=header.get("variant"),
            bands={g: names for g, _, names in header.get("input_groups", [])},
            inputs=header.get("inputs"),
            options=header.get("options"),
            normalisation=header.get("normalisation"),
        )
        try:
            out["figures"] = json.loads(shipped_metrics_path(name).read_text())
        except DataNotFoundError:
            out["figures"] = None
    return out
