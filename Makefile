# hivelog — `make serve` runs it, `make test` tests it. Everything Python lives in .venv.
#
# Adding a test dependency:
#   - a Python package: add it to the `test` extra in pyproject.toml (the .installed-test
#     stamp depends on pyproject.toml, so the next `make test` installs it);
#   - a Node package a test drives: give it a directory with package.json and
#     package-lock.json and add that directory to NODE_TEST_PACKAGES (`npm ci` runs once per
#     lock change; nodejs and npm are then installed from Debian when missing);
#   - a Python stack that cannot share .venv: tests/instrumentations/requirements/NAME.txt
#     and NAME in INSTR_STACKS (its own virtualenv under .venv-instr/);
#   - a Debian package: add `command:package` to SYSTEM_NEEDS;
#   - a new suite: a `test-NAME` target, added to TEST_SUITES (they run in parallel).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

# pytest-xdist workers for tests/; each test file runs whole on one worker, so module-scoped
# servers are shared as before. Tests wait on free ports and their own databases.
# Two per core: most of a test's time is spent waiting on a server process.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) * 2 )))
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist loadfile
# Suites that `make test` runs side by side (make -j, output kept per suite).
TEST_SUITES := test-py test-ui test-client-py test-go test-java
TEST_JOBS ?= $(words $(TEST_SUITES))

# Directories of Node packages the tests use (package.json + package-lock.json each).
NODE_TEST_PACKAGES := tests/instrumentations/node
NODE_STAMPS := $(NODE_TEST_PACKAGES:%=%/node_modules/.installed)

# Real instrumentation libraries (tests/instrumentations): one virtualenv per stack, since
# traceloop-sdk pins other versions than the rest; each installs its exact pins with --no-deps.
INSTR := .venv-instr
INSTR_STACKS := otel traceloop
INSTR_STAMPS := $(INSTR_STACKS:%=$(INSTR)/%/.installed)

# What the tests need from Debian, as `command:package`: installed when the command is missing.
SYSTEM_NEEDS := go:golang-go chromium:chromium javac:default-jdk-headless \
	$(if $(NODE_TEST_PACKAGES),node:nodejs npm:npm)
# PostgreSQL for the postgres half of the suite (HIVELOG_TEST_PG overrides the admin URL).
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432

.PHONY: install serve test $(TEST_SUITES) test-deps system-deps postgres instrumentations lint \
	bench bench-all fmt fuzz clean

# ---- Python environment ------------------------------------------------------------------

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml clients/python/pyproject.toml
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet -e clients/python
	touch $@

$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

$(INSTR)/%/.installed: tests/instrumentations/requirements/%.txt
	rm -rf $(INSTR)/$*
	$(PYTHON) -m venv $(INSTR)/$*
	$(INSTR)/$*/bin/pip install --quiet --no-deps -r $<
	touch $@

%/node_modules/.installed: %/package.json %/package-lock.json | system-deps
	cd $* && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP)  ## the .venv with hivelog and its `hivelog` command (.venv/bin/hivelog)

serve: install  ## start hivelog on 127.0.0.1:8080 with SQLite (~/.hivelog/hivelog.db)
	$(BIN)/hivelog serve

# ---- what the tests need from the machine ------------------------------------------------

system-deps:  ## install the Debian packages the tests need when missing (go, chromium, a JDK)
	@missing=""; \
	for need in $(SYSTEM_NEEDS); do \
		command -v "$${need%%:*}" >/dev/null 2>&1 || missing="$$missing $${need#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
		echo "make: the tests need$$missing: installing with apt-get"; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null && \
		echo "make: installed$$missing"; \
	fi

postgres:  ## start the local PostgreSQL cluster if nothing answers at 127.0.0.1:5432
	@if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h $(PG_HOST) -p $(PG_PORT) -q; then \
		if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then \
			echo "make: PostgreSQL is down at $(PG_HOST):$(PG_PORT): starting it"; \
			pg_ctlcluster --skip-systemctl-redirect "$$(ls /etc/postgresql | tail -1)" main start \
				|| echo "make: could not start PostgreSQL; its tests will say what is missing"; \
		fi; \
	fi

instrumentations: $(INSTR_STAMPS) $(NODE_STAMPS)  ## the instrumentation stacks the tests run (Python venvs, Node packages)

test-deps: system-deps postgres $(TEST_STAMP) instrumentations  ## everything `make test` needs

# ---- tests -------------------------------------------------------------------------------

test:  ## install what the tests need (in parallel), then run every suite in parallel
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target test-deps
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target $(TEST_SUITES)

test-py: test-deps  ## the server's tests (tests/ but the browser pages), on every backend
	$(BIN)/pytest -q $(PYTEST_PARALLEL) tests --ignore=tests/ui

# The page tests share one sync Playwright per process; a worker that ran an asyncio test
# before them refused it, so they run in a process of their own beside the rest.
test-ui: test-deps  ## the web UI in Chromium (tests/ui), on SQLite and PostgreSQL
	$(BIN)/pytest -q tests/ui

test-client-py: test-deps  ## the Python client against a real hivelog
	$(BIN)/pytest -q clients/python/tests

test-go: test-deps  ## the Go logger against a real hivelog
	cd clients/go/hivelog && HIVELOG_BIN=$(CURDIR)/$(BIN)/hivelog GOTOOLCHAIN=local \
		go test -count=1 ./...

test-java: test-deps  ## the Java logger against a real hivelog (JDK 17)
	HIVELOG_BIN=$(CURDIR)/$(BIN)/hivelog clients/java/test.sh

# ---- the rest ----------------------------------------------------------------------------

lint: $(TEST_STAMP)  ## ruff on everything, mypy --strict on src/ and the Python client
	$(BIN)/ruff check src tests bench clients
	$(BIN)/ruff format --check src tests bench clients
	$(BIN)/mypy src
	$(BIN)/mypy --strict clients/python/src

fmt: $(TEST_STAMP)
	$(BIN)/ruff format src tests bench clients
	$(BIN)/ruff check --fix src tests bench clients

fuzz: test-deps  ## long runs: 300 schemathesis cases per route, 200 property cases, 30 kills
	HIVELOG_FUZZ_EXAMPLES=300 HIVELOG_PROPERTY_EXAMPLES=200 HIVELOG_KILLS=30 HIVELOG_FUZZ_RANDOM=1 \
		$(BIN)/pytest -q -s tests/fuzz tests/reliability/test_kill.py

bench: $(BENCH_STAMP)  ## ingest benchmark against a raw-SQLite baseline, same run
	$(BIN)/python bench/ingest.py

bench-all: $(BENCH_STAMP) system-deps postgres  ## every benchmark (UI needs chromium, one needs PostgreSQL)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/otlp.py
	$(BIN)/python bench/tree.py
	$(BIN)/python bench/client.py
	$(BIN)/python bench/ui.py
	$(BIN)/python bench/ingest.py --db postgresql://postgres@$(PG_HOST):$(PG_PORT)/test

clean:
	rm -rf $(VENV) $(INSTR) $(NODE_STAMPS:%/.installed=%) build *.egg-info src/*.egg-info
