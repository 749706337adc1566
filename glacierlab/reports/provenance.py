"""What made a report's numbers: code, checkpoint, input files, parameters, packages, time and machine.

:func:`provenance_record` collects it as a JSON-ready dict, :func:`write_provenance` writes ``provenance.json``
next to the report (atomically) and :func:`provenance_table` shows it in the report. Input files are
hashed as read from disk (sha256) and compared with the catalog's sha256.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from glacierlab.files import file_sha256, write_json

#: Packages whose versions are recorded (those that change the numbers or the files).
PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "rioxarray",
    "rasterio",
    "GDAL",
    "geopandas",
    "shapely",
    "pyproj",
    "pyogrio",
    "torch",
    "safetensors",
    "scikit-learn",
    "matplotlib",
    "papermill",
    "nbconvert",
    "pystac",
)


def git_commit(path: Path | None = None) -> dict[str, Any]:
    """``{"commit": sha, "dirty": bool}`` of the checkout holding the package (``"unknown"`` outside git)."""
    root = path or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
        return {"commit": sha, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown (not a git checkout)", "dirty": None}


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each package ("not installed" when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            if n == "GDAL":
                try:
                    import rasterio

                    out[n] = str(rasterio.__gdal_version__)
                    continue
                except ImportError:
                    pass
            out[n] = "not installed"
    return out


def input_files(source_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Every file of the given catalog sources: id, file name, catalog sha256, measured sha256, match."""
    from glacierlab.data.catalog import load_catalog
    from glacierlab.data.download import fetch

    cat = load_catalog()
    rows = []
    for sid in sorted({s for s in source_ids if s}):
        src = cat.source(sid)
        main = fetch(src)
        entries = [(main, src.sha256)] + [(main.parent / Path(c.seed_path).name, c.sha256) for c in src.companions]
        for path, want in entries:
            got = file_sha256(path) if path.is_file() else "missing"
            rows.append(
                {"catalog_id": sid, "file": path.name, "sha256": got, "catalog_sha256": want, "matches": got == want}
            )
    return rows


def machine() -> dict[str, Any]:
    """Platform, Python, CPU count and torch thread/device facts of this run."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = bool(torch.cuda.is_available())
    except ImportError:
        pass
    return info


def provenance_record(
    *,
    region: str,
    parameters: Mapping[str, Any],
    started: dt.datetime,
    checkpoint: str | os.PathLike[str] | None = None,
    sources: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of one report.

    Args:
        region: Region id.
        parameters: The report's parameters (values).
        started: When the report started (timezone-aware UTC).
        checkpoint: The checkpoint used (None when no model ran).
        sources: Catalog source ids of every input read.
        extra: Other facts (e.g. the area error model), stored under ``"extra"``.

    Returns:
        A JSON-ready dict.
    """
    from glacierlab import __version__

    finished = dt.datetime.now(dt.UTC)
    ck = None
    if checkpoint:
        p = Path(checkpoint)
        ck = {"name": p.name, "sha256": file_sha256(p), "bytes": p.stat().st_size}
    return {
        "glacierlab": {"version": __version__, **git_commit()},
        "region": region,
        "checkpoint": ck,
        "inputs": input_files(sources),
        "parameters": {k: v for k, v in parameters.items()},
        "packages": package_versions(),
        "run": {
            "started_utc": started.isoformat(timespec="seconds"),
            "finished_utc": finished.isoformat(timespec="seconds"),
            "seconds": round((finished - started).total_seconds(), 1),
        },
        "machine": machine(),
        "extra": dict(extra or {}),
    }


def write_provenance(record: Mapping[str, Any], folder: str | os.PathLike[str]) -> Path:
    """Write ``<folder>/provenance.json`` atomically as strict JSON (NaN as null), replacing an older one."""
    return write_json(Path(folder) / "provenance.json", record, overwrite=True, default=str)


def provenance_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """Two-column display table of a provenance record (inputs summarised; full list in the JSON)."""
    g = record["glacierlab"]
    ck = record.get("checkpoint")
    rows = [
        (
            "glacierlab",
            f"{g['version']}, commit {str(g['commit'])[:12]}{' (uncommitted changes)' if g.get('dirty') else ''}",
        ),
        ("checkpoint", f"{ck['name']}, sha256 {ck['sha256']}" if ck else "none (no model ran)"),
    ]
    for f in record["inputs"]:
        ok = "" if f["matches"] else " (DIFFERS from the catalog)"
        rows.append((f"input {f['catalog_id']}", f"{f['file']}, sha256 {f['sha256'][:16]}…{ok}"))
    params = ", ".join(f"{k}={v!r}" for k, v in record["parameters"].items())
    rows.append(("parameters", params))
    pk = record["packages"]
    rows.append(("packages", ", ".join(f"{k} {v}" for k, v in pk.items() if v != "not installed")))
    r, m = record["run"], record["machine"]
    rows.append(("run", f"{r['started_utc']} → {r['finished_utc']} ({r['seconds']} s)"))
    rows.append(("machine", f"{m['platform']}, Python {m['python']}, {m['cpus']} CPUs"))
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")
