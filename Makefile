# costpipe: `make help` lists the targets.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := python3 -m uv
RUN := $(UV) run --frozen
LINT_PATHS := shared services tests $(wildcard bench)

.PHONY: help setup test lint typecheck unit dev

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## install uv, the locked Python dependencies, and (as root) TimescaleDB
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --all-extras
	bash deploy/local/install-timescaledb.sh

lint: ## ruff (lint + format check)
	$(RUN) ruff check $(LINT_PATHS)
	$(RUN) ruff format --check $(LINT_PATHS)

typecheck: ## mypy --strict on shared/ and services/
	$(RUN) mypy

unit: ## fast tests that need no services
	$(RUN) pytest tests/unit

test: setup lint typecheck ## everything CI runs: lint, types, all tests against real services
	$(RUN) pytest

dev: setup ## run the whole pipeline locally on its embedded defaults (Ctrl+C stops it)
	$(RUN) costpipe dev
