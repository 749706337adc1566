#!/usr/bin/env bash
# Prepare .device/ (git-ignored): the wheels benchmarks/gpu_check.py needs besides torch, for a GPU
# machine that has torch and nothing else (and may have no network). Carry .device/ with the checkout,
# then on the GPU machine:
#
#   python -m pip install -q --no-index --find-links .device/wheels -r .device/requirements.txt
#   PYTHONPATH=. python benchmarks/gpu_check.py
#
# Usage: bash tools/device_bundle.sh [PYTHON_VERSION] [PLATFORM]
#   PYTHON_VERSION  of the GPU machine's python, e.g. 3.11 (default: this venv's)
#   PLATFORM        a wheel platform tag (default: manylinux_2_28_x86_64, older manylinux accepted too)
# Versions: the pins of pyproject.toml for the direct needs, this venv's installed versions (pip freeze)
# for everything they pull in, so the GPU machine runs what the tests ran here. torch is never fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PYVER=${1:-$($PY -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}
PLATFORM=${2:-manylinux_2_28_x86_64}
OUT=.device
# what glacierlab.inference.predict + the COG writers import at run time (see gpu_check.py). numpy comes
# with nearly every torch install, and its 17 MB would push the bundle past the 64 MiB a device run can
# carry: WITH_NUMPY=1 adds it for a machine without it.
NEEDS="rasterio xarray rioxarray pyproj tqdm"
if [ "${WITH_NUMPY:-0}" = 1 ]; then NEEDS="numpy $NEEDS"; fi

rm -rf "$OUT/wheels" && mkdir -p "$OUT/wheels"
$PY - "$NEEDS" > "$OUT/requirements.txt" <<'EOF'
import re, sys, tomllib
pins = {}
for dep in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    name, _, version = dep.partition("==")
    pins[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
for name in sys.argv[1].split():
    if name not in pins:
        sys.exit(f"{name} is not pinned in pyproject.toml")
    print(f"{name}=={pins[name]}")
EOF
# constraints: every installed distribution except torch and its CUDA/triton companions
$PY -m pip freeze --exclude-editable | grep -v -i -E '^(torch|triton|nvidia-|glacierlab)' > "$OUT/constraints.txt"

PLATFORMS=(--platform "$PLATFORM")
case "$PLATFORM" in
  manylinux_2_28_x86_64) PLATFORMS+=(--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64);;
esac
$PY -m pip download -q --only-binary=:all: --python-version "$PYVER" --implementation cp "${PLATFORMS[@]}" \
  --dest "$OUT/wheels" -r "$OUT/requirements.txt" -c "$OUT/constraints.txt"
if [ "${WITH_NUMPY:-0}" != 1 ]; then
  rm -f "$OUT"/wheels/numpy-*.whl  # pulled in as a dependency; the GPU machine's own numpy is used
  echo "numpy left out: the GPU machine must have numpy (python -c 'import numpy'), else WITH_NUMPY=1"
fi

if ls "$OUT"/wheels/torch-* >/dev/null 2>&1; then
  echo "error: a torch wheel was pulled in; the GPU machine brings its own torch" >&2
  exit 1
fi
SIZE_MB=$(du -sm "$OUT" | cut -f1)
echo "$OUT: $(ls "$OUT/wheels" | wc -l) wheels, ${SIZE_MB} MB for python $PYVER / $PLATFORM"
ls "$OUT/wheels"
if [ "$SIZE_MB" -gt 60 ]; then
  echo "warning: ${SIZE_MB} MB is close to or above the 64 MiB a device run can carry" >&2
fi
