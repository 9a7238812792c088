# agentic-rag: the user's entry points. `make train` and `make test` work on a fresh clone:
# they create .venv/ inside the repo, install what they need, then run.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/agentic-rag
STAMP := $(VENV)/.installed
# torch==2.13.0 is a CPU wheel on the CPU-only machines this project is developed on and the
# CUDA build from PyPI on GPU machines; override e.g. TORCH_SPEC="torch==2.13.0 --index-url ...".
TORCH_SPEC ?= torch==2.13.0
# ray: `index serve --ray` and its tests (about 50 s more to install); EXTRAS=dev,server skips it
EXTRAS ?= dev,server,ray

RECIPE ?= recipes/tiny.yaml
ARGS ?=
CORPUS ?=
OUT ?=
INDEX_ARGS ?=
EVAL_ARGS ?=
PYTEST_ARGS ?=

.PHONY: install train eval index test bench lint format clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(CLI) train --config $(RECIPE) $(ARGS)

eval: $(STAMP)
	$(CLI) eval $(EVAL_ARGS)

index: $(STAMP)
	@test -n "$(CORPUS)" -a -n "$(OUT)" || { echo "usage: make index CORPUS=corpus.jsonl OUT=index_dir [INDEX_ARGS='--index-type HNSW32']"; exit 2; }
	$(CLI) index build --corpus $(CORPUS) --out $(OUT) $(INDEX_ARGS)

# pytest exits 5 when it collects nothing: that is a broken suite, said out loud.
test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; fi; exit $$rc

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
