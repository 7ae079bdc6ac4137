# rattail-fls: `make demo` runs the main job on an embedded default; `make test` runs the tests.
# Both set up everything on a fresh Debian machine: system packages, .venv, PostgreSQL/Redis/MariaDB.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.npm-ci.stamp
ENV := set -a && . var/services.env && set +a &&

.PHONY: all venv node services test demo bench web stop-services clean

all: test

# System packages the venv needs: Python with venv, and pg_config + a compiler
# for psycopg2 (tailbone-theo requires the source package).
$(VENV)/.prereqs: scripts/prereqs.sh
	@bash scripts/prereqs.sh
	@mkdir -p $(VENV) && touch $@

$(STAMP): setup.py constraints.txt $(VENV)/.prereqs
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[tests]'
	@touch $@

venv: $(STAMP)

# Node packages: the web app's browser libraries (Vue, Buefy, FontAwesome, Chart.js...)
# and, test-only, PGlite with TimescaleDB (tests/test_timescaledb.py).
# `npm ci` again only when the lock file changes.
$(NPM_STAMP): package.json package-lock.json .npmrc
	@command -v npm >/dev/null || bash scripts/prereqs.sh
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The browser libraries the web app serves itself (rattail_fls/web/weblibs.py),
# copied from node_modules into the package: pages load nothing from the internet.
WEBLIBS_STAMP := rattail_fls/web/static/libcache/.copied
$(WEBLIBS_STAMP): $(NPM_STAMP) $(STAMP) rattail_fls/web/weblibs.py fls_dev/weblibs.py
	$(PY) -m fls_dev.weblibs
	@touch $@

node: $(NPM_STAMP) $(WEBLIBS_STAMP)

services:
	@bash scripts/services.sh ensure

test: venv node services
	$(ENV) $(VENV)/bin/pytest -q $(PYTEST_ARGS)

demo: venv node services
	$(ENV) $(PY) scripts/demo.py

# The web app on loopback (after `make demo`): prints the URL and the demo login.
web: venv node services
	$(ENV) $(PY) scripts/web.py

BENCHES := contract ingest dayclose export corepos_import web

bench: venv services
	$(ENV) for b in $(BENCHES); do echo "== bench/$$b.py"; $(PY) bench/$$b.py || exit 1; done

stop-services:
	@bash scripts/services.sh stop

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache node_modules
