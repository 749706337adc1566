"""The package's shape: pins in sync, cheap imports, one import direction, namespaced widgets."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import glacierlab

REPO = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        pins |= set(extra)
    return pins


def test_every_dependency_is_pinned_exactly() -> None:
    loose = [p for p in _pyproject_pins() if "==" not in p]
    assert not loose, f"unpinned dependencies in pyproject.toml: {loose}"


def test_environment_yml_matches_pyproject() -> None:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    deps = env["dependencies"]
    assert any(str(d).startswith("python=3.11") for d in deps)
    pip_list = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert pip_list[0].startswith("--extra-index-url"), "the CPU torch index must come first (Binder only)"
    assert pip_list[1] == "torch==2.13.0", "torch must be installed first and pinned"
    pins = {p for p in pip_list if not p.startswith("-")}
    assert pins == _pyproject_pins(), (
        f"environment.yml and pyproject.toml disagree: only in env {sorted(pins - _pyproject_pins())}, "
        f"only in pyproject {sorted(_pyproject_pins() - pins)}; run `python tools/sync_environment.py`"
    )


def _run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_import_glacierlab_is_cheap() -> None:
    out = _run(
        "import sys, glacierlab, glacierlab.errors, glacierlab.data.catalog;"
        "print(sorted(m for m in ('torch','leafmap','ipywidgets','papermill') if m in sys.modules))"
    )
    assert out.strip() == "[]", f"import glacierlab pulled in heavy modules: {out}"


def test_kernels_do_not_build_the_rfc3987_parser() -> None:
    """``make install`` / Binder's postBuild drop rfc3987-syntax: its import builds a parser (3 s of CPU in
    every kernel that imports leafmap, through jsonschema's optional format checks)."""
    out = _run("import sys, leafmap; print('rfc3987_syntax' in sys.modules)")
    assert out.strip() == "False", "rfc3987-syntax is installed: pip uninstall -y rfc3987-syntax (see Makefile)"


def test_library_never_imports_widget_stack() -> None:
    """Every glacierlab module imports with ipywidgets/leafmap/localtileserver blocked."""
    names = [m.name for m in pkgutil.walk_packages(glacierlab.__path__, "glacierlab.")]
    assert len(names) > 5
    code = (
        "import sys, importlib\n"
        "for blocked in ('ipywidgets', 'leafmap', 'localtileserver', 'ipyleaflet', 'glacierlab_widgets'):\n"
        "    sys.modules[blocked] = None\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print('ok')\n"
    )
    assert _run(code).strip() == "ok"


def test_widgets_importable_under_namespaced_name() -> None:
    out = _run("import glacierlab_widgets, os; print(os.path.realpath(glacierlab_widgets.__file__))")
    assert Path(out.strip()) == (REPO / "widgets" / "__init__.py").resolve()


def test_plain_install_contains_both_packages(tmp_path: Path) -> None:
    """A non-editable install (what a wheel gives) places glacierlab and glacierlab_widgets."""
    target = tmp_path / "site"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-compile",
            "-q",
            "--target",
            str(target),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert (target / "glacierlab_widgets" / "__init__.py").exists()
    assert (target / "glacierlab" / "errors.py").exists()
    for asset in (
        "data_catalog.yaml",
        "assets/regional_report.ipynb",
        "assets/leaflet/leaflet.js",
        "assets/leaflet/leaflet.css",
        "assets/leaflet/LICENSE",
        "assets/leaflet/images/layers.png",
        "weights/glavitu_lite_everest.safetensors",
        "weights/MODEL_CARD.md",
    ):
        p = target / "glacierlab" / asset
        assert p.is_file() and not p.is_symlink(), f"{asset} must be shipped as a real file in the package"
    code = "import glacierlab_widgets, glacierlab; print(glacierlab_widgets.__file__)"
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert str(target) in res.stdout


def test_modules_stay_small() -> None:
    big = {
        str(p.relative_to(REPO)): n
        for p in list((REPO / "glacierlab").rglob("*.py")) + list((REPO / "widgets").rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not big, f"modules over 400 lines (split them by noun): {big}"


def test_ruff_lint_is_clean() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "glacierlab", "widgets", "benchmarks", "tests", "notebooks"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-3000:]


def test_mypy_is_clean() -> None:
    """mypy over glacierlab/ with the pyproject config (strict on vocabulary, data and inference)."""
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(REPO / ".mypy_cache")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def _import_graph() -> dict[str, set[str]]:
    """glacierlab module -> glacierlab modules it imports (anywhere in the file, TYPE_CHECKING included)."""
    import ast

    root = REPO / "glacierlab"
    mods = {}
    for p in root.rglob("*.py"):
        parts = p.relative_to(REPO).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph: dict[str, set[str]] = {}
    for name, p in mods.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        # importing a package's own ancestors (glacierlab, glacierlab.data) runs only their light __init__
        graph[name] = {m for m in found if m in mods and m != name and not name.startswith(m + ".")}
    return graph


def test_no_import_cycles() -> None:
    """No two glacierlab modules import each other, directly or through others (lazy imports included)."""
    graph = _import_graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, f"import cycles: {cycles[:5]}"
    assert graph["glacierlab.inference.predict"], "the import graph found no imports: the scan is broken"


def test_top_level_stays_small() -> None:
    """Roles live in sub-packages; only shared vocabulary-level modules sit at the top (issue 17: ~10)."""
    top = sorted(p.name for p in (REPO / "glacierlab").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 10, top
