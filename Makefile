# `make up` runs the whole system; `make test` runs the tests. Both install what they need.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: up test test-all lint bench-ingest

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/activitylog up

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# The quick lanes: pure rules, then PostgreSQL and Redis (three processes, each with its own
# database and key prefix: one more than the 2 cores, as the tests mostly wait on the servers).
test: lint
	$(VENV)/bin/pytest -n 3 tests/unit tests/integration $(PYTEST_ARGS)

# Everything: the quick lanes, then the system lane (faults, the browser, n8n, Docker files,
# the TypeScript client, schemathesis, processes), one test at a time.
test-all: test
	$(VENV)/bin/pytest tests/system $(PYTEST_ARGS)

bench-ingest: $(STAMP)
	$(VENV)/bin/python bench/ingest.py
