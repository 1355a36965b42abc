# `make demo` trains the spiral energy model; `make test` runs the quick tests (unit tests and a tiny run of each
# command), `make test-e2e` the longer end-to-end ones, `make test-all` every test (the slow claims too).
# Both create .venv on first use and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-e2e test-all test-cuda wheels lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch==2.13.0 first: it resolves to the local CPU wheel instead of a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,ray,playground,datasets]'
	$(BIN)/python -m pip install -q --no-deps 'animal-mnist>=0.4'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ebmplan spiral --out runs/demo --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -m 'e2e and not slow'

test-all: $(STAMP)
	$(BIN)/python -m pytest -m ''

# On a machine with a CUDA GPU whose $(PYTHON) has a CUDA build of torch and this project's dependencies
# (no .venv: such machines often cannot download): every command on the GPU, checked against the CPU, then the
# inference benchmark there (it needs the `bench` extra, torchebm). `make wheels` (here, online) fetches the
# pure-Python dependencies such a machine usually lacks; there:
#   pip install --no-index --no-deps --target /tmp/site wheels/*.whl && PYTHONPATH=/tmp/site make test-cuda
wheels: $(STAMP)
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: -d wheels \
		tyro docstring-parser typeguard gymnasium farama-notifications torchebm

test-cuda:
	$(PYTHON) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU is available')"
	PYTHONPATH=src:$$PYTHONPATH $(PYTHON) -m pytest -m '' tests/test_device.py
	PYTHONPATH=src:$$PYTHONPATH $(PYTHON) benchmarks/vs_torchebm.py --device cuda --section inference

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs build src/*.egg-info
