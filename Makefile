# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
OUT     ?= out
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test bench soak clean web

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
	$(BIN)/borderwatch channel demo iraq-syria --plan $(OUT)/plan -o $(OUT)/channel --overwrite
	$(BIN)/borderwatch report $(OUT) -o $(OUT)/report.html

test: $(STAMP_TEST)
	$(BIN)/python -m pytest -n 2 -q

# Peers that cannot share our venv (taky pins old dependencies) get their own.
TAKY_VENV := .bench-peers/taky
$(TAKY_VENV)/bin/taky:
	$(PY) -m venv $(TAKY_VENV)
	$(TAKY_VENV)/bin/python -m pip install -q taky==0.10

bench: $(STAMP_TEST) $(TAKY_VENV)/bin/taky
	$(BIN)/python -m pip install -q -e '.[bench]'
	TAKY=$(CURDIR)/$(TAKY_VENV)/bin/taky $(BIN)/python bench/run.py

soak: $(STAMP_TEST)
	$(BIN)/python -m pytest -q -m soak tests


# The web map's browser assets, from npm (package-lock.json pins them) into the package.
# Their output is committed (src/borderwatch/web/static/vendor, web/data), so `make demo`
# and `make test` never need node or the npm registry; run this to update or re-derive them.
WEB_VENDOR := src/borderwatch/web/static/vendor/leaflet
web: | $(BIN)/python
	npm ci --no-audit --no-fund
	mkdir -p $(WEB_VENDOR)/images
	cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css $(WEB_VENDOR)/
	cp node_modules/leaflet/dist/images/*.png $(WEB_VENDOR)/images/
	cp node_modules/leaflet/LICENSE $(WEB_VENDOR)/LICENSE
	$(BIN)/python tools/derive_basemap.py node_modules src/borderwatch/web/data/countries.geojson

clean:
	rm -rf $(VENV) $(OUT) .bench-peers build *.egg-info src/*.egg-info
