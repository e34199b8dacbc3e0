# fakeimg: `make demo`, `make test`, `make dev`, `make bench` (see README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FAKEIMG_HOME ?= $(CURDIR)/data
export FAKEIMG_HOME
DEMO_PORT ?= 8765
DEMO_ZOO := $(FAKEIMG_HOME)/hub-zoo
DEMO_URL := http://127.0.0.1:$(DEMO_PORT)
DEMO_ARGS ?= --images-per-model 24 --steps 10 --real-dataset fakeimg/demo-photos

.PHONY: install demo test dev bench lint clean chaos

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# zoo build + hub serve + run: nothing hidden. Point `fakeimg run` at any Hub with HF_ENDPOINT.
demo: install
	@set -euo pipefail; \
	$(BIN)/fakeimg zoo build $(DEMO_ZOO); \
	$(BIN)/fakeimg hub serve $(DEMO_ZOO) --port $(DEMO_PORT) & server=$$!; \
	trap 'kill $$server 2>/dev/null || true' EXIT; \
	for i in $$(seq 100); do \
	  $(BIN)/python -c "import urllib.request; urllib.request.urlopen('$(DEMO_URL)/api/models?limit=1', timeout=1)" 2>/dev/null && break; \
	  sleep 0.2; \
	done; \
	HF_ENDPOINT=$(DEMO_URL) $(BIN)/fakeimg run $(DEMO_ARGS)

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

dev: install
	$(BIN)/python -m fakeimg_assets.instance_config $(FAKEIMG_HOME)/dagster
	DAGSTER_HOME=$(FAKEIMG_HOME)/dagster $(BIN)/dagster dev -w workspace.yaml

# every Hub fault kind + hostile repos, in a temp dir; exits non-zero if an expectation breaks
chaos: install
	$(BIN)/fakeimg chaos

bench: install
	$(BIN)/python -m benchmarks.run

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(FAKEIMG_HOME)
