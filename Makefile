# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean help

help:
	@echo "make demo   - install, start PostgreSQL/Redis/Celery, load the sample collection, serve on :$${PORT:-8000}"
	@echo "make test   - the whole test suite (embedded PostgreSQL+pgvector, real Redis, real Celery workers)"
	@echo "make lint   - ruff and mypy"

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m museum_site.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

clean:
	rm -rf var/static var/test-pgdata
