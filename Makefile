# Two commands do everything on a fresh machine (see README.md):
#   make run    the main job on its embedded default (tiny model, CPU)
#   make test   every test of the workspace
# Both set up libtorch first (scripts/with-torch: torch==2.11.0 from PyPI into .venv).

WITH_TORCH := scripts/with-torch
CARGO ?= cargo

.PHONY: run test lint fmt bench setup clean-venv

## The main job: currently the data pipeline end to end on the TRL baseline fixture
## (TSV -> reference-compatible token episodes).
run:
	$(WITH_TORCH) $(CARGO) run --release --bin steptool -- encode \
		--data fixtures/trl-baseline/train.tsv \
		--tokenizer fixtures/trl-baseline/tokenizer.json \
		--mode reference-compat --max-context 1024

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
