# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-faults lint bench clean help tools messages

help:
	@echo "make demo   - install, start PostgreSQL/Redis/Celery, load the sample collection, serve on :$${PORT:-8000}"
	@echo "make test   - the whole test suite (embedded PostgreSQL+pgvector, real Redis, real Celery workers)"
	@echo "make test-faults - the slow fault tests: killed workers, Redis and PostgreSQL restarts, a 60 s load test"
	@echo "make lint   - ruff and mypy"
	@echo "make messages - refresh locale/es/LC_MESSAGES/django.po from the code, and compile it (docs/translations.md)"
	@echo "make bench  - the benchmarks (BENCHMARKS.md): embedding, memory, harvest, search; about 15 minutes on 2 cores"

$(STAMP): requirements-web.txt requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m devtools.demo

# Two or more test processes (one per core, at most four), each with its own test database, Redis
# database and temporary folder (museum_site/test_settings.py); a file's tests stay in one process.
test: $(STAMP) tools
	$(BIN)/python -m pytest -q -m "not faults" -n auto --maxprocesses 4 --dist loadfile

# Minutes of real processes being killed and restarted (docs/reliability.md); CI runs them too.
test-faults: $(STAMP) tools
	$(BIN)/python -m pytest -q -m faults

# Redis for the tests (started by them when none answers), docker-compose and Caddy to validate the production
# files, Chromium for the browser tests (Playwright drives Debian's build; it cannot download its own here),
# PgBouncer for the tests of search and harvests behind a pooler in transaction mode (Debian puts it in /usr/sbin),
# and gettext (xgettext, msgfmt) for `make messages` and the test that the committed translations are compiled.
TOOLS := redis-server docker-compose caddy chromium pgbouncer msgfmt
TOOL_PACKAGES := redis-server docker-compose caddy chromium pgbouncer gettext
tools:
	@for tool in $(TOOLS); do command -v $$tool >/dev/null || test -x /usr/sbin/$$tool || missing=1; done; [ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(TOOL_PACKAGES) with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TOOL_PACKAGES) >/dev/null; \
	  else echo "make test needs $(TOOL_PACKAGES): sudo apt-get install $(TOOL_PACKAGES)"; exit 1; fi; }

# Benchmarks in their own databases and var/bench/ (BENCHMARKS.md); Redis db 4 for the query cache.
# The GPU one is bench/gpu.sh, run on a GPU machine.
bench: $(STAMP)
	REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/4} sh -c '\
	  $(BIN)/python -m bench.embed && \
	  $(BIN)/python -m bench.memory --model ViT-B-32 --model ViT-L-14 && \
	  $(BIN)/python -m bench.harvest && \
	  $(BIN)/python -m bench.search --n 10000 && \
	  $(BIN)/python -m bench.search --n 100000'

# mypy's Django plugin loads the settings, which start nothing; they want a key, which a fresh
# checkout (no var/secret_key yet) does not have.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m museum_site.config_schema --check
	SECRET_KEY=lint-only $(BIN)/mypy .

# The Spanish catalogue (docs/translations.md): collect the marked strings, then compile the .mo that is committed.
# Run from the root so the project's own apps are searched and nothing else (the venv, data, benchmarks).
messages: $(STAMP) tools
	$(BIN)/python manage.py makemessages -l es --no-obsolete --no-location \
	  --ignore=.venv --ignore=var --ignore=node_modules --ignore=bench --ignore=devtools
	$(BIN)/python manage.py compilemessages -l es --ignore=.venv --ignore=var --ignore=node_modules

clean:
	rm -rf var/static var/test-pgdata
