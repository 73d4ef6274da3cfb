# The two set-up commands: `make demo` and `make test`. Both create .venv/ when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/var/dagster-home

.PHONY: demo test lint typecheck ui bench clean-demo venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-demo:
	rm -rf var/demo var/dagster-home
