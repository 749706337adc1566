"""The README's main job on the built-in demo region (``make demo`` / ``glacierlab demo``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def run_demo(out: Path, region: str = "everest", overwrite: bool = False) -> pd.DataFrame:
    """Run the regional report for the demo region: fetch its data, map glaciers, compare with outlines.

    This is ``glacierlab report --regions <region> --out <out>``: the report notebook is executed with
    papermill and published as static HTML (``<out>/<region>/report.html``) with an index page
    (``<out>/index.html``). A finished report is kept (not recomputed) unless ``overwrite`` is True.

    Args:
        out: Output folder (created).
        region: Catalog region id.
        overwrite: Recompute and replace existing outputs.

    Returns:
        The status table (one row per region).
    """
    from glacierlab.reports.runner import run_reports

    return run_reports([region], Path(out), overwrite=overwrite)
