# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
OUT     ?= out
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test bench soak clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	mkdir -p $(OUT)
	$(BIN)/borderwatch scenario show iraq-syria
	$(BIN)/borderwatch scenario map iraq-syria -o $(OUT)/iraq-syria-map.png
	$(BIN)/borderwatch plan towers iraq-syria -o $(OUT)/towers
	$(BIN)/borderwatch plan iraq-syria -o $(OUT)/plan
	$(BIN)/borderwatch simulate iraq-syria --plan $(OUT)/plan --runs 4 --hours 24 -o $(OUT)/sim
	$(BIN)/borderwatch channel demo iraq-syria -o $(OUT)/channel --overwrite

test: $(STAMP_TEST)
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP_TEST)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/run.py

soak: $(STAMP_TEST)
	$(BIN)/python -m pytest -q -m soak tests

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info src/*.egg-info
