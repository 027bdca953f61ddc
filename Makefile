# Every target bootstraps what it needs: a fresh machine with Python 3.11+ and Node 20 suffices.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FHIR_SERVER_DIR := tests/fhir_server
NODE_STAMP := $(FHIR_SERVER_DIR)/node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test lint bench fuzz soak demo clean venv node

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench,population]'
	touch $@

node: $(NODE_STAMP)

$(NODE_STAMP): $(FHIR_SERVER_DIR)/package.json $(FHIR_SERVER_DIR)/package-lock.json
	cd $(FHIR_SERVER_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: $(STAMP)
	$(BIN)/osteopenia-cds serve --host $(HOST) --port $(PORT)

test: $(STAMP) $(NODE_STAMP)
	tests/support/ensure_postgres.sh
	tests/support/ensure_wrk.sh
	tests/support/ensure_chromium.sh
	tests/support/ensure_haproxy.sh
	tests/support/ensure_java.sh
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

# HealthChain, the peer the benchmarks compare with, pins other versions of shared packages
# (fhir.resources, fastapi): it gets a virtual environment of its own.
HC_VENV := benchmarks/.venv-healthchain
HC_STAMP := $(HC_VENV)/.installed

$(HC_STAMP): benchmarks/healthchain-requirements.txt
	$(PYTHON) -m venv $(HC_VENV)
	$(HC_VENV)/bin/pip install --quiet --upgrade pip
	$(HC_VENV)/bin/pip install --quiet -r benchmarks/healthchain-requirements.txt
	touch $@

bench: $(STAMP) $(NODE_STAMP) $(HC_STAMP)
	tests/support/ensure_wrk.sh
	tests/support/ensure_postgres.sh
	tests/support/ensure_haproxy.sh
	$(BIN)/python -m benchmarks

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.campaign --requests 20000

soak: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m benchmarks.soak --seconds 60

demo: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m tests.support.demo

clean:
	rm -rf $(VENV) $(HC_VENV) $(FHIR_SERVER_DIR)/node_modules var .pytest_cache .ruff_cache
