# The verbs a newcomer types. Everything installs itself into .venv (Python 3.13, as Lambda runs).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# pyenv's 3.13 first (its python3.13 shim on PATH fails unless that version is selected).
PYTHON313 ?= $(shell PYENV_VERSION=3.13.0 pyenv which python3 2>/dev/null \
	|| ls -d $(HOME)/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -n 1 \
	|| command -v python3.13)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# sam build looks for python3.13 on PATH: the virtual environment's comes first.
export PATH := $(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
# Node tools (Redocly CLI), pinned with their integrity hashes in requirements/npm/package-lock.json.
NPM_TOOLS := .npm-tools
REDOCLY := $(CURDIR)/$(NPM_TOOLS)/node_modules/.bin/redocly
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

.PHONY: help install run jwt browser test lint typecheck template openapi build events validator load bench lock deploy clean dashboard publish costs

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/dev.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13) or set PYTHON313=/path/to/python3.13"; exit 1; }
	$(PYTHON313) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	@touch $@

install: $(VENV)/.installed ## create .venv with the pinned dependencies

run: install ## the API on http://127.0.0.1:$${PORT:-3000}, no Docker, no AWS (AUTH_MODE=JWT, POLICY=file)
	$(BIN)/python -m localdev.run

jwt: install ## a bearer token for AUTH_MODE=JWT make run: SUB=... [SCOPES="a b"] [CLAIMS='{...}'] [PORT=...]
	@$(BIN)/python -m localdev.jwt

lint: install ## ruff (lint + format), mypy (code and tests), import-linter (the layer's architecture)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/stream_tokens/stream_tokens functions localdev benchmarks tests operations
	PYTHONPATH=layers/stream_tokens:. $(BIN)/lint-imports

$(VENV)-checkov/.installed: requirements/checkov.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found"; exit 1; }
	$(PYTHON313) -m venv $(VENV)-checkov
	$(VENV)-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	@touch $@

$(NPM_TOOLS)/.installed: requirements/npm/package.json requirements/npm/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js (20.19+ or 22.12+) for Redocly CLI"; exit 1; }
	rm -rf $(NPM_TOOLS) && mkdir -p $(NPM_TOOLS)
	cp requirements/npm/package.json requirements/npm/package-lock.json $(NPM_TOOLS)/
	cd $(NPM_TOOLS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

template: install openapi $(VENV)-checkov/.installed $(NPM_TOOLS)/.installed ## sam validate --lint, cfn-lint (+ serverless rules), checkov, redocly lint
	$(BIN)/sam validate --lint --template template.yaml
	$(BIN)/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(VENV)-checkov/bin/checkov --file template.yaml --framework cloudformation --quiet --compact --skip-download
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(REDOCLY) lint --config redocly.yaml

openapi: install ## openapi.{iam,jwt,none}.json: the API's document as each AuthMode deploys it, for client generators
	@# openapi.yaml's security parts are CloudFormation conditions on AuthMode: resolved here, as a client reads them
	for mode in iam jwt none; do \
		$(BIN)/python -m localdev.standins.template $${mode^^} > openapi.$$mode.json.tmp && mv openapi.$$mode.json.tmp openapi.$$mode.json || exit 1; \
	done

# Debian's Chromium for tests/browser (driven by playwright-core from $(NPM_TOOLS)), installed when absent.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser: $(NPM_TOOLS)/.installed ## Chromium (apt-get, when missing) and playwright-core for the browser test
	@if [ -x $(CHROMIUM) ]; then :; \
	elif command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "no apt-get here: tests/browser will be skipped (it needs Chromium at $(CHROMIUM))"; fi

build: install ## sam build (the layer for arm64, the function folder)
	$(BIN)/sam build --template template.yaml

test: install lint template build browser ## everything CI runs: lint, types, template checks, build, tests
	$(BIN)/pytest

load: install ## bounded load run on loopback: 10,000 requests x 16 connections per signing mode
	$(BIN)/python -m localdev.load

bench: install build ## this package against two peers on loopback: a table, and bench-results.json
	$(BIN)/sam build --template benchmarks/peers/cloudflare_sdk/template.yaml --build-dir .aws-sam/bench-peer-sdk
	$(BIN)/python -m benchmarks.run

validator: install ## regenerate the TokenRequest validator compiled ahead of time from openapi.yaml
	$(BIN)/python -m localdev.make_validator

events: install ## regenerate events/ (API Gateway v2 events for sam local invoke -e)
	$(BIN)/python -m localdev.make_events

lock: install ## re-pin requirements/dev.txt, the layer's and the bench peer's requirements.txt
	$(BIN)/uv pip compile --quiet --python-version 3.13 requirements/dev.in -o requirements/dev.txt
	$(BIN)/uv pip compile --quiet --python-version 3.13 requirements/checkov.in -o requirements/checkov.txt
	$(BIN)/uv pip compile --quiet --python-version 3.13 --no-header layers/stream_tokens/requirements.in \
		-c requirements/dev.txt -o layers/stream_tokens/requirements.txt
	$(BIN)/uv pip compile --quiet --python-version 3.13 --no-header benchmarks/peers/cloudflare_sdk/requirements.in \
		-c requirements/dev.txt -o benchmarks/peers/cloudflare_sdk/requirements.txt
	cd requirements/npm && npm install --package-lock-only --ignore-scripts --no-audit --no-fund

deploy: build ## sam deploy --guided (needs AWS credentials)
	$(BIN)/sam deploy --guided

dashboard: install ## rewrite the CloudWatch dashboard in template.yaml from observability.py's metric names
	PYTHONPATH=layers/stream_tokens $(BIN)/python -m operations.dashboard

costs: install ## docs/operating/costs.md's cost per million tokens: prices in operations/costs.py, log bytes measured through the handler
	PYTHONPATH=layers/stream_tokens $(BIN)/python -m operations.costs

publish: build ## sam package + sam publish to the Serverless Application Repository (S3_BUCKET=..., AWS credentials)
	@test -n "$(S3_BUCKET)" || { echo "usage: make publish S3_BUCKET=<a bucket serverlessrepo.amazonaws.com may read (docs/publishing.md)>"; exit 1; }
	PYTHONPATH=layers/stream_tokens $(BIN)/python -m operations.publish check
	PYTHONPATH=layers/stream_tokens $(BIN)/python -m operations.publish template .aws-sam/build/template.yaml .aws-sam/build/publish.json
	$(BIN)/sam package --template-file .aws-sam/build/publish.json --s3-bucket $(S3_BUCKET) --output-template-file .aws-sam/packaged.yaml
	$(BIN)/sam publish --template .aws-sam/packaged.yaml --semantic-version $(VERSION)

clean: ## remove build output and the virtual environment
	rm -rf .aws-sam $(VENV) $(VENV)-checkov $(NPM_TOOLS) .mypy_cache .ruff_cache
