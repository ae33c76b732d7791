# Set-up is part of every target: each creates or reuses .venv and installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
# Editable install: setuptools' finder maps mre.processor -> processor/ etc. (DESIGN.md, layout).
# mypy cannot follow that finder, so `lint` type-checks a plain install in build/typecheck.
INSTALL := -e .
TYPECHECK := build/typecheck

.PHONY: demo test bench bench-compiled lint promtool clean record-apps

demo: $(VENV)/.demo-installed
	$(BIN)/mre demo

test: $(VENV)/.test-installed promtool
	$(BIN)/python -m pytest -q

bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/run.py

# The same figures for the optional compiled build (setup.py, MRE_MYPYC=1: mypyc and the C compiler,
# a few minutes), installed under build/compiled beside the checkout's pure-Python package.
bench-compiled: $(VENV)/.test-installed
	rm -rf build/compiled build/compiled-wheel
	MRE_MYPYC=1 $(PIP) wheel --no-deps --no-build-isolation -w build/compiled-wheel .
	$(PIP) install --no-deps --target build/compiled build/compiled-wheel/*.whl
	PYTHONPATH=$(abspath build/compiled) $(BIN)/python benchmarks/run.py

# Re-record the real-application matrix (tests/fixtures/apps/): one virtualenv per instrumentation at
# the versions pinned in tests/realapps/requirements/. Needs the package registry; not part of `test`.
record-apps:
	bash tests/realapps/record_all.sh

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	rm -rf $(TYPECHECK) build/lib && $(PIP) install --no-deps --target $(TYPECHECK) .
	cd $(TYPECHECK) && $(abspath $(BIN))/mypy -p mre --config-file $(abspath pyproject.toml)

# Prometheus (promtool, and the server for the live-query test) and Alertmanager (amtool, and the
# server for the inhibition test), as Debian ships them.
promtool:
	@{ command -v promtool && command -v amtool && command -v prometheus-alertmanager; } >/dev/null 2>&1 || { \
	  echo "installing Prometheus and Alertmanager from Debian's packages"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    prometheus prometheus-alertmanager >/dev/null; }
	@promtool --version | head -n 1
	@amtool --version | head -n 1

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(PIP) install $(INSTALL)'[demo]'
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	# The judges extra needs torch: take a CPU build before sentence-transformers can ask for a CUDA
	# build of several GB: the one these machines keep on disk (2.13.0), else PyTorch's CPU index.
	$(PIP) install 'torch==2.13.0' || $(PIP) install torch --index-url https://download.pytorch.org/whl/cpu
	$(PIP) install $(INSTALL)'[test,dev,judges]'
	@touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache benchmarks/out
