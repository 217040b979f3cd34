# seqtasks developer commands. `make install && make test` is all a fresh clone needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install espeak-ng test test-all lint bench gpu-check clean

install: $(VENV)/.installed espeak-ng

# The text-to-speech engine behind data.synthetic_sentences (speech); optional, so a failed install only warns.
espeak-ng:
	@command -v espeak-ng >/dev/null || (apt-get update -qq && apt-get install -y -qq espeak-ng) \
		|| echo "make install: could not install espeak-ng (synthetic speech needs it): run apt-get install espeak-ng as root"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,export,bench]"
	touch $@

test: install
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m "slow or not slow"

lint: install
	$(VENV)/bin/ruff check seqtasks recipes tests bench data

bench: install
	set -e; for f in bench/*.py; do [ $$f = bench/gpu_check.py ] && continue; echo "== $$f"; $(PY) $$f; done

# On a machine with an NVIDIA GPU: cuDNN == loop (outputs and gradients), explain(), mixed precision, a mirrored
# recipe run and the layer benchmark against Keras on cuDNN (about 5 minutes on one H100/H200).
gpu-check: install
	$(PY) bench/gpu_check.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
