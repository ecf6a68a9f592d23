# The consultation intake hub. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
T ?= tests

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create the virtual environment and install everything

run: $(STAMP) ## run the hub (web app + worker; SQLite under instance/, embedded Redis if none)
	$(BIN)/intake run --host $${HOST:-127.0.0.1} --port $${PORT:-5000}

lint: $(STAMP) ## ruff and the import contracts (intake/ never imports channels/ or workers/)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(STAMP) lint ## the whole suite: PostgreSQL and Redis, then again on SQLite
	$(BIN)/python -m pytest $(T) -n 2 -q
	TEST_DATABASE_URL=sqlite:// $(BIN)/python -m pytest $(T) -n 2 -q -m "not postgres_only"

test-fast: $(STAMP) ## the suite on PostgreSQL only, no lint
	$(BIN)/python -m pytest $(T) -n 2 -q

bench: $(STAMP) ## intake throughput and latency against a bare endpoint (PostgreSQL)
	$(BIN)/python bench/intake_bench.py

profile: $(STAMP) ## where an inquiry's CPU goes, part by part, beside the bare endpoint
	$(BIN)/python bench/intake_profile.py

reformat: $(STAMP) ## let ruff fix what it can
	$(BIN)/ruff check --fix .

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache

.PHONY: help install run lint test test-fast bench profile reformat clean
