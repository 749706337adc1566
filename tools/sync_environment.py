"""Regenerate environment.yml's pip list from pyproject.toml pins: `python tools/sync_environment.py`."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = """\
# Binder / conda users: conda-forge Python + pip, with exactly the pins of pyproject.toml
# (tests/test_packaging.py keeps the two in sync; regenerate with `python tools/sync_environment.py`).
# The whole geo stack comes from pip wheels so that only one GDAL is present.
# postBuild installs glacierlab itself (editable) and registers its kernel.
name: glacierlab
channels:
  - conda-forge
  - nodefaults
dependencies:
  - python=3.11
  - pip
  - pip:
      # Binder only: the CPU index keeps pip from pulling the multi-GB CUDA build of torch.
      - --extra-index-url https://download.pytorch.org/whl/cpu
      - torch==2.13.0
"""


def pins() -> list[str]:
    """All `==` pins of pyproject.toml (dependencies, then every extra), torch excluded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        out += [p for p in extra if p not in out]
    return [p for p in out if not p.startswith("torch==")]


if __name__ == "__main__":
    text = HEADER + "".join(f"      - {p}\n" for p in pins())
    (ROOT / "environment.yml").write_text(text)
    print(f"wrote environment.yml with {len(pins()) + 1} pins")
