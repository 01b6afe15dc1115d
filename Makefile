# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-faults lint bench clean help tools

help:
	@echo "make demo   - install, start PostgreSQL/Redis/Celery, load the sample collection, serve on :$${PORT:-8000}"
	@echo "make test   - the whole test suite (embedded PostgreSQL+pgvector, real Redis, real Celery workers)"
	@echo "make test-faults - the slow fault tests: killed workers, Redis and PostgreSQL restarts, a 60 s load test"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - the benchmarks (BENCHMARKS.md): embedding, memory, harvest, search; about 15 minutes on 2 cores"

$(STAMP): requirements-web.txt requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m devtools.demo

test: $(STAMP) tools
	$(BIN)/python -m pytest -q -m "not faults"

# Minutes of real processes being killed and restarted (docs/reliability.md); CI runs them too.
test-faults: $(STAMP) tools
	$(BIN)/python -m pytest -q -m faults

# Redis for the tests (started by them when none answers), docker-compose and Caddy to validate the production
# files, Chromium for the browser tests (Playwright drives Debian's build; it cannot download its own here),
# and PgBouncer for the tests of search and harvests behind a pooler in transaction mode (Debian puts it in /usr/sbin).
TOOLS := redis-server docker-compose caddy chromium pgbouncer
tools:
	@for tool in $(TOOLS); do command -v $$tool >/dev/null || test -x /usr/sbin/$$tool || missing=1; done; [ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(TOOLS) with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TOOLS) >/dev/null; \
	  else echo "make test needs $(TOOLS): sudo apt-get install $(TOOLS)"; exit 1; fi; }

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

clean:
	rm -rf var/static var/test-pgdata
