# phasegate: the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PLAN   ?= plans/demo.yaml
# pytest-xdist workers for the test targets: more than the 2 cores of CI, as most tests wait on
# the processes they start (make test WORKERS=0 runs in one process)
WORKERS ?= 4
# (bytecode written while testing, whatever the environment says: with PYTHONDONTWRITEBYTECODE=1,
# common in containers, every worker compiled and assertion-rewrote every test module again, and
# every helper script a test starts compiled at each start: about 15 s of make test on 2 cores)
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(WORKERS)
# the test modules compiled once, before the workers start (each would compile all of them at
# once on a clean clone); a module that does not import is reported by the run that follows
PRECOLLECT := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest --collect-only -q -p no:cacheprovider >/dev/null 2>&1 || true

.PHONY: run test test-slow test-all agent-clis check lint types contract bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,dask]'
	@# bytecode now, as a wheel install does: start-up must not compile the sources each time
	@# (PYTHONDONTWRITEBYTECODE=1, common in containers, would otherwise make that permanent)
	$(BIN)/python -m compileall -q engine tui src/phasegate/__init__.py
	touch $(STAMP)

install: $(STAMP)

## make run: create the venv, install, open phasegate on the bundled demo plan
run: $(STAMP)
	$(BIN)/phasegate run $(PLAN)

## make test: install (the coding-agent CLIs too, pinned, into the user's cache) and run the
## suite but its slow tests (marker `slow`) on 4 pytest-xdist workers (WORKERS=N): about 2
## minutes on 2 cores
test: $(STAMP) agent-clis
	@$(PRECOLLECT)
	$(PYTEST) -m "not slow"

## make test-slow: the slow end-to-end tests only (agent CLIs, Dask, kill -9 and take-over,
## tmux, sshd, make run), on the same workers, about 3 minutes: CI runs it after make test;
## without npm the agent tests skip, saying so
test-slow: $(STAMP) agent-clis
	@$(PRECOLLECT)
	$(PYTEST) -m slow

## make test-all: the whole suite in one pytest run (make test and make test-slow together)
test-all: $(STAMP) agent-clis
	@$(PRECOLLECT)
	$(PYTEST)

agent-clis:
	sh agents/install.sh || echo "warning: the coding-agent CLIs did not install; their tests are skipped"

## make check: lint, types and the import contract
check: lint types contract

lint: $(STAMP)
	$(BIN)/ruff check engine tui tests bench
	$(BIN)/ruff format --check engine tui tests bench

types: $(STAMP)
	$(BIN)/mypy

contract: $(STAMP)
	$(BIN)/lint-imports

## make bench: benchmarks, each printing a ratio against a baseline measured in the same run
bench: $(STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/plan_load.py
	$(BIN)/python bench/risks.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/attach.py
	$(BIN)/python bench/agent_stream.py
	$(BIN)/python bench/dask_fanout.py
	$(BIN)/python bench/ssh_stream.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
