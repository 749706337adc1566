"""The floor plan holds: every import follows the layers written in pyproject.toml ``[tool.importlinter]``.

import-linter checks the import statements (function-level and ``TYPE_CHECKING`` ones included). It does
not see imports spelled as strings: the lazy export tables of the package ``__init__``s
(:func:`glacierlab.lazy_exports`) and module names passed to ``importlib.import_module``. The second test
reads those from the source and checks them against the same layers. There is no exception list.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]


def _layers() -> list[list[str]]:
    """The library's layers, top first; each a list of independent sibling packages/modules."""
    (contract,) = [c for c in CONFIG["contracts"] if c.get("containers") == ["glacierlab"]]
    return [[f"glacierlab.{m.strip()}" for m in layer.replace(":", "|").split("|")] for layer in contract["layers"]]


def _modules() -> dict[str, Path]:
    mods = {}
    for root, name in ((REPO / "glacierlab", "glacierlab"), (REPO / "widgets", "glacierlab_widgets")):
        for p in root.rglob("*.py"):
            parts = (name, *p.relative_to(root).with_suffix("").parts)
            mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


def test_import_statements_follow_the_layers() -> None:
    pytest.importorskip("importlinter", reason="import-linter (the dev extra) is not installed")
    import grimp

    # in a child process: import-linter reconfigures logging, which would hide later tests' log records
    code = (
        "import sys\nfrom importlinter.cli import lint_imports\n"
        "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "pyproject.toml")], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert f"{len(CONFIG['contracts'])} kept, 0 broken" in res.stdout, res.stdout
    # the scan sees imports inside functions (the heavy ones are made there), so it is not blind
    graph = grimp.build_graph("glacierlab")
    assert graph.direct_import_exists(
        importer="glacierlab.analysis.heldout_area", imported="glacierlab.inference.predict"
    )


def _string_imports() -> list[tuple[str, str]]:
    """(module, imported module) for every import spelled as a string in glacierlab and the widgets."""
    mods = _modules()
    found = []
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            # lazy export tables: {"public_name": "submodule" or "glacierlab.absolute.module"}
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets
            ):
                assert isinstance(node.value, ast.Dict), f"{name}: _EXPORTS must be a dict literal"
                for v in node.value.values:
                    assert isinstance(v, ast.Constant) and isinstance(v.value, str), f"{name}: non-literal export"
                    target = v.value if v.value.startswith("glacierlab") else f"{package}.{v.value}"
                    assert target in mods, f"{name} lazily exports from {target}, which does not exist"
                    found.append((name, target))
            # any string that is exactly a module name (importlib.import_module("..."), command tables)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in mods:
                found.append((name, node.value))
    return found


def _layer_of(module: str, layers: list[list[str]]) -> tuple[int, str] | None:
    for i, layer in enumerate(layers):
        for member in layer:
            if module == member or module.startswith(member + "."):
                return i, member
    return None


def test_string_imports_and_lazy_exports_follow_the_layers() -> None:
    layers = _layers()
    pairs = _string_imports()
    assert any(a == "glacierlab.inference" for a, _ in pairs), "found no lazy export table: the scan is broken"
    bad = []
    for importer, imported in pairs:
        if importer.startswith("glacierlab_widgets") or imported == "glacierlab":
            continue  # widgets may use the whole library; the root package is the lazy_exports helper
        if imported.startswith("glacierlab_widgets"):
            bad.append(f"{importer} -> {imported} (the library never imports the widgets)")
            continue
        a, b = _layer_of(importer, layers), _layer_of(imported, layers)
        assert a is not None and b is not None, f"{importer} or {imported} is in no layer of pyproject.toml"
        if a[1] != b[1] and a[0] >= b[0]:
            bad.append(f"{importer} -> {imported}")
    assert not bad, f"string imports against the layers: {sorted(set(bad))}"


def test_every_package_is_in_a_layer() -> None:
    layers = _layers()
    tops = {m.split(".")[1] for m in _modules() if m.startswith("glacierlab.")}
    missing = sorted(t for t in tops if _layer_of(f"glacierlab.{t}", layers) is None and t != "__init__")
    assert not missing, f"modules or packages of glacierlab in no layer of [tool.importlinter]: {missing}"


def test_private_torch_operators_and_the_allocator_have_one_home_each() -> None:
    """oneDNN's private operators only in accel/packed.py; glibc's allocator only in accel/heap.py."""
    homes = {"torch.ops.mkldnn._": "glacierlab/accel/packed.py", "mallopt": "glacierlab/accel/heap.py"}
    files = [
        *(REPO / "glacierlab").rglob("*.py"),
        *(REPO / "widgets").rglob("*.py"),
        *(REPO / "benchmarks").rglob("*.py"),
    ]
    for needle, home in homes.items():
        users = sorted(str(p.relative_to(REPO)) for p in files if needle in p.read_text())
        assert users == [home], f"{needle} is used outside {home}: {users}"


def test_package_faces_give_functions_not_modules() -> None:
    """A face's name is the function even after every module of the package is imported."""
    import importlib
    import inspect
    import pkgutil

    import glacierlab

    for pkg in ("data", "inference"):
        for m in pkgutil.iter_modules(importlib.import_module(f"glacierlab.{pkg}").__path__):
            importlib.import_module(f"glacierlab.{pkg}.{m.name}")
    from glacierlab.data import fetch
    from glacierlab.inference import confidence

    assert inspect.isfunction(fetch) and inspect.isfunction(confidence)
    for name in ("data", "inference", "contract", "accel", "models", "outlines", "training", "reports", "batch"):
        face = importlib.import_module(f"glacierlab.{name}")
        shadowed = [n for n in getattr(face, "__all__", []) if inspect.ismodule(getattr(face, n))]
        assert not shadowed, f"glacierlab.{name} exports sub-modules under a public name: {shadowed}"
    assert glacierlab.lazy_exports
