# Two commands do the whole set-up:  `make run` (the app) and `make test` (the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint poll bench bytecode

$(STAMP): pyproject.toml reportwatch/match/_scan.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(MAKE) --no-print-directory bytecode
	touch $(STAMP)

# Our own modules' bytecode, as pip writes it for any installed package: an editable install
# does not, and where PYTHONDONTWRITEBYTECODE is set (as on our dev machines) every process
# would compile reportwatch from source again (~0.3 s of each `reportwatch poll` start).
bytecode:
	$(BIN)/python -m compileall -q reportwatch

run: $(STAMP) bytecode
	$(BIN)/streamlit run dashboard.py

# The sample items are re-dated into the last weeks on each start (a fresh copy and database in
# demo/.run/), so the live panel and the trends page have something to show on any day.
demo: $(STAMP)
	$(BIN)/python -m reportwatch.config.demo demo/.run
	REPORTWATCH_CONFIG=demo/.run/sources.yaml $(BIN)/streamlit run dashboard.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

test: $(STAMP) lint
	bash scripts/ensure-chromium
	bash scripts/ensure-postgres
	$(BIN)/pytest

poll: $(STAMP) bytecode
	$(BIN)/reportwatch poll --once --verbose

bench: $(STAMP) bytecode
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done
