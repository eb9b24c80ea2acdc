#!/usr/bin/env bash
# Batched summary inference (issue 16's "Batched" goal): N summary requests
# one after another against the same N at once, through the bart engine's
# request gatherer (gpu-runtime/bart), on the DistilBART-CNN-6-6-size
# random-weight folder, at each DTYPE (default fp32 and q8). Each request is
# a different text of about WORDS words (one window), generating exactly
# NEW tokens; at fp32 the summaries must be the same both ways (q8 quantises
# activations with one scale per batch tensor: counted, not required). Run from the
# repository root after `make tools`:
#
#   bash tests/summary-batch-bench.sh [DTYPE...]
#
# SUMMARY_BATCH_N requests (default 8, also the batch size),
# SUMMARY_BATCH_WORDS words per request (default 360: about 500 tokens; a
# second round runs with SUMMARY_BATCH_SHORT_WORDS, default 90, unless 0),
# SUMMARY_BATCH_NEW new tokens (default 64), SUMMARY_BATCH_ROUNDS rounds
# of sequential then concurrent, medians reported (default 2),
# TRANSCEPT_ORT_THREADS intra-op
# threads (default: every core). The folder (and its q8 files, made with
# `transcept models quantize --quantize-embeddings` when absent) lives under
# ${TRANSCEPT_BENCH_DIR:-~/.cache/transcept-bench}, shared with
# tests/bench-models.sh; never in the repository.
set -euo pipefail
[[ $# -gt 0 ]] && dtypes=("$@") || dtypes=(fp32 q8)
n=${SUMMARY_BATCH_N:-8}
words=${SUMMARY_BATCH_WORDS:-360}
short=${SUMMARY_BATCH_SHORT_WORDS:-90}
new=${SUMMARY_BATCH_NEW:-64}
rounds=${SUMMARY_BATCH_ROUNDS:-2}
threads=${TRANSCEPT_ORT_THREADS:-$(nproc)}
[[ $threads -gt 0 ]] || threads=$(nproc)
ref=tests/reference
root=${TRANSCEPT_BENCH_DIR:-$HOME/.cache/transcept-bench}
dir=$root/distilbart-6-6
cache=$root/ort-cache
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$root"
if [[ ! -f $dir/onnx/decoder_model_merged.onnx ]]; then
	echo "summary-batch-bench: writing the DistilBART-6-6-size folder to $dir (once)" >&2
	rm -rf "$dir.tmp"
	go run ./tests/testkit/cmd/write-bart -o "$dir.tmp" -size distilbart-6-6 -tokenizer $ref/build/bart
	mv "$dir.tmp" "$dir"
fi
go build -o "$tmp/transcept" ./cmd/transcept
go build -o "$tmp/bench" ./tests/testkit/cmd/summary-batch-bench
for d in "${dtypes[@]}"; do
	[[ $d == q8 && ! -f $dir/onnx/decoder_model_merged_quantized.onnx ]] &&
		"$tmp/transcept" models quantize "$dir" --dtype q8 --quantize-embeddings >&2
done
echo "summary-batch-bench: $n requests, $new new tokens each, $threads intra-op threads, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" >&2
sizes=("$words")
[[ $short -gt 0 ]] && sizes+=("$short")
for d in "${dtypes[@]}"; do
	for w in "${sizes[@]}"; do
		"$tmp/bench" -model "$dir" -dtype "$d" -n "$n" -words "$w" -new "$new" -threads "$threads" -cache "$cache" -rounds "$rounds" | tee -a "$tmp/results.jsonl"
	done
done
node - "$tmp/results.jsonl" <<'JS' 2>/dev/null || cat "$tmp/results.jsonl"
const fs = require("node:fs");
const rows = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map(JSON.parse);
const f = (x, d = 1) => x.toFixed(d);
console.log("| dtype | input tokens | sequential tok/s | concurrent tok/s | ratio (goal ≥ 3) | CPU per token, sequential / concurrent | lone ms | concurrent p50 / p95 ms | p95 / lone (goal ≤ 2) | batches | same summaries | load |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  const toks = r.input_tokens, lo = Math.min(...toks), hi = Math.max(...toks);
  console.log(`| ${r.dtype} | ${lo}–${hi} | ${f(r.sequential_tok_s)} | ${f(r.concurrent_tok_s)} | ${f(r.throughput_ratio, 2)}× | ${f(r.cpu_per_token_ratio, 2)}× | ${f(r.lone_ms, 0)} | ${f(r.concurrent_p50_ms, 0)} / ${f(r.concurrent_p95_ms, 0)} | ${f(r.p95_over_lone, 2)} | ${r.concurrent_batches.join(", ")} | ${r.same_outputs} / ${r.requests} | ${r.loadavg_before} → ${r.loadavg_after} |`);
}
JS
