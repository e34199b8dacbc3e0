# fakeimg: `make demo`, `make test` (fast), `make test-all`, `make dev`, `make bench` (README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FAKEIMG_HOME ?= $(CURDIR)/data
export FAKEIMG_HOME
DEMO_PORT ?= 8765
DEMO_ZOO := $(FAKEIMG_HOME)/hub-zoo
DEMO_COLLECTION := $(FAKEIMG_HOME)/demo-collection
DEMO_URL := http://127.0.0.1:$(DEMO_PORT)
DEMO_ARGS ?= --images-per-model 24 --steps 10 --real-dataset fakeimg/demo-photos

.PHONY: install demo test test-all test-distributed distributed-deps browser-deps dev bench lint clean chaos world science

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# zoo build + hub serve + collection add + run: nothing hidden. Point `fakeimg run` at any Hub
# with HF_ENDPOINT. The collection (two generators no pipeline runs) is an outside eval set.
demo: install
	@set -euo pipefail; \
	$(BIN)/fakeimg zoo build $(DEMO_ZOO) --collection $(DEMO_COLLECTION); \
	$(BIN)/fakeimg collection add $(DEMO_COLLECTION) --name demo-outside --role eval; \
	$(BIN)/fakeimg hub serve $(DEMO_ZOO) --port $(DEMO_PORT) & server=$$!; \
	trap 'kill $$server 2>/dev/null || true' EXIT; \
	for i in $$(seq 100); do \
	  $(BIN)/python -c "import urllib.request; urllib.request.urlopen('$(DEMO_URL)/api/models?limit=1', timeout=1)" 2>/dev/null && break; \
	  sleep 0.2; \
	done; \
	HF_ENDPOINT=$(DEMO_URL) $(BIN)/fakeimg run $(DEMO_ARGS)

# the fast loop: ruff + every test not marked slow (minutes); `make test-all` is everything
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow"

# everything, slow tests included: what .ci/run runs. The browser test (Playwright driving
# Debian's Chromium against `dg dev`) runs when Chromium is present and is reported as skipped,
# with the reason, when not: `make browser-deps` installs it (root, apt). So does the
# distributed test with Postgres and Redis (`make distributed-deps`, run here first).
test-all: install distributed-deps
	$(BIN)/ruff check .
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || echo "test-all: no Chromium here, the browser test will be skipped (make browser-deps)"
	$(BIN)/python -m pytest -q -rs

# several workers on Dagster's own engines (docs/cluster.md): Postgres and Redis from the
# system's packages, two Celery workers, the daemon backfilling the demo zoo across them, one
# worker killed mid-run; checks nothing was lost or duplicated (tests/platform/test_distributed.py)
test-distributed: install distributed-deps
	$(BIN)/python -m pytest -q -rs -m distributed

# Debian's PostgreSQL and Redis servers for the distributed test: root and apt only (the test
# starts private servers on loopback; it does not use the system's own services)
distributed-deps:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v redis-server >/dev/null; then \
	  echo "postgres: $$(ls -d /usr/lib/postgresql/*/bin | tail -1), $$(redis-server --version | cut -d' ' -f1-3)"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "distributed-deps: needs root (apt-get install postgresql redis-server);" \
	    "the distributed test will be skipped" >&2; \
	else \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    postgresql redis-server >/dev/null && echo "installed postgresql and redis-server"; \
	fi

# Debian's Chromium for the browser test (tests/platform/test_browser.py): root and apt only
browser-deps:
	@command -v chromium >/dev/null && echo "chromium: $$(chromium --version)" || { \
	  [ "$$(id -u)" = 0 ] || { echo "browser-deps: needs root (apt-get install chromium)" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	  && echo "chromium: $$(chromium --version)"; }

# the UI on the same data (`dg dev`, the code location of pyproject's [tool.dg]); after `make
# demo` (and with HF_ENDPOINT unset) it also serves the demo Hub on $(DEMO_PORT) for UI runs,
# backfills and the sensor, stopped when dev exits. The code location reads FAKEIMG_HOME and
# HF_TOKEN through dagster.EnvVar: both are exported here (HF_TOKEN empty = anonymous).
dev: install
	@set -euo pipefail; \
	$(BIN)/python -m fakeimg_assets.instance_config $(FAKEIMG_HOME)/dagster; \
	if [ -z "$${HF_ENDPOINT:-}" ] && [ -f $(DEMO_ZOO)/zoo.json ]; then \
	  $(BIN)/fakeimg hub serve $(DEMO_ZOO) --port $(DEMO_PORT) & server=$$!; \
	  trap 'kill $$server 2>/dev/null || true' EXIT; \
	  for i in $$(seq 100); do \
	    kill -0 $$server 2>/dev/null || { echo "demo Hub server failed to start" >&2; exit 1; }; \
	    $(BIN)/python -c "import urllib.request; urllib.request.urlopen('$(DEMO_URL)/api/models?limit=1', timeout=1)" 2>/dev/null && break; \
	    sleep 0.2; \
	  done; \
	  export HF_ENDPOINT=$(DEMO_URL); \
	  echo "serving the demo Hub $(DEMO_ZOO) at $(DEMO_URL) (HF_ENDPOINT for Dagster)"; \
	fi; \
	export HF_TOKEN="$${HF_TOKEN-}" VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(BIN):$$PATH; \
	DAGSTER_HOME=$(FAKEIMG_HOME)/dagster $(BIN)/dg dev

# every Hub fault kind + hostile repos, in a temp dir; exits non-zero if an expectation breaks
chaos: install
	$(BIN)/fakeimg chaos

# the miniature Hub of trained generators (cached: a second call returns at once)
WORLD_DIR ?= $(FAKEIMG_HOME)/world-hub
world: install
	$(BIN)/fakeimg world build $(WORLD_DIR)

# the pre-registered science run (docs/science/protocol.toml) on SEEDS replication world seeds
# (1..3), each in $(FAKEIMG_HOME)/science/seed-<s>: `make science FAKEIMG_HOME=data/science SEEDS=3`
SEEDS ?= 1
science: install
	$(BIN)/fakeimg science --seeds $(SEEDS)
	$(BIN)/python -m benchmarks.science $(FAKEIMG_HOME)/science/report.json

bench: install
	$(BIN)/python -m benchmarks.run

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(FAKEIMG_HOME)
