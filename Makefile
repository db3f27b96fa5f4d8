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
# `make up PROFILE=cluster`: three Kafka brokers and two replicas of each service (see README).
PROFILE ?= dev

.PHONY: help venv up down status logs test lint compose-check browser docs-tools apidocs bench bench-peers console-shots clean distclean

help:
	@echo "make up | down | status | logs   the local dev stack (python -m stack); PROFILE=cluster: three brokers"
	@echo "make test                        lint + type check + import contracts + compose check + pytest"
	@echo "make lint | bench | bench-peers | clean | distclean | venv"
	@echo "make apidocs                     regenerate docs/openapi.json, the Postman files and docs/snippets"

venv: $(STAMP)

# Re-installs only when pyproject.toml changes.
# Debian's python3 lacks ensurepip (venv) until python3-venv is installed: apt-get installs it when root.
# Each slow step prints what it does and, after it, how long it took.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "need Python >= 3.11, found " + sys.version.split()[0])'
	@if ! test -x $(PY) && ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make: python3-venv is missing: sudo apt-get install -y python3-venv" >&2; exit 1; fi; \
	  started=$$SECONDS; echo "make: apt-get install python3-venv (the venv module is missing) ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; \
	  echo "make: apt-get install python3-venv: done in $$((SECONDS - started))s"; \
	fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@started=$$SECONDS; echo "make: pip install -e '.[dev]' into $(VENV) (first run, or pyproject.toml changed) ..."; \
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'; \
	echo "make: pip install: done in $$((SECONDS - started))s"
	@touch $(STAMP)

up: venv
	$(PY) -m stack up --profile $(PROFILE)

down: venv
	$(PY) -m stack down --profile $(PROFILE)

status: venv
	@$(PY) -m stack status --profile $(PROFILE)

logs: venv
	@$(PY) -m stack logs --profile $(PROFILE)

test: venv browser
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
	  started=$$SECONDS; echo "make: apt-get install docker-compose (to validate docker-compose.yml) ..."; \
	  if apt-cache policy docker-compose | grep -q 'Candidate: (none)' || [ -z "$$(apt-cache policy docker-compose)" ]; then \
	    apt-get update -qq; \
	  fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; \
	  echo "make: apt-get install docker-compose: done in $$((SECONDS - started))s"; \
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
	$(PY) -m bench batch
	$(PY) -m bench stream

# The console's screenshots (docs/console/) and first-render figures (bench/results/console.json).
console-shots: venv browser
	$(PY) -m bench console

# Debian's Chromium for the console's browser tests (Playwright drives it; no browser download).
browser:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" != 0 ]; then echo "chromium is missing: sudo apt-get install chromium" >&2; exit 1; fi; \
	  echo "make: installing Debian's chromium for the console tests (first run only)"; \
	  if apt-cache policy chromium | grep -q 'Candidate: (none)' || [ -z "$$(apt-cache policy chromium)" ]; then \
	    apt-get update -qq; \
	  fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

# LiteLLM proxy (pinned, its own venv under .cache/peers/, no database) beside our pipeline and the fake provider.
bench-peers: venv
	$(PY) -m bench peers

clean:
	@if [ -x $(PY) ]; then $(PY) -m stack down; $(PY) -m stack down --profile cluster; $(PY) -m stack down --profile test; fi
	rm -rf .run .mypy_cache .ruff_cache .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .cache
