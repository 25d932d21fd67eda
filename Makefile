# Every target creates the virtualenv from the pinned versions (constraints.txt) first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat constraints.txt setup.cfg | cksum | cut -d' ' -f1)

.PHONY: venv demo test faults lint bench airflow clean

$(STAMP): constraints.txt setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,celery]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/python scripts/demo.py

test: venv lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The fault suite alone; rewrites the README's fault table from what its tests observed.
faults: venv
	FAULT_TABLE=write $(BIN)/python -m pytest -m fault $(PYTEST_ARGS)

# Style and types: ruff on everything, mypy on the package (settings in pyproject.toml).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: venv
	$(BIN)/python benchmarks/bench.py

airflow: venv
	$(BIN)/python scripts/standalone.py

clean:
	rm -rf .demo .airflow test-artifacts .pytest_cache
