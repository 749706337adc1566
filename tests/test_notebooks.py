"""Every notebook in notebooks/ runs unattended under papermill with small parameters (an error fails).

Also checks the notebook conventions: the first code cell is tagged ``parameters`` and holds only
literal assignments, no cell defines functions, and outputs are stripped.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
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
        "samples_per_epoch": 8,
        "batch_size": 4,
        "device": "cpu",
    },
    "map_glaciers": {
        "bbox": EVEREST_BOX,
        "checkpoint": "{ckpt}",
        "window": 64,
        "stride": 32,
        "mc_samples": 2,
    },
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_conventions(path: Path) -> None:
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0].get("metadata", {}).get("tags", []), "first code cell must be tagged parameters"
    tree = ast.parse("".join(code[0]["source"]))
    for node in tree.body:
        assert isinstance(node, ast.Assign), f"parameters cell: only assignments, got {ast.dump(node)[:60]}"
        ast.literal_eval(node.value)  # raises on anything but literals
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None, "outputs must be stripped"
        defs = [
            n for n in ast.walk(ast.parse("".join(cell["source"]))) if isinstance(n, ast.FunctionDef | ast.ClassDef)
        ]
        assert not defs, "notebooks hold calls only; move functions into the library"


def test_every_notebook_has_small_parameters() -> None:
    assert {p.stem for p in NOTEBOOKS} <= set(SMALL), "add CI parameters for new notebooks to SMALL"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_under_papermill(
    path: Path, tiny_checkpoint: Path, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill as pm

    # in-memory overlays instead of a tile server: the kernel has no browser to serve tiles to
    monkeypatch.setenv("GLACIERLAB_MAP_MODE", "overlay")
    params = {k: (str(tiny_checkpoint) if v == "{ckpt}" else v) for k, v in SMALL[path.stem].items()}
    if "out_dir" in _parameter_names(path):
        params.setdefault("out_dir", str(tmp_path / "out"))
    out = tmp_path / path.name
    pm.execute_notebook(
        str(path),
        str(out),
        parameters=params,
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
        execution_timeout=300,
    )
    executed = json.loads(out.read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def _parameter_names(path: Path) -> set[str]:
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    return {
        t.id
        for n in ast.parse("".join(cell["source"])).body
        for t in getattr(n, "targets", [])
        if isinstance(t, ast.Name)
    }
