"""Every notebook runs unattended under papermill: with its defaults on every catalog region it supports,
and with small parameters (fast CI check). Errors fail the test; so does an error output in any cell.

Also checks the notebook conventions (a ``parameters`` cell of literals, no ``def``, outputs stripped),
that a user error is one readable line and fails the run, that outputs land in the workspace (never in
``notebooks/``), and the workshop path explore -> train -> map -> calibrate -> compare without editing a
path. Which regions a notebook supports comes from the catalog (``glacierlab.data.contents``).

Runs that train no model share one kernel (``tests/notebooks/notebook_kernel.py``: papermill's parameter injection,
namespace reset between runs, each run's error raised by its own test); each test that trains has its own.
"""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notebook_kernel import NotebookKernel

from glacierlab.data.catalog import load_catalog
from glacierlab.data.contents import regions_for

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
EVEREST_BOX = [86.80, 27.95, 86.86, 28.00]
# Small parameters per notebook (CI). "{ckpt}" is replaced by a tiny checkpoint made by a fixture.
SMALL: dict[str, dict[str, object]] = {
    "explore_region": {"region": "everest", "bbox": EVEREST_BOX, "glacier_id": ""},
    "train_your_region": {
        "bbox": EVEREST_BOX,
        "variant": "glavitu_tiny",
        "epochs": 1,
        "window": 32,
        "block_size": 64,
        "buffer": 8,
        "samples_per_epoch": 8,
        "batch_size": 4,
        "device": "cpu",
    },
    "map_glaciers": {"bbox": EVEREST_BOX, "checkpoint": "{ckpt}", "window": 64, "stride": 32, "mc_samples": 2},
    "reliability_calibration": {
        "bbox": EVEREST_BOX,
        "checkpoint": "{ckpt}",
        "window": 64,
        "stride": 32,
        "method": "isotonic",
    },
    "compare_outlines": {"region": "hochalmkees", "a": "1850", "b": "2016-08-27"},
    "regional_report": {"region": "everest", "bbox": EVEREST_BOX, "checkpoint": "{ckpt}"},
}
TINY_TRAIN = {k: v for k, v in SMALL["train_your_region"].items() if k != "bbox"}


def _run(name: str, params: dict[str, Any], tmp: Path, monkeypatch: pytest.MonkeyPatch, tag: str = "") -> dict:
    """Execute notebooks/<name>.ipynb in a copy of notebooks/ (the working folder Lab would use)."""
    import papermill as pm

    # in-memory overlays instead of a tile server: the kernel has no browser to serve tiles to
    monkeypatch.setenv("GLACIERLAB_MAP_MODE", "overlay")
    cwd = tmp / "notebooks"
    if not cwd.exists():
        shutil.copytree(REPO / "notebooks", cwd)
    out = tmp / f"{name}{tag}.out.ipynb"
    pm.execute_notebook(
        str(cwd / f"{name}.ipynb"),
        str(out),
        parameters=params,
        kernel_name="python3",
        cwd=str(cwd),
        progress_bar=False,
        execution_timeout=900,
    )
    return _without_errors(json.loads(out.read_text()), cwd)


def _without_errors(executed: dict, cwd: Path) -> dict:
    """``executed``, once no cell holds an error output and nothing was written into ``cwd`` (notebooks/)."""
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    assert not (cwd / "runs").exists() and not (cwd / "outputs").exists(), "outputs written into notebooks/"
    return executed


def _checked(kernel: NotebookKernel, name: str, params: dict[str, Any], tag: str = "") -> dict:
    """``kernel.run`` with ``_run``'s checks: no error output in any cell, nothing written into notebooks/."""
    return _without_errors(kernel.run(name, params, tag), kernel.cwd)


def _kernel_env(workspace: Path) -> dict[str, str]:
    # in-memory overlays instead of a tile server (as in _run); outputs under the given workspace
    return {"GLACIERLAB_MAP_MODE": "overlay", "GLACIERLAB_WORKSPACE": str(workspace)}


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotebookKernel]:
    """One kernel (own workspace, nothing trained in it) for every run here that trains no model.

    A kernel and its imports cost about 7 s of CPU; ~35 runs share this one. Runs that train keep their own
    kernel and workspace, since a trained model changes what the others' default checkpoint is.
    """
    work = tmp_path_factory.mktemp("notebooks-kernel")
    k = NotebookKernel(REPO / "notebooks", work, _kernel_env(work / "workspace"))
    yield k
    k.close()


def _own_kernel(tmp: Path, workspace: Path) -> NotebookKernel:
    """A kernel for one test's sequence of runs in that test's workspace."""
    return NotebookKernel(REPO / "notebooks", tmp, _kernel_env(workspace))


def _stdout(executed: dict) -> str:
    return "".join(
        "".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []) if o.get("name") == "stdout"
    )


def _html(executed: dict) -> list[str]:
    """The text/html outputs of an executed notebook (tables, flagged sentences)."""
    return [
        "".join(o["data"]["text/html"])
        for c in executed["cells"]
        for o in c.get("outputs", [])
        if "text/html" in o.get("data", {})
    ]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path / "workspace"
    monkeypatch.setenv("GLACIERLAB_WORKSPACE", str(ws))
    return ws


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_conventions(path: Path) -> None:
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0].get("metadata", {}).get("tags", []), "first code cell must be tagged parameters"
    tree = ast.parse("".join(code[0]["source"]))
    for node in tree.body:
        assert isinstance(node, ast.Assign), f"parameters cell: only assignments, got {ast.dump(node)[:60]}"
        ast.literal_eval(node.value)  # raises on anything but literals
    from papermill.translators import PythonTranslator

    # papermill understands every parameter (a comment holding "=" makes it log "Unable to parse line")
    assert len(PythonTranslator.inspect({"source": "".join(code[0]["source"])})) == len(tree.body)
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None, "outputs must be stripped"
        defs = [
            n for n in ast.walk(ast.parse("".join(cell["source"]))) if isinstance(n, ast.FunctionDef | ast.ClassDef)
        ]
        assert not defs, "notebooks hold calls only; move functions into the library"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem != "regional_report"], ids=lambda p: p.stem)
def test_workshop_notebooks_set_up_errors_and_paths(path: Path) -> None:
    source = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
    assert "setup_notebook()" in source  # one-line glacierlab errors, workspace paths
    assert '"runs/' not in source and "'runs/" not in source  # no path relative to the kernel's folder


def test_every_notebook_has_small_parameters() -> None:
    assert {p.stem for p in NOTEBOOKS} <= set(SMALL), "add CI parameters for new notebooks to SMALL"


# train_your_region runs (twice, each in its own kernel) in the two workshop tests at the end of this file.
SMALL_RUNS = [p for p in NOTEBOOKS if p.stem != "train_your_region"]


@pytest.mark.parametrize("path", SMALL_RUNS, ids=[p.stem for p in SMALL_RUNS])
def test_notebook_runs_with_small_parameters(
    path: Path,
    tiny_checkpoint: Path,
    tmp_path: Path,
    shared_data: Path,
    kernel: NotebookKernel,
) -> None:
    params = {k: (str(tiny_checkpoint) if v == "{ckpt}" else v) for k, v in SMALL[path.stem].items()}
    if path.stem == "regional_report":
        params["out_dir"] = str(tmp_path / "out")
    _checked(kernel, path.stem, params)


def test_unknown_glacier_id_fails_the_run_with_one_line(
    tmp_path: Path, shared_data: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError) as err:
        _run("explore_region", {"glacier_id": "RGI60-15.99999"}, tmp_path, monkeypatch)
    assert err.value.ename == "UnknownNameError" and "RGI60-15.99999" in err.value.evalue
    executed = json.loads((tmp_path / "explore_region.out.ipynb").read_text())
    tb = [o["traceback"] for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(tb) == 1 and len(tb[0]) == 1 and "%tb" in tb[0][0]  # one readable line, not 30-60


@pytest.mark.slow
@pytest.mark.parametrize("region", load_catalog().region_ids)
def test_explore_region_defaults_on_every_region(region: str, shared_data: Path, kernel: NotebookKernel) -> None:
    executed = _checked(kernel, "explore_region", {"region": region})
    text = _stdout(executed)
    assert "imagery" in text and "layers:" in text
    assert ("map_glaciers.ipynb" in text) or ("STAC" in text)  # one sentence on what to do next


# Every region runs in the cheap notebook (explore_region, above). The notebooks that map run with their
# defaults (Everest, the shipped model) and on one region of reflectance imagery, which the shipped model
# (8-bit numbers) refuses in one sentence; compare_outlines runs with its defaults in the workshop path below.
NOTEBOOK_REGIONS = [
    (nb, region)
    for nb in ("map_glaciers", "reliability_calibration")
    for region in (regions_for(nb)[0], next(r for r in regions_for(nb) if r != regions_for(nb)[0]))
]


@pytest.mark.slow
@pytest.mark.parametrize(("notebook", "region"), NOTEBOOK_REGIONS, ids=[f"{n}-{r}" for n, r in NOTEBOOK_REGIONS])
def test_notebook_defaults_on_each_region_it_supports(
    notebook: str, region: str, shared_data: Path, kernel: NotebookKernel
) -> None:
    text = _stdout(_checked(kernel, notebook, {"region": region}))
    # no trained model in this workspace: the shipped Everest model (8-bit Landsat numbers) maps Everest
    # and says in one sentence why it does not map a region of reflectance imagery
    if region == "everest":
        assert "glacier" in text and "trained on 8-bit" not in text
    else:
        assert "trained on 8-bit digital numbers" in text and "train_your_region.ipynb" in text


@pytest.mark.slow
def test_map_glaciers_everest_2020_rgb_feeds_nir_as_nodata(shared_data: Path, kernel: NotebookKernel) -> None:
    outlines = Path(kernel.env["GLACIERLAB_WORKSPACE"]) / "runs/map_glaciers/outlines.gpkg"
    outlines.unlink(missing_ok=True)  # an earlier run in this shared workspace may have written one
    box = [86.82, 27.94, 86.86, 27.98]  # Khumbu glacier's tongue: the whole 2020 scene costs ~10x more
    text = _stdout(_checked(kernel, "map_glaciers", {"date": "2020-04-07", "bbox": box}))
    assert "nir missing in this scene, fed as no data" in text
    assert outlines.is_file()


@pytest.mark.slow
def test_workshop_path_on_a_toa_region_without_editing_paths(
    tmp_path: Path, shared_data: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """explore -> train -> map -> calibrate -> compare on Khumbu's Landsat TOA clips, default paths only."""
    own = _own_kernel(tmp_path, workspace)  # one kernel for the whole path (namespace reset between runs)
    try:
        _checked(own, "explore_region", {"region": "khumbu"})
        executed = _checked(own, "train_your_region", {"region": "khumbu", **TINY_TRAIN})
        text = _stdout(executed)
        assert "toa imagery" in text and "training from scratch: the shipped Everest model does not fit" in text
        trained = workspace / "runs/train_your_region/model.safetensors"
        assert trained.is_file()
        # the one table; whether a one-epoch tiny model beats "everything is glacier" varies: the red flag and
        # the later steps' default follow the comparison stored in the checkpoint
        from glacierlab.contract.comparison import stored_comparison
        from glacierlab.models.header import header_of

        (table,) = [h for h in _html(executed) if "everything is glacier" in h]
        comparison = stored_comparison(header_of(trained))
        assert comparison is not None and ("#d00000" in table) == (not comparison.beats_baseline)
        text = _stdout(_checked(own, "map_glaciers", {"region": "khumbu"}))
        if comparison.beats_baseline:
            assert f"checkpoint: {trained}" in text and "Using the model train_your_region wrote" in text
        else:
            assert "Using the shipped Everest model" in text and "does not beat 'everything is glacier'" in text
        chosen = {"region": "khumbu", "checkpoint": "runs/train_your_region/model.safetensors"}  # on purpose
        text = _stdout(_checked(own, "map_glaciers", chosen, tag="-own"))
        assert f"checkpoint: {trained}" in text and "done in" in text
        assert (workspace / "runs/map_glaciers/probability.tif").is_file()
        text = _stdout(_checked(own, "reliability_calibration", chosen))
        assert str(trained) in text and "predicted" in text
        _checked(own, "compare_outlines", {})
    finally:
        own.close()


@pytest.mark.slow
def test_train_your_region_defaults_then_map_uses_the_model(
    tmp_path: Path, shared_data: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workshop defaults (glavitu_lite on Everest; docs/workshop.md has the measured time).

    Every default but ``samples_per_epoch`` (16 instead of 128 windows per epoch: the same variant, window,
    blocks, buffer, epochs and scene at an eighth of the training time; the full run is timed in the docs).
    """
    from glacierlab.contract.comparison import stored_comparison
    from glacierlab.models import load_checkpoint
    from glacierlab.models.header import header_of

    own = _own_kernel(tmp_path, workspace)
    try:
        executed = _checked(own, "train_your_region", {"samples_per_epoch": 16})
        text = _stdout(executed)
        assert "96 px windows, 160 px blocks, 32 px buffer" in text  # the defaults fit Everest as they are
        assert "fine-tuning the shipped Everest model" in text  # 8-bit Landsat: the imagery is of its kind
        trained = workspace / "runs/train_your_region/model.safetensors"
        ck = load_checkpoint(trained)
        assert ck.record.product_level == "dn8" and ck.record.window == 96
        log = (workspace / "runs/train_your_region/model_log.csv").read_text().splitlines()
        assert len(log) == 1 + 10  # header + the default 10 epochs
        # one table (no repetition), every row; the model beats "everything is glacier" (benchmarks/train_default.py)
        (table,) = [h for h in _html(executed) if "everything is glacier" in h]
        for row in ("your model", "random forest", "shipped Everest model", "do not touch these test blocks"):
            assert row in table
        comparison = stored_comparison(header_of(trained))
        assert comparison is not None and comparison.beats_baseline and "#d00000" not in table
        text = _stdout(_checked(own, "map_glaciers", {}, tag="-after-training"))
        assert f"checkpoint: {trained}" in text and "done in" in text
        assert "Using the model train_your_region wrote" in text
    finally:
        own.close()
