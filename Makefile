# The two commands a newcomer needs: `make run` and `make test`.
# Each creates/updates .venv itself (re-installs only when pyproject.toml changes).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-floors e2e lint crds bench bench-peers clean controlplane cluster cluster-down

$(STAMP): pyproject.toml .ci/constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c .ci/constraints.txt -e '.[dev]' > $(VENV)/pip.log 2>&1 || (cat $(VENV)/pip.log; exit 1)
	$(BIN)/python -c 'import pjob, kopf, pytest'
	$(BIN)/python -m compileall -q operator > /dev/null  # bytecode, as a regular install has (shells may set PYTHONDONTWRITEBYTECODE)
	touch $(STAMP)

run: $(STAMP)  ## set up and run the example job
	$(BIN)/pjob run examples/batch-scoring/pipeline.yml --runs-dir pjob-runs --fresh
	@echo "--- first rows of the output (pjob-runs/batch-scoring/steps/score/outputs/predictions):"
	@head -5 pjob-runs/batch-scoring/steps/score/outputs/predictions
	@echo "--- logs: pjob-runs/batch-scoring/steps/score/logs/ (start with job_result.txt)"

REALKUBE := PYTHONPATH=tests/cluster $(BIN)/python -m realkube

LINT_PATHS := operator tests bench examples

lint: $(STAMP)  ## ruff (lint and format check) and mypy (config in pyproject.toml)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

test: $(STAMP) controlplane lint  ## set up, lint and run the tests
	$(BIN)/lint-imports --config pyproject.toml
	$(BIN)/pytest -q

controlplane: $(STAMP)  ## build the test control plane (kube-apiserver, etcd, ... from upstream Go modules); cached in .cache/
	@$(REALKUBE) build

cluster: $(STAMP) controlplane  ## start a real control plane + stand-in kubelet + operator in the background (.cluster/)
	@$(REALKUBE) up

cluster-down:  ## stop everything `make cluster` started
	@$(REALKUBE) down

# The data and engine tests again on the lowest pandas/pyarrow pyproject.toml
# admits (.ci/floors.py derives the constraints), so a floor is a tested promise.
FLOORS := .venv-floors
FLOORS_STAMP := $(FLOORS)/.installed
FLOOR_TESTS := tests/unit/data tests/unit/engine tests/local/test_engine_contract.py tests/local/test_engine_failures.py \
	tests/local/test_engine_resume.py tests/local/test_engine_tables.py tests/local/test_engine_table_counts.py \
	tests/local/test_step_python.py

$(FLOORS_STAMP): pyproject.toml .ci/constraints.txt .ci/floors.py
	test -x $(FLOORS)/bin/python || $(PY) -m venv $(FLOORS)
	$(PY) .ci/floors.py pyproject.toml .ci/constraints.txt > $(FLOORS)/constraints.txt
	$(FLOORS)/bin/pip install -q --upgrade pip
	$(FLOORS)/bin/pip install -q -c $(FLOORS)/constraints.txt -e '.[dev]' > $(FLOORS)/pip.log 2>&1 || (cat $(FLOORS)/pip.log; exit 1)
	$(FLOORS)/bin/python -c 'import pandas, pyarrow; print("floors: pandas", pandas.__version__, "pyarrow", pyarrow.__version__)'
	touch $(FLOORS_STAMP)

test-floors: $(FLOORS_STAMP)  ## data and engine tests on the pyproject floors of pandas and pyarrow
	$(FLOORS)/bin/pytest -q $(FLOOR_TESTS)

e2e: $(STAMP)  ## real cluster tests: needs docker, kind, helm
	$(BIN)/pytest -q -m e2e tests/e2e

crds: $(STAMP)
	$(BIN)/pjob crds --output crds
	cp crds/*.yaml helm/pjob/crds/

bench: $(STAMP)  ## benchmarks (not run by CI): ratios against baselines measured in the same run; fails on a missed target
	status=0; for b in overhead scaling plan_bench table_job; do $(BIN)/python bench/$$b.py || status=1; done; exit $$status

# pjob beside a Pool script, Ray Data and Dask (bench/peers.py), in its own venv: Ray and Dask are not pjob's dependencies
PEERS := .venv-peers
PEERS_STAMP := $(PEERS)/.installed

$(PEERS_STAMP): pyproject.toml .ci/constraints.txt
	test -x $(PEERS)/bin/python || $(PY) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q --upgrade pip
	$(PEERS)/bin/pip install -q -c .ci/constraints.txt -e . 'ray[data]' 'dask[distributed]' > $(PEERS)/pip.log 2>&1 || (cat $(PEERS)/pip.log; exit 1)
	$(PEERS)/bin/python -m compileall -q operator > /dev/null
	touch $(PEERS_STAMP)

bench-peers: $(PEERS_STAMP)  ## pjob vs multiprocessing.Pool, Ray Data and Dask on the same workloads (a few minutes)
	$(PEERS)/bin/python bench/peers.py

clean:
	rm -rf $(VENV) $(FLOORS) $(PEERS) pjob-runs
