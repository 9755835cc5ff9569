# camx — the two commands: `make demo` and `make test` (both set everything up first).
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
CAMX    := $(BIN)/camx
STAMP   := $(VENV)/.installed
DEMO_DIR ?= outputs/demo
DEMO_PRESET ?= quick
# the three trainings side by side, one torch thread each (2 cores: ~2× the throughput of one 2-thread run at a time)
DEMO_TRAIN ?= hydra/launcher=parallel hydra.launcher.n_jobs=3 trainer.threads=1

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
	$(CAMX) train -m experiment=$(DEMO_PRESET) model.head=plain,dropout,dropkey $(DEMO_TRAIN) outputs_dir=$(DEMO_DIR) && \
	$(CAMX) eval experiment=$(DEMO_PRESET) perturb=noise_sweep map_metrics=false outputs_dir=$(DEMO_DIR) && \
	$(CAMX) eval experiment=$(DEMO_PRESET) --noise 0.6 outputs_dir=$(DEMO_DIR) && \
	$(BIN)/python -m camx.cli.export_samples $(DEMO_DIR)/samples 4 experiment=$(DEMO_PRESET) && \
	$(CAMX) explain $(DEMO_DIR)/samples --method gradcam,gradcampp,gradpp_scorecam outputs_dir=$(DEMO_DIR) && \
	$(BIN)/python -m camx.cli.demo_summary $(DEMO_DIR) $$(( $$(date +%s) - start )) && \
	echo "make demo: finished in $$(( $$(date +%s) - start )) s; results under $(DEMO_DIR)/"

# Benchmarks against pytorch-grad-cam and TorchCAM (run on an idle machine; writes benchmarks/results/ and
# docs/PERFORMANCE.md). BENCH_ARGS=--quick for a smoke run, BENCH_ARGS=--full for everything.
bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
