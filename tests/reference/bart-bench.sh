#!/usr/bin/env bash
# Greedy BART generation, side by side: transformers.js (onnxruntime-node,
# its defaults) against tests/testkit/cmd/bart-bench on the same
# DistilBART-CNN-6-6-size folder (random weights), the same 512 input ids and
# the same fixed output length (min = max new tokens, forced EOS off), so both
# do the same work; the generated ids are compared. Run from the repository
# root after `make reference`:
#
#   tests/reference/bart-bench.sh [RUNS] [NEW_TOKENS] [ROUNDS]
#
# RUNS timed generations per process (after one warm-up), ROUNDS processes of
# each side, alternating. The folder (1.1 GB) and the optimised-model cache
# are written once under $TRANSCEPT_BENCH_DIR (default
# ~/.cache/transcept-bench). Both sides run with TRANSCEPT_ORT_THREADS
# intra-op threads (default: every core, nproc); ours from the cache, with
# and without prepacked weights (BART_BENCH_NO_PREPACK=0 skips the second).
# TRANSCEPT_BENCH_DTYPE (fp32, q8, q4, fp16; default fp32) chooses the
# folder's files on both sides (transformers.js's dtype option; make q8 and
# q4 files with `transcept models quantize`, as tests/bench-models.sh does).
# TRANSCEPT_BENCH_OUT, when set, is a file to which one JSON line per peer
# is appended (medians), for tests/bench-models.sh's table.
set -euo pipefail
runs=${1:-3}
new=${2:-64}
rounds=${3:-1}
ref=tests/reference
[[ -d $ref/node_modules/@huggingface/transformers ]] || { echo "bart-bench: run make reference first" >&2; exit 1; }
root=${TRANSCEPT_BENCH_DIR:-$HOME/.cache/transcept-bench}
dir=$root/distilbart-6-6
cache=$root/ort-cache
threads=${TRANSCEPT_ORT_THREADS:-$(nproc)}
[[ $threads -gt 0 ]] || threads=$(nproc)
dtype=${TRANSCEPT_BENCH_DTYPE:-fp32}

if [[ ! -f $dir/onnx/decoder_model_merged.onnx ]]; then
	echo "bart-bench: writing the DistilBART-6-6-size folder to $dir (once)" >&2
	rm -rf "$dir.tmp"
	go run ./tests/testkit/cmd/write-bart -o "$dir.tmp" -size distilbart-6-6 -tokenizer $ref/build/bart
	mv "$dir.tmp" "$dir"
fi
case $dtype in
fp32) ;;
q8) [[ -f $dir/onnx/decoder_model_merged_quantized.onnx ]] ;;
*) [[ -f $dir/onnx/decoder_model_merged_$dtype.onnx ]] ;;
esac || { echo "bart-bench: $dir has no $dtype files: transcept models quantize $dir --dtype $dtype" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# 512 ids: <s>, 510 spread over the vocabulary, </s>
awk 'BEGIN { printf "[0"; for (i = 0; i < 510; i++) printf ",%d", 4 + (i * 7919 + 13) % 49996; print ",2]" }' >"$tmp/ids.json"
go build -o "$tmp/bart-bench" ./tests/testkit/cmd/bart-bench
ours=("$tmp/bart-bench" -model "$dir" -ids "$tmp/ids.json" -new "$new" -runs "$runs" -threads "$threads" -cache "$cache" -dtype "$dtype")
# The first load writes the optimised model into the cache; not timed.
"${ours[@]}" -load-only >/dev/null 2>&1
echo "bart-bench: $dtype, $new new tokens from 512 input ids, $runs runs × $rounds rounds, $(nproc) cores, $threads intra-op threads each side, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

for ((r = 0; r < rounds; r++)); do
	node $ref/bart-bench.mjs "$dir" "$tmp/ids.json" "$new" "$runs" "$dtype" "$threads"
	"${ours[@]}" 2>/dev/null | sed 's/"peer":"transcept"/"peer":"transcept (prepacked)"/'
	[[ ${BART_BENCH_NO_PREPACK:-1} == 0 ]] || "${ours[@]}" -no-prepack 2>/dev/null | sed 's/"peer":"transcept"/"peer":"transcept (no prepacking)"/'
done >"$tmp/results.jsonl"
# Our load from the .onnx files, without the cache (for comparison only).
nocache=$("$tmp/bart-bench" -model "$dir" -ids "$tmp/ids.json" -threads "$threads" -dtype "$dtype" -load-only 2>/dev/null)
echo "transcept without the optimised-model cache: load $(sed -E 's/.*"load_ms":([0-9]+).*/\1/' <<<"$nocache") ms, peak RSS after load $(($(sed -E 's/.*"peak_rss_bytes":([0-9]+).*/\1/' <<<"$nocache") / 1048576)) MB"

node - "$tmp/results.jsonl" "${TRANSCEPT_BENCH_OUT:-}" <<'EOF'
const fs = require("node:fs");
const rows = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map(JSON.parse);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const peers = {};
for (const r of rows) {
  const p = (peers[r.peer] ??= { gen: [], out: [], enc: [], dec: [], ttft: [], first: [], cached: [], gcpu: [], tcpu: [], load: [], rss: [], ids: r.ids, tokens: r.new_tokens, dtype: r.dtype, threads: r.threads });
  p.gen.push(...r.gen_ms); p.out.push(...r.outside_run); p.load.push(r.load_ms); p.rss.push(r.peak_rss_bytes);
  p.enc.push(...r.encoder_ms); p.dec.push(...r.decoder_step_ms);
  p.ttft.push(...r.ttft_ms); p.first.push(...r.first_step_ms); p.cached.push(...r.cached_step_ms);
  p.gcpu.push(...r.gen_cpu_ms); p.tcpu.push(...r.ttft_cpu_ms);
  if (JSON.stringify(p.ids) !== JSON.stringify(r.ids)) p.unstable = true;
}
const js = peers["transformers.js"];
const fmt = (x, d = 0) => x.toFixed(d);
console.log("| | tok/s (median) | generate ms (median) | time to first token ms | encoder Run ms | decoder Run ms/step | first step ms | cached step ms | outside Run | cold load ms (median) | peak RSS MB | ids equal to transformers.js |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const [name, p] of Object.entries(peers)) {
  const ms = median(p.gen), tps = p.tokens / (ms / 1000);
  const same = JSON.stringify(p.ids) === JSON.stringify(js.ids) && !p.unstable && !js.unstable;
  p.tps = tps;
  console.log(`| ${name} | ${fmt(tps, 1)} | ${fmt(ms)} | ${fmt(median(p.ttft))} | ${fmt(median(p.enc))} | ${fmt(median(p.dec), 1)} | ${fmt(median(p.first), 1)} | ${fmt(median(p.cached), 1)} | ${fmt(100 * median(p.out), 1)}% | ${fmt(median(p.load))} | ${fmt(Math.max(...p.rss) / 2 ** 20)} | ${name === "transformers.js" ? "—" : same ? "yes" : "NO"} |`);
  if (process.argv[3]) {
    const first = p.ids.findIndex((id, i) => id !== js.ids[i]);
    fs.appendFileSync(process.argv[3], JSON.stringify({
      model: "bart", dtype: p.dtype, peer: name, threads: p.threads, tok_s: tps, ttft_ms: median(p.ttft), encoder_ms: median(p.enc),
      first_step_ms: median(p.first), cached_step_ms: median(p.cached), ttft_cpu_ms: median(p.tcpu), cpu_ms_per_token: median(p.gcpu) / p.tokens,
      cached_step_cpu_ms: (median(p.gcpu) - median(p.tcpu)) / Math.max(p.tokens - 1, 1), load_ms: median(p.load), peak_rss_mb: Math.max(...p.rss) / 2 ** 20,
      new_tokens: p.tokens, ids_equal: name === "transformers.js" ? null : same, first_difference: same ? -1 : first,
    }) + "\n");
  }
}
for (const [name, p] of Object.entries(peers)) {
  if (name === "transformers.js") continue;
  console.log(`${name} / transformers.js: tok/s ${fmt(p.tps / js.tps, 2)}x, time to first token ${fmt(median(js.ttft) / median(p.ttft), 2)}x (goal ≥ 1.3x), cold load ${fmt(median(js.load) / median(p.load), 1)}x faster (goal ≤ 3000 ms: ${fmt(median(p.load))} ms), peak RSS ${fmt(Math.max(...p.rss) / Math.max(...js.rss), 2)}x`);
}
for (const [name, p] of Object.entries(peers)) console.log(`${name}: CPU time (every thread) per generation ${fmt(median(p.gcpu))} ms (${fmt(median(p.gcpu) / p.tokens, 1)} ms/token), to the first token ${fmt(median(p.tcpu))} ms`);
console.log(`generated ids (${js.tokens} new): ${JSON.stringify(js.ids.slice(0, 12))}…`);
const bad = Object.entries(peers).filter(([n, p]) => n !== "transformers.js" && (JSON.stringify(p.ids) !== JSON.stringify(js.ids) || p.unstable));
if (bad.length) {
  for (const [n, p] of bad) {
    const i = p.ids.findIndex((id, k) => id !== js.ids[k]);
    console.error(`bart-bench: ${n}: ids differ from transformers.js from position ${i}: ours ${JSON.stringify(p.ids.slice(i, i + 8))}, theirs ${JSON.stringify(js.ids.slice(i, i + 8))}`);
  }
  process.exit(1);
}
EOF
