"""Report outputs: never written through a symlink leaving the output folder, resumed only when complete,
holding only this run's files, strict JSON.

A small fixture template stands in for the report notebook (papermill runs it in a kernel, like the real
one): it writes an export bundle (``outlines.gpkg``, a CSV, ``item.json`` via the library), a
``provenance.json`` whose record holds NaN, and the index summary.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from glacierlab.errors import GlacierLabError, InputError

pytest.importorskip("papermill", reason="report tests need the notebooks extra: pip install -e '.[notebooks]'")

BUNDLE = '''import datetime as dt
from pathlib import Path
from glacierlab.files import atomic_path
from glacierlab.reports.export import bundle_assets, export_folder, stac_item, write_csv
from glacierlab.reports.index import write_summary
from glacierlab.reports.provenance import write_provenance
import pandas as pd
export = export_folder(out_dir)
with atomic_path(export / "outlines.gpkg", overwrite=True) as tmp:
    tmp.write_bytes(b"outlines of " + region.encode())
write_csv(pd.DataFrame({"area_km2": [1.5, float("nan")]}, index=pd.Index(["a", "b"], name="glacier")),
          export / "glaciers.csv")
stac_item(export, item_id=region, bbox=[13.3, 47.0, 13.4, 47.1], dates=["2016-08-27"],
          assets=bundle_assets(export, extra={"report": ("../report.html", "the report", ["overview"])}),
          properties={"glacierlab:score": float("nan")})
write_provenance({"region": region, "extra": {"sd": float("nan"), "max": float("inf")}}, out_dir)
write_summary(out_dir, {"area": "1.5", "links": {"outlines.gpkg": "export/outlines.gpkg"}})
print("bundle written")'''


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import nbformat
    from nbformat import v4

    params = v4.new_code_cell('region = "x"\nout_dir = ""')
    params.metadata["tags"] = ["parameters"]
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# Bundle fixture"), params, v4.new_code_cell(BUNDLE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path_factory.mktemp("bundle_template") / "bundle.ipynb"
    nbformat.write(nb, path)
    return path


def _run(out: Path, template: Path, **kw: object):
    from glacierlab.reports.runner import run_reports

    return run_reports(["hochalmkees"], out, template=template, progress=False, **kw).set_index("region")


def _strict(path: Path) -> dict:
    bare: list[str] = []
    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=bare.append)
    assert bare == [], f"{path.name} holds bare {bare}: not strict JSON"
    return data


def test_inside_refuses_a_symlinked_component_and_names_it(sandbox) -> None:
    from glacierlab.files import inside
    from glacierlab.reports.export import export_folder

    region = sandbox.out / "r"
    region.mkdir()
    (region / "export").symlink_to(sandbox.victim, target_is_directory=True)
    with pytest.raises(InputError, match=r"through the symlink .*export -> .*victim"):
        inside(sandbox.out, "r/export/glaciers.csv", "output")
    with pytest.raises(GlacierLabError, match="symlink"):
        export_folder(region)  # would otherwise empty the victim folder of stale files
    assert inside(sandbox.out, "r/sub/x.csv") == sandbox.out.resolve() / "r/sub/x.csv"  # plain folders pass


def test_report_refuses_an_export_symlink_leaving_out(sandbox, template: Path) -> None:
    region = sandbox.out / "hochalmkees"
    region.mkdir()
    (region / "export").symlink_to(sandbox.victim, target_is_directory=True)
    table = _run(sandbox.out, template)
    row = table.loc["hochalmkees"]
    assert row["status"] == "failed"
    assert "InputError" in row["error"] and "symlink" in row["error"], row["error"]
    # the sandbox fixture checks that nothing in victim/ was written, replaced or deleted


def test_report_refuses_a_region_folder_symlink(sandbox, template: Path) -> None:
    (sandbox.out / "hochalmkees").symlink_to(sandbox.victim, target_is_directory=True)
    table = _run(sandbox.out, template)
    assert table.loc["hochalmkees", "status"] == "failed"
    assert "leaves its folder" in table.loc["hochalmkees", "error"]
    assert (sandbox.victim / "report.html").read_text().startswith("bait")  # not unlinked through the link


def test_report_replaces_a_file_symlink_in_export_never_writes_through_it(sandbox, template: Path) -> None:
    export = sandbox.out / "hochalmkees" / "export"
    export.mkdir(parents=True)
    (export / "outlines.gpkg").symlink_to(sandbox.victim / "report.html")
    (export / "glaciers.csv").symlink_to(sandbox.victim / "_done.json")
    assert _run(sandbox.out, template).loc["hochalmkees", "status"] == "ok"
    assert not (export / "outlines.gpkg").is_symlink() and not (export / "glaciers.csv").is_symlink()
    assert (export / "outlines.gpkg").read_bytes() == b"outlines of hochalmkees"
    # the sandbox fixture checks that the victim files the links named are unchanged


def test_marker_covers_the_bundle_stale_files_are_dropped_and_json_is_strict(sandbox, template: Path) -> None:
    from glacierlab.batch.markers import MARKER

    folder = sandbox.out / "hochalmkees"
    assert _run(sandbox.out, template).loc["hochalmkees", "status"] == "ok"
    marker = _strict(folder / MARKER)
    assert {
        "report.html",
        "notebook.ipynb",
        "provenance.json",
        "summary.json",
        "export/outlines.gpkg",
        "export/glaciers.csv",
        "export/item.json",
    } <= set(marker["files"])
    prov = _strict(folder / "provenance.json")
    assert prov["extra"] == {"sd": None, "max": None}
    assert _strict(folder / "export" / "item.json")["properties"]["glacierlab:score"] is None

    # complete: skipped; a deleted bundle file: the region runs again and the file is back
    assert _run(sandbox.out, template).loc["hochalmkees", "status"] == "skipped"
    (folder / "export" / "outlines.gpkg").unlink()
    assert _run(sandbox.out, template).loc["hochalmkees", "status"] == "ok"
    assert (folder / "export" / "outlines.gpkg").read_bytes() == b"outlines of hochalmkees"

    # a file an earlier run (or anyone) left in export/ is not part of the next run's bundle
    (folder / "export" / "change_2003_to_1998.csv").write_text("stale\n")
    (folder / "export" / "outlines.gpkg").write_bytes(b"changed")  # makes the region incomplete
    assert _run(sandbox.out, template).loc["hochalmkees", "status"] == "ok"
    assert not (folder / "export" / "change_2003_to_1998.csv").exists()
    item = _strict(folder / "export" / "item.json")
    assert sorted(a["href"] for a in item["assets"].values()) == ["../report.html", "glaciers.csv", "outlines.gpkg"]
    assert not any("change_2003" in f for f in _strict(folder / MARKER)["files"])


def test_strict_json_writes_null_for_non_finite_values(tmp_path: Path) -> None:
    from glacierlab.batch.markers import write_done_marker
    from glacierlab.files import strict_json

    value = {
        "nan": float("nan"),
        "inf": [math.inf, -math.inf, 1.5],
        "np": np.float32("nan"),
        "arr": np.array([1.0, np.nan]),
        "nested": {"t": (np.int64(3), np.bool_(True))},
        "path": tmp_path,
    }
    text = strict_json(value, default=str)
    assert json.loads(text) == {
        "nan": None,
        "inf": [None, None, 1.5],
        "np": None,
        "arr": [1.0, None],
        "nested": {"t": [3, True]},
        "path": str(tmp_path),
    }
    (tmp_path / "a.txt").write_text("a")
    write_done_marker(tmp_path, [tmp_path / "a.txt"], extra={"score": float("nan"), "p": np.float64("inf")})
    assert _strict(tmp_path / "_done.json")["extra"] == {"score": None, "p": None}
    assert "NaN" not in os.fsdecode((tmp_path / "_done.json").read_bytes())
