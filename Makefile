# The two set-up commands: `make demo` and `make test`. Both create .venv/ when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/var/dagster-home

.PHONY: demo test lint typecheck ui bench clean-demo venv

# uv installs what pip would (the same resolution of pyproject.toml) in about 30 s instead of about
# 3 minutes; where uv itself cannot be installed, pip does it. --compile-bytecode as pip does: without
# .pyc files every new Python process (each run, worker, code server) compiles dagster again, about 15 s.
INSTALL = if $(BIN)/python -m pip install --quiet uv; then $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python
INSTALL_PIP = else $(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel && $(BIN)/python -m pip install --quiet

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(INSTALL) -e '.[dev]'; $(INSTALL_PIP) -e '.[dev]'; fi
	@touch $(STAMP)

venv: $(STAMP)

## Run the main job on the embedded default: demo PACS, a week of partitions, SQLite warehouse.
demo: $(STAMP)
	$(BIN)/dicom-lake demo

## The test suite (real Orthanc, dcmtk and PostgreSQL tests skip where those are missing; CI fails on skips).
test: $(STAMP)
	$(BIN)/python -m pytest

## Style, formatting, types and the layering contracts (import-linter, see [tool.importlinter] in pyproject.toml).
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Open the Dagster UI on the demo instance (run `make demo` first).
ui: $(STAMP)
	$(BIN)/dicom-lake ui

bench: $(STAMP)
	$(INSTALL) -e '.[dev,bench]'; $(INSTALL_PIP) -e '.[dev,bench]'; fi
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-demo:
	rm -rf var/demo var/dagster-home
