"""Report runner: papermill per region -> offline HTML, index page, failures kept, resumable."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import nbformat.v4 as v4
import pytest

from glacierlab.batch.markers import MARKER
from glacierlab.errors import UnknownNameError
from glacierlab.reports.runner import (
    ReportExecutionError,
    default_template,
    notebook_to_html,
    run_report,
    run_reports,
    template_parameters,
)

pytest.importorskip(
    "papermill", reason="report tests need the notebooks extra: pip install -e '.[notebooks]'"
)

REPO = Path(__file__).resolve().parents[2]


def _notebook(path: Path, *cells: str, params: str = 'region = "x"\nscale = 1.0') -> Path:
    """A tiny fixture notebook: markdown title, a parameters cell, then ``cells``."""
    p = v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb = v4.new_notebook(
        cells=[v4.new_markdown_cell("# Fixture report"), p, *(v4.new_code_cell(c) for c in cells)]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


PLOT_CELL = """import matplotlib
matplotlib.use("agg")
import matplotlib.pyplot as plt
from IPython.display import display
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot([0, 1], [0, scale])
display(fig)
plt.close(fig)
print(f"region {region} scale {scale}")"""


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("templates")
    return {
        # ok unless region == "broken": one template gives a mixed batch
        "ok": _notebook(
            d / "ok.ipynb",
            PLOT_CELL,
            'if region == "broken":\n    raise RuntimeError(f"no data for {region}")',
        ),
        "raising": _notebook(d / "raising.ipynb", "x = 1", 'raise ValueError(f"boom in {region}")', "y = 2"),
    }


@pytest.fixture(scope="module")
def first_run(templates: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("reports")
    table = run_reports(
        ["alpha", "broken", "beta"], out, template=templates["ok"], parameters={"scale": 2.5}, progress=False
    )
    return out, table


def test_batch_status_table_and_failure_kept(first_run) -> None:
    out, table = first_run
    assert list(table["region"]) == ["alpha", "broken", "beta"]
    assert dict(zip(table["region"], table["status"], strict=True)) == {
        "alpha": "ok",
        "broken": "failed",
        "beta": "ok",
    }
    broken = table.set_index("region").loc["broken"]
    assert "RuntimeError" in broken["error"] and "no data for broken" in broken["error"]
    assert "ReportExecutionError" in broken["traceback"]
    # the failed region keeps its executed notebook, with the error output in it
    nb = nbformat.read(out / "broken" / "notebook.ipynb", as_version=4)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert errors and errors[0]["ename"] == "RuntimeError"
    assert not (out / "broken" / "report.html").exists() and not (out / "broken" / MARKER).exists()
    assert (table["seconds"] > 0).all()


def test_html_has_no_code_but_embedded_png_and_no_cdn(first_run) -> None:
    out, _ = first_run
    page = (out / "alpha" / "report.html").read_text()
    assert "region alpha scale 2.5" in page  # outputs of the parameters that were passed as values
    assert "data:image/png;base64," in page
    for code in ("display(fig)", "import matplotlib", "raise RuntimeError", 'class="highlight'):
        assert code not in page
    for tag in re.findall(r"<(?:script|link|img)\b[^>]*>", page):
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", tag), tag
    assert "require.min.js" not in page and "MathJax.js" not in page and "mathjax@" not in page.lower()


def test_index_lists_statuses_and_links(first_run) -> None:
    out, table = first_run
    index = (out / "index.html").read_text()
    assert '<a href="alpha/report.html">alpha</a>' in index
    assert '<a href="broken/notebook.ipynb">broken</a>' in index  # failed: link to the executed notebook
    assert re.search(r'<tr class="failed">.*RuntimeError: no data for broken', index)
    assert index.count('<tr class="ok">') == 2 and "http" not in index
    status = (out / "status.csv").read_text().splitlines()
    assert status[0].startswith("region,status,seconds,error") and len(status) == 4


def test_rerun_skips_complete_redoes_failed_and_corrupt(first_run, templates) -> None:
    out, _ = first_run
    alpha_html = out / "alpha" / "report.html"
    before = alpha_html.read_bytes()
    beta_html = out / "beta" / "report.html"
    beta_html.write_bytes(beta_html.read_bytes()[:1000])  # truncated by a crash or a bad copy
    table = run_reports(
        ["alpha", "broken", "beta"], out, template=templates["ok"], parameters={"scale": 2.5}, progress=False
    )
    assert dict(zip(table["region"], table["status"], strict=True)) == {
        "alpha": "skipped",
        "broken": "failed",
        "beta": "ok",
    }
    assert alpha_html.read_bytes() == before  # not overwritten without the flag
    assert beta_html.read_text().rstrip().endswith("</html>")
    index = (out / "index.html").read_text()
    assert '<tr class="skipped">' in index and "Skipped regions were complete from an earlier run" in index
    again = run_reports(
        ["alpha"], out, template=templates["ok"], parameters={"scale": 3.0}, overwrite=True, progress=False
    )
    assert again["status"].tolist() == ["ok"] and "region alpha scale 3.0" in alpha_html.read_text()


def test_raising_notebook_error_fields(templates, tmp_path: Path) -> None:
    with pytest.raises(ReportExecutionError) as info:
        run_report("gamma", out_dir=str(tmp_path), template=str(templates["raising"]))
    err = info.value
    assert (err.region, err.ename, err.evalue) == ("gamma", "ValueError", "boom in gamma")
    # execution counts: parameters 1, injected-parameters 2, "x = 1" 3, the raising cell 4
    assert err.cell == 4 and err.notebook == tmp_path / "gamma" / "notebook.ipynb" and err.notebook.is_file()


def test_unknown_parameter_fails_before_running(templates, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="scael.*Did you mean 'scale'"):
        run_reports(["a"], tmp_path, template=templates["ok"], parameters={"scael": 2})
    assert not list(tmp_path.iterdir())


def test_notebook_to_html_does_not_clobber(first_run, tmp_path: Path) -> None:
    out, _ = first_run
    dest = tmp_path / "x.html"
    dest.write_text("keep")
    with pytest.raises(FileExistsError, match="overwrite"):
        notebook_to_html(out / "alpha" / "notebook.ipynb", dest)
    assert dest.read_text() == "keep"


def test_template_is_parameterised_calls_only_and_stripped() -> None:
    path = default_template()
    assert path.resolve() == (REPO / "notebooks" / "regional_report.ipynb").resolve()
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    for stmt in ast.parse(code[0].source).body:  # literals only
        assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant | ast.List | ast.Tuple)
    for cell in code:
        assert not any(
            isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Lambda)
            for n in ast.walk(ast.parse(cell.source))
        )
        assert cell.outputs == [] and cell.execution_count is None
    names = {t.id for s in ast.parse(code[0].source).body for t in s.targets}
    assert {"region", "checkpoint", "out_dir", "bbox"} <= names
    assert set(template_parameters(path)) == names  # papermill parses every line (no "=" in comments)
    json.dumps(nb)  # serialisable as committed


@pytest.mark.slow
def test_real_template_on_demo_region(everest_report) -> None:
    import pyogrio
    import pystac

    out, table = everest_report
    row = table.iloc[0]
    assert row["status"] == "ok", row["traceback"]
    page = Path(row["report"]).read_text()
    assert "data:image/png;base64," in page and "reference glacier" in page and "stack_region(" not in page
    # the reader sees the region, not the template's notes for its authors; the tab names the region
    assert "<title>Mount Everest / Khumbu (Nepal): glacier report</title>" in page
    assert "The template of" not in page and "papermill runs it" not in page
    assert "area_a_km2" not in page and "area_b_km2" not in page
    # area with its interval and the measured coverage quoted from the held-out check, one level stated once
    assert "Every interval and every ± in this report is 95 %" in page and "[90 % interval]" not in page
    assert "held-out test blocks" in page and "nominal 95 %" in page
    # the headlines' numbers and caveats are tested without a kernel (tests/analysis/test_analysis.py); here: published
    summary = json.loads((out / "everest" / "summary.json").read_text())
    assert "NOT established" in summary["change"] and "failed_steps" not in summary
    # change over time: reference source dates, the 2020 Sentinel-2 date mapped, the TOA clips refused
    assert "Reference outlines by source date" in page and "2020-04-07" in page
    assert "no change is established" in page or "does **not** exceed" in page.replace(
        "<strong>not</strong>", "**not**"
    )
    assert "top-of-atmosphere" in page  # why the Khumbu Landsat clips are not mapped
    region = out / "everest"
    layers = {n for n, _ in pyogrio.list_layers(region / "export" / "outlines.gpkg")}
    assert {"model_2000-10-30", "model_2020-04-07"} <= layers and any(n.startswith("reference_") for n in layers)
    item = pystac.Item.from_file(str(region / "export" / "item.json"))
    for asset in item.assets.values():
        assert (region / "export" / asset.href).resolve().is_file() or asset.href == "../report.html"
    assert {"outlines", "glaciers", "2000-10-30_probability"} <= set(item.assets)
    prov = json.loads((region / "provenance.json").read_text())
    assert prov["checkpoint"]["name"] == "glavitu_lite_everest.safetensors" and len(prov["checkpoint"]["sha256"]) == 64
    assert all(f["matches"] for f in prov["inputs"]) and {"everest_rgi60_outlines"} <= {
        f["catalog_id"] for f in prov["inputs"]
    }
    assert prov["parameters"]["bbox"] == [86.85, 27.95, 86.95, 28.02] and prov["run"]["seconds"] > 0
    index = (out / "index.html").read_text()
    summary = json.loads((region / "summary.json").read_text())
    assert (
        summary["area"] in index and "2000-10-30 → 2020-04-07" in index and 'href="everest/export/item.json"' in index
    )


def test_cli_report_exit_status_and_index(
    templates, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from glacierlab.cli import main

    rc = main(
        [
            "report",
            "--regions",
            "one,broken",
            "--out",
            str(tmp_path),
            "--template",
            str(templates["ok"]),
            "-p",
            "scale=4.5",
        ]
    )
    assert rc == 1  # a failed region makes the command fail, after the others ran
    assert "reports: 1 failed, 1 ok" in capsys.readouterr().out
    assert "region one scale 4.5" in (tmp_path / "one" / "report.html").read_text()
    assert (tmp_path / "index.html").is_file()
    with pytest.raises(SystemExit):
        main(["report", "--regions", "one", "-p", "not a pair"])
