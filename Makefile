# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean help tools

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

test: $(STAMP) tools
	$(BIN)/python -m pytest -q

# Redis for the tests (started by them when none answers) and docker-compose to validate the production file.
tools:
	@command -v redis-server >/dev/null && command -v docker-compose >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing redis-server and docker-compose with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server docker-compose >/dev/null; \
	  else echo "make test needs redis-server and docker-compose: sudo apt-get install redis-server docker-compose"; exit 1; fi; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SECRET_KEY=lint-only $(BIN)/mypy .

clean:
	rm -rf var/static var/test-pgdata
