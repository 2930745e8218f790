# Two commands do everything on a fresh machine (Python 3.11, registries only):
#   make search   install into .venv and run the quick CIFAR-10 search on the bundled subset
#   make test     install into .venv and run lint + the test suite
# DEVICE=gpu installs paddlepaddle-gpu instead of the CPU build (untested here).
PYTHON ?= python3
VENV ?= .venv
DEVICE ?= cpu
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(DEVICE)
PYTEST_ARGS ?=

.PHONY: install demo search test lint format clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt --no-deps parl==2.2.1
	$(PY) -m pip install -q -c constraints.txt -e ".[$(DEVICE),dev,onnx]"
	touch $@

install: $(STAMP)

demo: install
	$(VENV)/bin/autodl-design demo count-ones -c configs/count_ones.yaml

search: install
	bash scripts/search_cifar10.sh search_wide

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
