# mmdiff: `make demo` runs the main job on the embedded data, `make test` runs every test
# (notebooks included; CI runs it), `make test-fast` the tests not marked slow, without notebooks.
# Both set everything up on a fresh machine: a .venv, the package, the embedded data.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# CPU build of torch unless a CUDA driver is present; override with `make TORCH=torch==2.5.1 ...`.
TORCH  ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo torch || echo torch==2.13.0)
SYNTH  := data/synthetic/data_3d_h36m_synth.npz
PYTEST_ARGS ?=

.PHONY: setup data lab test test-fast demo browser clean-notebooks bench book

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[notebooks,dev,cluster]"
	touch $@

setup: $(VENV)/.installed

$(SYNTH): | $(VENV)/.installed
	$(BIN)/mmdiff data synth --out data/synthetic

data: setup $(SYNTH)

lab: data
	$(BIN)/jupyter lab notebooks/

# Debian's Chromium for the browser test; skipped (the test says why) where it cannot be installed.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq chromium >/dev/null 2>&1) || \
	  echo "chromium not installed: the browser test will be skipped"; }

test: data browser
	MMDIFF_FAST=1 $(BIN)/python -m pytest tests notebooks --nbval-lax $(PYTEST_ARGS)

# The edit-test loop: tests not marked `@pytest.mark.slow` (training runs, browsers, subprocesses).
test-fast: data
	MMDIFF_FAST=1 $(BIN)/python -m pytest tests -m "not slow" $(PYTEST_ARGS)

demo: data
	$(BIN)/mmdiff demo

bench: setup
	$(BIN)/mmdiff bench $(BENCH_ARGS)

# The executed course as static HTML with its figures (book/index.html); BOOK_ARGS=--fast for small budgets.
book: data
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m mmdiff.course.book --out book $(BOOK_ARGS)

clean-notebooks: setup
	$(BIN)/python -m mmdiff.course.notebook_hygiene notebooks/*.ipynb
