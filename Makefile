# camx — the two commands: `make demo` and `make test` (both set everything up first).
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
CAMX    := $(BIN)/camx
STAMP   := $(VENV)/.installed
DEMO_DIR ?= outputs/demo
DEMO_PRESET ?= quick

.PHONY: install demo test lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -p no:cacheprovider --durations=8

lint: install
	$(BIN)/ruff check camx cli tests benchmarks
	$(BIN)/ruff format --check camx cli tests benchmarks

format: install
	$(BIN)/ruff format camx cli tests benchmarks
	$(BIN)/ruff check --fix camx cli tests benchmarks

# The demo: train plain, dropout and dropkey ResNet50 from scratch on the embedded shapes (a Hydra
# sweep), evaluate them under noise variance 0.6 and along the paper's noise curve, draw heatmaps.
demo: install
	@start=$$(date +%s); \
	$(CAMX) train -m experiment=$(DEMO_PRESET) model.head=plain,dropout,dropkey outputs_dir=$(DEMO_DIR) && \
	$(CAMX) eval experiment=$(DEMO_PRESET) perturb=noise_sweep map_metrics=false outputs_dir=$(DEMO_DIR) && \
	$(CAMX) eval experiment=$(DEMO_PRESET) --noise 0.6 outputs_dir=$(DEMO_DIR) && \
	$(BIN)/python -c "from camx.data.shapes import export_samples; export_samples('$(DEMO_DIR)/samples', 4)" && \
	$(CAMX) explain $(DEMO_DIR)/samples --method gradcam,gradcampp,gradpp_scorecam outputs_dir=$(DEMO_DIR) && \
	echo "make demo: finished in $$(( $$(date +%s) - start )) s; results under $(DEMO_DIR)/"

# Benchmarks against pytorch-grad-cam and TorchCAM (run on an idle machine; writes benchmarks/results/ and
# docs/PERFORMANCE.md). BENCH_ARGS=--quick for a smoke run, BENCH_ARGS=--full for everything.
bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
