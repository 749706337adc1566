"""The batch status page (``index.html``) and ``status.csv`` of a report run.

One row per region: status, duration, the glacier area with its interval and the change over time (from
the ``summary.json`` each report notebook writes), and links to the report, its export bundle and
provenance. Failed regions are also grouped by cause (the exception raised in the notebook), each with
its one-line error and a link to the executed notebook kept for reading the error in context.
"""

from __future__ import annotations

import html
import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glacierlab.files import atomic_path, write_json

if TYPE_CHECKING:
    import pandas as pd

SUMMARY = "summary.json"
_RAISED = re.compile(r"raised (\w+): (.*?)(?: \(executed notebook kept at .*\))?$", re.S)


def write_summary(folder: str | os.PathLike[str], summary: Mapping[str, Any]) -> Path:
    """Write ``<folder>/summary.json`` (what the index shows for the region) atomically.

    Args:
        folder: The region's output folder.
        summary: ``{"area": "...", "change": "...", "links": {label: relative path}}`` (short texts), plus
            ``failed_steps`` (names of analysis steps that failed) when some did.
    """
    return write_json(Path(folder) / SUMMARY, dict(summary), overwrite=True, default=str)


def _summary(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def cause(error: str) -> tuple[str, str]:
    """(exception name, one-line message) of a status-table error text."""
    text = " ".join(str(error).split())
    m = _RAISED.search(text)
    if m:
        return m.group(1), m.group(2)
    name, _, msg = text.partition(": ")
    return (name if re.fullmatch(r"[\w.]+", name) else "Error"), (msg or text)


def _link(target: str, label: str, out: Path) -> str:
    if not target:
        return ""
    rel = os.path.relpath(target, out) if os.path.isabs(target) else target
    # a relative path, percent-encoded: a ':' from data cannot make it a `javascript:` (or any scheme) link
    href = urllib.parse.quote(Path(rel).as_posix())
    return f'<a href="{html.escape(href)}">{html.escape(label)}</a>'


def _level_sentence(levels: set[str]) -> str:
    if len(levels) == 1:
        return (
            f"Every interval and ± on this page is {next(iter(levels))}. A change is only a result where it says "
            "'established'; read each change with the limits in its brackets."
        )
    if levels:
        return f"The reports use different interval levels ({', '.join(sorted(levels))}): see each report's header."
    return ""


def write_index(table: pd.DataFrame, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``out_dir/index.html`` (static, offline) and ``out_dir/status.csv`` from a status table.

    Args:
        table: :func:`glacierlab.reports.runner.run_reports` status table (``region, status, seconds,
            error, traceback, notebook, report``...).
        out_dir: The batch output folder.

    Returns:
        Path of ``index.html``.
    """
    out = Path(out_dir)
    rows: list[str] = []
    levels: set[str] = set()
    failures: dict[str, list[tuple[str, str, str]]] = {}
    for _, r in table.iterrows():
        region = str(r["region"])
        folder = out / region
        info = _summary(folder) if r["status"] != "failed" else {}
        if info.get("level"):
            levels.add(f"{float(info['level']) * 100:.0f} %")
        target = r.get("report") or r.get("notebook") or ""
        name = _link(str(target), region, out) if target else html.escape(region)
        links = [
            _link(str(folder / rel), label, out)
            for label, rel in (info.get("links") or {}).items()
            if (folder / rel).exists()
        ]
        if r["status"] == "failed":
            kind, msg = cause(str(r["error"]))
            failures.setdefault(kind, []).append((region, msg, str(r.get("notebook") or "")))
            links.append(_link(str(r.get("notebook") or ""), "failed notebook", out))
            detail = f'<span class="err">{html.escape(kind)}: {html.escape(msg[:300])}</span>'
        else:
            detail = ""
        if info.get("failed_steps"):  # the report ran; some of its parts could not be computed
            steps = ", ".join(str(x) for x in info["failed_steps"])
            detail += f'<br><span class="err">incomplete: {html.escape(steps[:300])} (see the report)</span>'
        rows.append(
            f'<tr class="{html.escape(str(r["status"]))}"><td>{name}</td><td>{html.escape(str(r["status"]))}</td>'
            f"<td>{float(r['seconds']):.1f}</td><td>{html.escape(str(info.get('area', '')))}</td>"
            f"<td>{html.escape(str(info.get('change', '')))}{detail}</td>"
            f"<td>{' · '.join(x for x in links if x)}</td></tr>"
        )
    counts = table["status"].value_counts().to_dict()
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    groups = []
    for kind, items in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        lis = "".join(
            f"<li>{html.escape(reg)}: {html.escape(msg[:300])} {_link(nb, '(notebook)', out)}</li>"
            for reg, msg, nb in items
        )
        groups.append(
            f"<h3>{html.escape(kind)} ({len(items)} region{'s' if len(items) > 1 else ''})</h3><ul>{lis}</ul>"
        )
    failed_html = "<h2>Failures by cause</h2>" + "".join(groups) if groups else ""
    skipped = (
        " Skipped regions were complete from an earlier run (their figures are from that run)."
        if counts.get("skipped")
        else ""
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>glacierlab regional reports</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1200px; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #bbb; padding: 4px 8px; text-align: left; vertical-align: top; font-size: 14px; }}
th {{ background: #f0f0f0; }} td:nth-child(3) {{ text-align: right; }}
tr.ok td:nth-child(2) {{ color: #176117; }} tr.failed td:nth-child(2) {{ color: #b00020; font-weight: bold; }}
tr.skipped td:nth-child(2) {{ color: #555; }} .err {{ color: #b00020; }} h3 {{ margin-bottom: 0.2em; }}
</style></head><body>
<h1>Regional reports</h1><p>{len(table)} region{"" if len(table) == 1 else "s"}: {html.escape(summary)}.{skipped}</p>
<p>{html.escape(_level_sentence(levels))}</p>
<table><thead><tr><th>region</th><th>status</th><th>duration (s)</th><th>glacier area (km², interval)</th>
<th>change over time</th><th>files</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
{failed_html}
</body></html>
"""
    with atomic_path(out / "index.html", overwrite=True) as tmp:
        tmp.write_text(page, encoding="utf-8")
    with atomic_path(out / "status.csv", overwrite=True) as tmp:
        table.drop(columns=["traceback"]).to_csv(tmp, index=False)
    return out / "index.html"
