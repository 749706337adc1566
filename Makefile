# glacierlab: `make demo` runs the main job on the demo region, `make test` runs the test suite.
# Both create .venv when missing and install the pinned stack (torch==2.13.0 first, then the rest).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# A local wheel folder (as on the project machines) is used when present; elsewhere PyPI serves torch.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
# ../shared/data seeds the download cache when it exists (developers, CI); otherwise files are fetched.
SHARED_DATA ?= $(abspath ../shared/data)
export GLACIERLAB_SEED_DIR ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
EXTRAS := notebooks,widgets,distributed,stac,dev
# Two worker processes (xdist), whole files per worker so module fixtures (notebook kernels) are shared,
# handed out in the order tests/conftest.py gives (files with the most slow tests first).
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: demo test install lint browser-deps clean-venv

# uv installs the same pinned stack as pip in well under a minute instead of 4 (parallel downloads and byte-
# compiling); pip only bootstraps it. --compile-bytecode matters where PYTHONDONTWRITEBYTECODE is set (as on
# the CI machines): without .pyc files every kernel and subprocess would compile torch & co. from source.
UV_VERSION := 0.13.10
UV := $(VENV)/bin/uv pip
UV_ARGS := --python $(PY) --compile-bytecode $(FIND_LINKS)

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q uv==$(UV_VERSION)
	$(UV) install -q $(UV_ARGS) torch==2.13.0
	$(UV) install -q $(UV_ARGS) -e ".[$(EXTRAS)]"
	@# rfc3987-syntax (pulled in by jupyter-events' jsonschema[format-nongpl]) builds a parser at import: 3 s
	@# of CPU in every kernel that imports leafmap. Without it jsonschema skips the IRI format check only.
	$(UV) uninstall -q --python $(PY) rfc3987-syntax
	$(PY) -m ipykernel install --sys-prefix --name glacierlab --display-name "Python (glacierlab)" >/dev/null
	@touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/glacierlab demo --out outputs/demo

browser-deps:
	@bash tools/install_browser.sh

test:
	@# the Python stack and Debian's Chromium (a fresh machine) install side by side
	$(MAKE) --no-print-directory -j2 $(VENV)/.installed browser-deps
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check glacierlab widgets tests benchmarks

clean-venv:
	rm -rf $(VENV)
