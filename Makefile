# rawi: every target sets up what it needs (the venv and the pinned packages).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_WAIT_POLICY ?= PASSIVE
export TOKENIZERS_PARALLELISM ?= false
CHROMA_HOST ?= 127.0.0.1
CHROMA_PORT ?= 8000
CHROMA_PATH ?= chroma-server-data

.PHONY: run test bench bench-scale eval stress lint chroma-server clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, from the CPU build: otherwise pip resolves a CUDA build of several GB
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/rawi run

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

# INGEST_MINUTES=M stops each phase of the full ingest after M minutes (see bench/scale.py)
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale

eval: $(STAMP)
	$(BIN)/python -m bench.eval

# faults on loopback: kill -9 mid-write, a full disk (STRESS_RUNS, STRESS_MINUTES, STRESS_SEED)
stress: $(STAMP)
	$(BIN)/python -m bench.stress

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

chroma-server: $(STAMP)
	$(BIN)/chroma run --host $(CHROMA_HOST) --port $(CHROMA_PORT) --path $(CHROMA_PATH)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
