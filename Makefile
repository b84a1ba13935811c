# Two commands do the whole set-up:  `make run` (the app) and `make test` (the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint poll bench bytecode

$(STAMP): pyproject.toml reportwatch/_scan.c
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

demo: $(STAMP)
	REPORTWATCH_CONFIG=demo/sources.yaml $(BIN)/streamlit run dashboard.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) lint
	bash scripts/ensure-chromium
	bash scripts/ensure-postgres
	$(BIN)/pytest

poll: $(STAMP) bytecode
	$(BIN)/reportwatch poll --once --verbose

bench: $(STAMP) bytecode
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done
