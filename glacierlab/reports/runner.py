"""Regional reports: run the report notebook per region with papermill, publish static offline HTML.

Each region gets ``out_dir/<region>/``: the executed notebook ``notebook.ipynb`` (kept when a cell fails,
so the error can be read in context), ``report.html`` (no code cells, figures embedded as PNG, no
JavaScript from the internet: it opens offline) and a done-marker. ``out_dir/index.html`` and
``out_dir/status.csv`` list every region with its status, time and error. Regions run one after the
other in-process, or one task each on a Dask client (:mod:`glacierlab.batch.tasks`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glacierlab.batch.markers import clear_marker, incomplete_reason, marked_outputs, write_done_marker
from glacierlab.batch.tasks import Outcome, run_tasks, status_table
from glacierlab.errors import ConfigError, DataNotFoundError, GlacierLabError, unknown_name
from glacierlab.files import atomic_path, inside, safe_name
from glacierlab.geo import crs_label
from glacierlab.reports.index import SUMMARY, write_index
from glacierlab.vocabulary import NODATA

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr
    from distributed import Client

log = logging.getLogger(__name__)

DEFAULT_KERNEL = "python3"
TEMPLATE_NAME = "regional_report.ipynb"

# The JupyterLab look without the CDN scripts (require.js, MathJax, mermaid, widget manager).
_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


class ReportExecutionError(GlacierLabError, RuntimeError):
    """A cell of a region's report notebook raised; the executed notebook is kept at ``notebook``.

    Attributes:
        region: The region id.
        notebook: Path of the executed notebook (with the error output).
        cell: Execution count of the failing cell (None when unknown).
        ename: Exception class name raised in the kernel.
        evalue: Exception message raised in the kernel.
    """

    def __init__(self, region: str, notebook: Path, cell: int | None, ename: str, evalue: str) -> None:
        super().__init__(
            f"region {region!r}: cell [{cell}] raised {ename}: {evalue} "
            f"(executed notebook kept at {notebook})"
        )
        self.region, self.notebook, self.cell, self.ename, self.evalue = region, notebook, cell, ename, evalue


def default_template() -> Path:
    """Path of the ``regional_report.ipynb`` template shipped in the package (``glacierlab/assets``).

    In a checkout the asset is a symlink to ``notebooks/regional_report.ipynb``; wheels carry a copy.
    """
    path = Path(__file__).resolve().parents[1] / "assets" / TEMPLATE_NAME
    if not path.is_file():
        raise DataNotFoundError(
            f"report template {path} not found (installed without the source tree?); "
            f"pass template=<path to {TEMPLATE_NAME}> (CLI: --template)."
        )
    return path


def template_parameters(template: str | os.PathLike[str]) -> dict[str, Any]:
    """Parameter name -> default (as source text) of a template's ``parameters``-tagged cell."""
    import papermill as pm

    return {name: p["default"] for name, p in pm.inspect_notebook(str(template)).items()}


def notebook_to_html(
    notebook: str | os.PathLike[str],
    html_path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    title: str | None = None,
) -> Path:
    """Convert an executed notebook to a static HTML page without code cells.

    Figures stay embedded as base64 PNG and no script is fetched from the internet, so the page opens
    offline. Cells tagged ``remove-cell`` are dropped, and ``remove-output`` cells lose their outputs.

    Args:
        notebook: Executed ``.ipynb``.
        html_path: Destination ``.html`` (written atomically).
        overwrite: Replace an existing file.
        title: The page title (browser tab, bookmarks); default the notebook's file name.

    Returns:
        ``html_path`` as a Path.
    """
    import jinja2
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"glacierlab_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="glacierlab_offline.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={"remove-cell"}, remove_all_outputs_tags={"remove-output"}),
        enabled=True,
    )
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    if title:
        nb.metadata["title"] = title
    path = Path(notebook)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem, "path": str(path.parent)}})
    with atomic_path(html_path, overwrite=overwrite) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return Path(html_path)


def report_outputs(folder: Path) -> list[Path]:
    """Every output of a finished report: page, notebook, provenance, index summary and the export bundle.

    The done-marker lists them all, so a deleted or changed ``export/outlines.gpkg`` makes the region run
    again instead of being skipped. The export folder holds only this run's files
    (:func:`~glacierlab.reports.export.export_folder` empties it when the notebook starts).
    """
    from glacierlab.reports.export import EXPORT, bundle_files

    files = [folder / n for n in ("report.html", "notebook.ipynb", "provenance.json", SUMMARY)]
    export = inside(folder, EXPORT, "export folder")
    return [f for f in files if f.is_file()] + (bundle_files(export) if export.is_dir() else [])


def _region_name(region: str) -> str:
    """The catalog's name of a region (its id when the catalog does not know it)."""
    from glacierlab.data.catalog import load_catalog

    try:
        return load_catalog().region(region).name
    except GlacierLabError:
        return region


def run_report(
    region: str,
    *,
    out_dir: str,
    template: str,
    parameters: Mapping[str, Any] | None = None,
    kernel_name: str = DEFAULT_KERNEL,
    overwrite: bool = False,
    timeout: float | None = None,
) -> Outcome:
    """One region's report (the batch task of :func:`run_reports`).

    Executes ``template`` with papermill into ``out_dir/<region>/notebook.ipynb`` (parameters passed as
    values, ``region`` and ``out_dir`` injected, working directory = the region folder), then writes
    ``report.html`` and the done-marker. Skips the region when its outputs are complete.

    Args:
        region: Region id, passed to the notebook as ``region``.
        out_dir: Batch output folder.
        template: Report notebook with a ``parameters``-tagged cell.
        parameters: Other notebook parameters (values, never code).
        kernel_name: Jupyter kernel to run the notebook with.
        overwrite: Redo the report even when its outputs are complete.
        timeout: Per-cell time limit in seconds (None: no limit).

    Returns:
        ``("ok" | "skipped", {"report": html path, "notebook": ipynb path})``.

    Raises:
        ReportExecutionError: A cell raised (the executed notebook is kept).
    """
    import papermill as pm

    from glacierlab.reports.export import EXPORT, export_folder

    folder = inside(out_dir, safe_name(region, "region id"), "report folder")
    reason = incomplete_reason(folder)
    if reason is None and not overwrite:
        log.info("report %s: complete, skipped", region)
        return "skipped", marked_outputs(folder)
    clear_marker(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nb_path, html_path = folder / "notebook.ipynb", folder / "report.html"
    html_path.unlink(missing_ok=True)  # never leave a page from an older run next to a new notebook
    for name in (SUMMARY, "provenance.json"):  # nor its index summary, provenance or export bundle
        (folder / name).unlink(missing_ok=True)
    if inside(folder, EXPORT, "export folder").is_dir():  # refuses an export symlink leaving the folder
        export_folder(folder)
    params = {**dict(parameters or {}), "region": region}
    if "out_dir" in template_parameters(template):
        params["out_dir"] = str(folder)
    with atomic_path(nb_path, overwrite=True) as tmp:
        try:
            pm.execute_notebook(
                str(template),
                str(tmp),
                parameters=params,
                kernel_name=kernel_name,
                cwd=str(folder),
                progress_bar=False,
                log_output=False,
                execution_timeout=timeout,
                # the kernel's own start-up notices (e.g. "running over TCP without encryption" for a
                # local kernel) are not for the report's reader; its errors still reach the log
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
        except Exception as exc:
            if tmp.is_file() and tmp.stat().st_size:
                os.replace(tmp, nb_path)  # keep the executed notebook of a failed region
            if isinstance(exc, pm.PapermillExecutionError):
                raise ReportExecutionError(region, nb_path, exc.exec_count, exc.ename, exc.evalue) from None
            raise
    notebook_to_html(nb_path, html_path, overwrite=True, title=f"{_region_name(region)}: glacier report")
    write_done_marker(folder, report_outputs(folder), extra={"template": str(template), "parameters": params})
    return "ok", marked_outputs(folder)


def run_reports(
    regions: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    template: str | os.PathLike[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    client: Client | None = None,
    overwrite: bool = False,
    kernel_name: str = DEFAULT_KERNEL,
    timeout: float | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run the report notebook for every region and write an offline index page with the status table.

    A failing region is recorded (error, traceback, executed notebook kept) and the others go on.
    Regions whose outputs are complete are skipped unless ``overwrite``; ``index.html`` and
    ``status.csv`` are rewritten on every run.

    Args:
        regions: Region ids (passed to the notebook as ``region``); each becomes the folder
            ``out_dir/<region>``, so it must be a safe name (:func:`glacierlab.files.safe_name`).
        out_dir: Output folder (created); nothing is written outside it.
        template: Report notebook; default :func:`default_template`.
        parameters: Notebook parameters shared by all regions (values; ``region``/``out_dir`` are set
            per region). Unknown names raise before anything runs.
        client: Dask distributed client (one task per region); None runs in this process.
        overwrite: Redo complete reports.
        kernel_name: Jupyter kernel name (``jupyter kernelspec list``).
        timeout: Per-cell time limit in seconds.
        progress: tqdm bar over finished regions.

    Returns:
        Status table with columns ``region, status, seconds, error, traceback, worker, notebook, report``.

    Raises:
        InputError: A region id is not a safe folder name (``/abs/dir``, ``..``, ``.``, ``a/b``).
        ConfigError, UnknownNameError, DataNotFoundError: Bad regions, parameters or template.
    """
    if isinstance(regions, str) or not regions or len(set(regions)) != len(regions):
        raise ConfigError(f"regions must be a non-empty list of unique ids, got {regions!r}.")
    for r in regions:  # ids become folder names under out_dir: check them before touching any file
        safe_name(r, "region id")
    template = Path(template) if template is not None else default_template()
    if not template.is_file():
        raise DataNotFoundError(f"report template {template} does not exist; pass the path of a .ipynb file.")
    valid = template_parameters(template)
    if "region" not in valid:
        raise ConfigError(
            f'report template {template} has no `region` parameter; add `region = "..."` to its '
            "parameters-tagged cell (found: " + (", ".join(valid) or "no parameters cell") + ")."
        )
    for name in parameters or {}:
        if name not in valid or name in ("region", "out_dir"):
            raise unknown_name(
                "report parameter",
                name,
                set(valid) - {"region", "out_dir"},
                hint=f"They are the names in the parameters cell of {template.name}.",
            )
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tasks = {
        r: {
            "out_dir": str(out),
            "template": str(template.resolve()),
            "parameters": dict(parameters or {}),
            "kernel_name": kernel_name,
            "overwrite": overwrite,
            "timeout": timeout,
        }
        for r in regions
    }
    table = status_table(
        run_tasks(run_report, tasks, client=client, progress=progress, desc="report"), key_name="region"
    )
    for col in ("notebook", "report"):
        if col not in table:
            table[col] = ""
    # A failed region keeps its executed notebook: link it even though no marker lists it.
    for i, row in table.iterrows():
        nb = out / str(row["region"]) / "notebook.ipynb"
        if row["status"] == "failed" and nb.is_file():
            table.loc[i, "notebook"] = str(nb)
    write_index(table, out)
    return table


def region_summary(stack: xr.Dataset) -> pd.DataFrame:
    """A short table describing a region stack: grid, CRS, bands, valid data and glacier fraction.

    Args:
        stack: A dataset from :func:`glacierlab.data.stack.stack_region`.

    Returns:
        Two-column DataFrame (``quantity``, ``value``); fractions in percent.
    """
    import numpy as np
    import pandas as pd

    res = stack.rio.resolution() if stack.rio.crs else (float("nan"), float("nan"))
    rows: list[tuple[str, str]] = [
        ("grid (rows x columns)", f"{stack.sizes['y']} x {stack.sizes['x']}"),
        ("pixel size (CRS units)", f"{abs(res[0]):g} x {abs(res[1]):g}"),
        ("CRS", crs_label(stack.rio.crs)),
    ]
    for group in ("optical", "dem"):
        if group in stack:
            da = stack[group]
            band_dim = next(d for d in da.dims if d not in ("y", "x"))  # "band" or "<group>_band"
            bands = ", ".join(str(b) for b in da[band_dim].values)
            valid = float(np.isfinite(da.transpose(band_dim, ...).values).all(axis=0).mean() * 100)
            rows += [(f"{group} bands", bands), (f"{group} valid pixels (%)", f"{valid:.1f}")]
    if "reference" in stack:
        ref = stack["reference"].values
        labelled = int((ref != NODATA).sum())
        rows.append(("reference glacier (% of labelled)", f"{(ref == 1).sum() / max(labelled, 1) * 100:.1f}"))
    for key in ("date", "source", "sources", "licence", "licences"):
        if key in stack.attrs:
            rows.append((key, str(stack.attrs[key]).replace(",", ", ")))
    return pd.DataFrame(rows, columns=["quantity", "value"])
