# hivelog — `make serve` runs it, `make test` tests it. Everything lives in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

# Real instrumentation libraries (tests/instrumentations): one virtualenv per stack, since
# traceloop-sdk pins other versions than the rest; each installs its exact pins with --no-deps.
INSTR := .venv-instr
INSTR_STACKS := otel traceloop
INSTR_STAMPS := $(INSTR_STACKS:%=$(INSTR)/%/.installed)
NODE_DIR := tests/instrumentations/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

.PHONY: install serve test test-py test-go test-java instrumentations lint bench bench-all fmt fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml clients/python/pyproject.toml
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet -e clients/python
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@

$(INSTR)/%/.installed: tests/instrumentations/requirements/%.txt
	rm -rf $(INSTR)/$*
	$(PYTHON) -m venv $(INSTR)/$*
	$(INSTR)/$*/bin/pip install --quiet --no-deps -r $<
	touch $@

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

instrumentations: $(INSTR_STAMPS) $(NODE_STAMP)  ## the instrumentation stacks the tests run (Python venvs, Node packages)

install: $(STAMP)  ## the .venv with hivelog and its `hivelog` command

serve: install  ## start hivelog on 127.0.0.1:8080 with SQLite (~/.hivelog/hivelog.db)
	$(BIN)/hivelog serve

test: test-py test-go test-java  ## install test dependencies and run every test

test-py: $(TEST_STAMP) instrumentations
	$(BIN)/pytest -q tests
	$(BIN)/pytest -q clients/python/tests

test-go: install  ## the Go logger against a real hivelog (needs `go`; .ci/run installs golang-go)
	@if [ -d clients/go/hivelog ]; then cd clients/go/hivelog && HIVELOG_BIN=$(CURDIR)/$(BIN)/hivelog GOTOOLCHAIN=local go test -count=1 ./...; fi

test-java: install  ## the Java logger against a real hivelog (JDK 17)
	@if [ -x clients/java/test.sh ]; then HIVELOG_BIN=$(CURDIR)/$(BIN)/hivelog clients/java/test.sh; fi

lint: $(TEST_STAMP)  ## ruff on everything, mypy --strict on src/ and the Python client
	$(BIN)/ruff check src tests bench clients
	$(BIN)/ruff format --check src tests bench clients
	$(BIN)/mypy src
	$(BIN)/mypy --strict clients/python/src

fmt: $(TEST_STAMP)
	$(BIN)/ruff format src tests bench clients
	$(BIN)/ruff check --fix src tests bench clients

fuzz: $(TEST_STAMP)  ## long runs: 300 schemathesis cases per route, 200 property cases, 30 kills
	HIVELOG_FUZZ_EXAMPLES=300 HIVELOG_PROPERTY_EXAMPLES=200 HIVELOG_KILLS=30 HIVELOG_FUZZ_RANDOM=1 \
		$(BIN)/pytest -q -s tests/fuzz tests/reliability/test_kill.py

bench: install  ## ingest benchmark against a raw-SQLite baseline, same run
	$(BIN)/python bench/ingest.py

bench-all: install  ## every benchmark: ingest, OTLP, session tree, client, UI (needs chromium), PostgreSQL ingest
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/otlp.py
	$(BIN)/python bench/tree.py
	$(BIN)/python bench/client.py
	$(BIN)/python bench/ui.py
	$(BIN)/python bench/ingest.py --db postgresql://postgres@127.0.0.1:5432/test

clean:
	rm -rf $(VENV) $(INSTR) $(NODE_DIR)/node_modules build *.egg-info src/*.egg-info
