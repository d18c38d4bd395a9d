# Two commands do everything on a fresh machine (see README.md):
#   make run    the main job on its embedded default (tiny model, CPU)
#   make test   every test of the workspace
# Both set up libtorch first (scripts/with-torch: torch==2.11.0 from PyPI into .venv).

WITH_TORCH := scripts/with-torch
CARGO ?= cargo

.PHONY: run test lint fmt bench setup clean-venv

## The main job: offline StepTool PPO (examples/train_toolllama.rs) on its embedded default: a
## tiny LLaMA and a BPE tokenizer built in code, real StepTool rows, a few PPO steps on the CPU;
## metrics JSONL, a PNG plot and checkpoints under runs/<run-name>/.
run:
	$(WITH_TORCH) $(CARGO) run --release --example train_toolllama

## Every test: unit, integration, examples, benches (in test mode) and doc tests.
test:
	$(WITH_TORCH) $(CARGO) test --workspace --all-targets
	$(WITH_TORCH) $(CARGO) test --workspace --doc

## What CI checks besides the tests.
lint:
	$(CARGO) fmt --all -- --check
	$(WITH_TORCH) $(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	$(WITH_TORCH) $(CARGO) bench --workspace

## Only set up libtorch (the other targets do it when needed).
setup:
	$(WITH_TORCH) true

clean-venv:
	rm -rf .venv
