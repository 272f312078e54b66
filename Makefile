# Two entry points on a fresh machine with only Python: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench

# torch first, pinned: a range would pull a multi-GB CUDA build; the project's range then adds nothing.
# TORCH_INDEX picks the build: e.g. https://download.pytorch.org/whl/cpu (CPU only, ~200 MB) or
# https://download.pytorch.org/whl/cu128 (a CUDA build); empty = PyPI's default for this machine.
TORCH_INDEX ?=
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/orchestrate run ablation_cdc_theta --preset quick
	$(BIN)/orchestrate report --tables --experiment ablation_cdc_theta

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/bench_cdc.py
	$(BIN)/python bench/bench_cache.py
	$(BIN)/python bench/bench_datapath.py
	$(BIN)/python bench/bench_orchestration.py
	$(BIN)/python bench/bench_search.py
	$(BIN)/python bench/bench_search.py --space autofas --layers 4 --size 48 --batch 8
	$(BIN)/python bench/bench_search_step.py
	$(BIN)/python bench/bench_plan.py
	$(BIN)/python bench/bench_synth.py --users 4
