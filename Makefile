# Two commands set everything up: `make repro` (the replication) and `make test` (the test suite).
VENV ?= .venv
PY := $(VENV)/bin/python
# pytest-xdist workers for `make test`: each test file runs whole in one worker (--dist loadfile), so the two
# end-to-end files (a tiny `dvc repro`, the README's commands on the committed project) run side by side
TEST_WORKERS ?= 2
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup data repro test test-fast lint bench report clean-venv

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,cluster]'
	touch $@

setup: $(VENV)/.installed

data: setup  ## build data/ from FROM=PATH (archive, batches folder or PNG tree), or download it
	$(PY) -m replication.tools.data fetch $(if $(FROM),--from $(FROM),)

repro: setup  ## check (or download) the data, then run every out-of-date stage
	$(PY) -m replication.tools.data ensure
	dvc repro

test: setup  ## the suite CI runs: lint, then pytest on synthetic data, CPU only, in TEST_WORKERS processes
	$(VENV)/bin/ruff check replication tests bench migrations
	$(PY) -m pytest -q --durations=25 -n $(TEST_WORKERS) --dist loadfile

test-fast: setup  ## everyday tier: everything but the slow tier (17-23 s on 2 cores)
	$(VENV)/bin/ruff check replication tests bench migrations
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check replication tests bench migrations

bench: setup
	$(PY) bench/train_throughput.py

clean-venv:
	rm -rf $(VENV)
