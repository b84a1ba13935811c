# Two commands do the whole set-up:  `make run` (the app) and `make test` (the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint poll bench

$(STAMP): pyproject.toml reportwatch/_scan.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/streamlit run dashboard.py

demo: $(STAMP)
	REPORTWATCH_CONFIG=demo/sources.yaml $(BIN)/streamlit run dashboard.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) lint
	bash scripts/ensure-chromium
	$(BIN)/pytest

poll: $(STAMP)
	$(BIN)/reportwatch poll --once --verbose

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done
