# camx — the two commands: `make demo` and `make test` (both set everything up first).
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
CAMX    := $(BIN)/camx
STAMP   := $(VENV)/.installed
DEMO_DIR ?= outputs/demo
DEMO_PRESET ?= quick
STUDY_DIR ?= outputs/study
RESULTS ?= docs/RESULTS.md
# study trainings two at a time, one torch thread each (drop on a GPU: STUDY_TRAIN=). On the 2-core
# AMD EPYC: two 1-thread trainings 86 img/s together, three 69, one 2-thread training 64.5.
STUDY_TRAIN ?= hydra/launcher=parallel hydra.launcher.n_jobs=2 trainer.threads=1
# the three trainings side by side, one torch thread each (2 cores: ~2× the throughput of one 2-thread run at a time)
DEMO_TRAIN ?= hydra/launcher=parallel hydra.launcher.n_jobs=3 trainer.threads=1

.PHONY: install browser readme-figure demo test lint format bench bench-model clean study study-quick study-dropkey study-gradpp study-dropkey-quick study-gradpp-quick

install: $(STAMP)

# pip's own output (and the machine's pip warnings) go to $(VENV)/install.log; shown only on failure
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "make install: creating $(VENV)"; $(PY) -m venv $(VENV); }
	@echo "make install: pip install -e '.[dev]' (log: $(VENV)/install.log)"
	@{ $(BIN)/python -m pip install -q --upgrade pip && $(BIN)/python -m pip install -q -e '.[dev]'; } \
	  > $(VENV)/install.log 2>&1 || { tail -n 40 $(VENV)/install.log; echo "make install: failed, see $(VENV)/install.log"; exit 1; }
	@touch $(STAMP)
	@echo "make install: ready ($$($(BIN)/python -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)'))"

# the report test drives a real headless Chromium (Debian's package, through Playwright); as root
# (CI) a missing one is installed here, and the test then must not skip
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || { \
	  echo "make test: installing Debian's chromium for the report test (apt-get)"; \
	  { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } \
	    > $(VENV)/apt.log 2>&1 || { tail -n 20 $(VENV)/apt.log; echo "make test: apt-get install chromium failed"; exit 1; }; }
	@test -x $(CHROMIUM) || echo "make test: no $(CHROMIUM); the browser test will skip (apt-get install chromium)"

test: install browser
	CAMX_REQUIRE_BROWSER=$$(test -x $(CHROMIUM) && echo 1) $(BIN)/python -m pytest -p no:cacheprovider --durations=8

# the README's picture (docs/figures/readme.png): needs make demo's checkpoints, trains them when missing
readme-figure: install
	@ls $(DEMO_DIR)/multirun/*/*/checkpoints/best.pt >/dev/null 2>&1 || $(MAKE) --no-print-directory demo
	$(BIN)/python docs/figures/readme_figure.py $(DEMO_DIR)

lint: install
	$(BIN)/ruff check camx cli tests benchmarks docs/figures
	$(BIN)/ruff format --check camx cli tests benchmarks docs/figures

format: install
	$(BIN)/ruff format camx cli tests benchmarks docs/figures
	$(BIN)/ruff check --fix camx cli tests benchmarks docs/figures

# The demo: train plain, dropout and dropkey ResNet50 from scratch on the embedded shapes (a Hydra
# sweep), evaluate them under noise variance 0.6 and along the paper's noise curve, draw heatmaps.
demo: install
	@start=$$(date +%s); \
	$(CAMX) train -m experiment=$(DEMO_PRESET) model.head=plain,dropout,dropkey $(DEMO_TRAIN) outputs_dir=$(DEMO_DIR) && \
	$(CAMX) eval experiment=$(DEMO_PRESET) perturb=noise_demo map_metrics=false outputs_dir=$(DEMO_DIR) && \
	$(CAMX) eval experiment=$(DEMO_PRESET) --noise 0.6 outputs_dir=$(DEMO_DIR) && \
	$(CAMX) samples $(DEMO_DIR)/samples --count 4 experiment=$(DEMO_PRESET) && \
	$(CAMX) explain $(DEMO_DIR)/samples --method gradcam,gradcampp,gradpp_scorecam outputs_dir=$(DEMO_DIR) && \
	$(CAMX) report $(DEMO_DIR) --demo $$(( $$(date +%s) - start )) && \
	echo "make demo: finished in $$(( $$(date +%s) - start )) s; results under $(DEMO_DIR)/"

# The study (docs/RESULTS.md): both papers' experiments, declared in configs/study/ (their stages and report)
# and run by `camx study` (`camx study papers --variant _quick --dry-run` prints every command).
# study-quick: the 2-CPU-core variants (ResNet50 from scratch at 48 px, then AlexNet-GAP at 64 px and
# VGG16-BN-GAP at 48 px). study: VARIANT= the paper's setting on shapes (224 px, three architectures,
# ImageNet weights), VARIANT=_pets the same on Oxford-IIIT Pets; both meant for a GPU (pass STUDY_TRAIN=
# there). Each study dir gets study.json (command, kind, wall time); each architecture of a config's parts
# with a configs/experiment/<experiment>_<arch>.yaml runs after the main one.
VARIANT ?=
STUDY = $(CAMX) study --variant "$(VARIANT)" --study-dir $(STUDY_DIR) --train "$(STUDY_TRAIN)"
study-quick:
	$(MAKE) --no-print-directory study VARIANT=_quick CMD="make study-quick"

study: install
	$(STUDY) papers --results $(RESULTS) --as-command "$(or $(CMD),make study VARIANT=$(VARIANT))"

study-dropkey-quick study-gradpp-quick:
	$(MAKE) --no-print-directory $(subst -quick,,$@) VARIANT=_quick CMD="make $@"

study-dropkey: install
	$(STUDY) paper_dropkey --as-command "$(or $(CMD),make $@ VARIANT=$(VARIANT))"

study-gradpp: install
	$(STUDY) paper_gradpp_scorecam --as-command "$(or $(CMD),make $@ VARIANT=$(VARIANT))"

# Benchmarks against pytorch-grad-cam and TorchCAM (run on an idle machine; writes benchmarks/results/ and
# docs/PERFORMANCE.md). BENCH_ARGS=--quick for a smoke run, BENCH_ARGS=--full for everything.
bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_vit.py --out docs/results/vit.md
	$(BIN)/python benchmarks/bench_gradpp_real.py --out docs/results/gradpp_real.md

# The trained ResNet50 at 224 px that `make bench` explains when it exists (configs/experiment/bench_224.yaml):
# the demo's plain checkpoint fine-tuned at 224 px for one epoch (20 min here with tests running alongside). Needs `make demo` first.
bench-model: install
	@ckpt=$$(ls -t $(DEMO_DIR)/train/*_resnet50-plain_*/checkpoints/best.pt 2>/dev/null | head -1); \
	if [ -z "$$ckpt" ]; then echo "make bench-model: no plain ResNet50 under $(DEMO_DIR)/train; run make demo first" >&2; exit 2; fi; \
	$(CAMX) train experiment=bench_224 model.init_backbone=$$ckpt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
