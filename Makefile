# Luntrex Router: every target runs from a fresh clone; `make test` installs what it needs
# (venv, Debian's PostgreSQL, Kafka from Maven Central, Debian's docker-compose for validation).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_SERVICES_ENV := .run/test/services.env

.PHONY: help venv up down status logs test lint compose-check docs-tools apidocs bench clean distclean

help:
	@echo "make up | down | status | logs   the local dev stack (python -m stack)"
	@echo "make test                        lint + type check + import contracts + compose check + pytest"
	@echo "make lint | bench | clean | distclean | venv"
	@echo "make apidocs                     regenerate docs/openapi.json, the Postman files and docs/snippets"

venv: $(STAMP)

# Re-installs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "need Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

up: venv
	$(PY) -m stack up

down: venv
	$(PY) -m stack down

status: venv
	@$(PY) -m stack status

logs: venv
	@$(PY) -m stack logs

test: venv
	$(PY) -m stack services --profile test
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory docs-tools
	LUNTREX_TEST_KAFKA="$$(sed -n 's/^KAFKA_BOOTSTRAP_SERVERS=//p' $(TEST_SERVICES_ENV))" \
	LUNTREX_TEST_DATABASE_URL="$$(sed -n 's/^DATABASE_URL=//p' $(TEST_SERVICES_ENV))" \
	$(PY) -m pytest

lint: venv compose-check
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Validates docker-compose.yml with Debian's docker-compose (no Docker engine needed for `config`).
compose-check:
	@if ! command -v docker-compose >/dev/null; then \
	  if [ "$$(id -u)" != 0 ]; then echo "docker-compose is missing: sudo apt-get install docker-compose" >&2; exit 1; fi; \
	  if apt-cache policy docker-compose | grep -q 'Candidate: (none)' || [ -z "$$(apt-cache policy docker-compose)" ]; then \
	    apt-get update -qq; \
	  fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; \
	fi
	docker-compose config -q

# What the API docs tests run besides Python: newman and the openai npm package, installed by `npm ci` into
# .cache/node from tests/node/package-lock.json (python -m stack.node_tools), and Debian's php-cli for the PHP
# snippets. As root, missing Node.js/npm and PHP are installed from Debian; otherwise the PHP tests skip.
docs-tools: venv
	@if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	fi
	$(PY) -m stack.node_tools
	@if ! command -v php >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    if [ -z "$$(apt-cache policy php-cli 2>/dev/null | grep Candidate: | grep -v none)" ]; then apt-get update -qq; fi; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends php-cli php-curl >/dev/null; \
	  else echo "php is missing (sudo apt-get install php-cli php-curl): the PHP snippet tests will skip" >&2; fi; \
	fi

apidocs: venv
	$(PY) -m ingress.apidocs

bench: venv
	$(PY) -m bench

clean:
	@if [ -x $(PY) ]; then $(PY) -m stack down; $(PY) -m stack down --profile test; fi
	rm -rf .run .mypy_cache .ruff_cache .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .cache
