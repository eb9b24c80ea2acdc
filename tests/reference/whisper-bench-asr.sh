#!/usr/bin/env bash
# Long-form Whisper transcription side by side: gpu-runtime/whisper's
# LongForm (greedy, timestamps) against transformers.js's
# automatic-speech-recognition processor and model driven window by window
# the same way (whisper-bench-asr.mjs), on the same random-weight folder of
# whisper-tiny's shape and the same samples. Fails unless every window's
# token ids are identical. Prints wall time, tokens/s and peak RSS of each
# side and the ratio. Run from the repository root after `make reference`:
#
#   tests/reference/whisper-bench-asr.sh [SECONDS [THREADS]]
#
# SECONDS (default 180): the shared FLEURS clips (../shared/data/audio, or
# $TRANSCEPT_EVAL_DATA) with 1 s of silence after each, repeated to that
# length, decoded by ffmpeg to 16 kHz mono float32. THREADS (default 1):
# intra-op threads on both sides (onnxruntime-node behaves as one thread
# by default; "default" leaves each runtime's own choice). The model folder
# is written once to ~/.cache/transcept-bench/whisper-tiny-size-random.
# TRANSCEPT_BENCH_PASS_CACHE=1 in the environment times our side with the
# merged decoder as written (the cross-attention cache copied every step).
# TRANSCEPT_BENCH_DTYPE (fp32, q8, q4, fp16; default fp32) chooses the
# folder's files on both sides (transformers.js's dtype option; make q8 and
# q4 files with `transcept models quantize`, as tests/bench-models.sh does).
# TRANSCEPT_BENCH_OUT, when set, is a file to which one JSON line per side
# is appended, for tests/bench-models.sh's table. Besides wall times, each
# side reports the time inside its encoder's and decoder's session runs:
# encoder ms per 30 s window and decoder ms per token.
#
# With random weights most windows decode until max_length (448 tokens)
# without a pair of timestamps, so each 30 s window is one encoder run and
# about 445 decoder steps on both sides: the same work, weighted towards
# the decoder more than real speech would be.
set -euo pipefail
secs=${1:-180}
threads=${2:-1}
dtype=${TRANSCEPT_BENCH_DTYPE:-fp32}
ref=tests/reference
[[ -d $ref/node_modules/@huggingface/transformers ]] || { echo "whisper-bench-asr: run make reference first" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "whisper-bench-asr: ffmpeg not found" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "whisper-bench-asr: /usr/bin/time not found (Debian package time)" >&2; exit 1; }
data=$(realpath -m "${TRANSCEPT_EVAL_DATA:-../shared/data}")
cache=${TRANSCEPT_BENCH_CACHE:-$HOME/.cache/transcept-bench}
model=$cache/whisper-tiny-size-random
if [[ ! -f $model/onnx/decoder_model_merged.onnx ]]; then
	echo "whisper-bench-asr: writing $model (about 150 MB, once)" >&2
	go run ./tests/testkit/cmd/write-whisper -size whisper-tiny -o "$model"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the audio: clips, 1 s gaps, repeated to $secs seconds
clips=("$data"/audio/fleurs-en-*.ogg)
[[ -f ${clips[0]} ]] || { echo "whisper-bench-asr: no FLEURS clips in $data/audio (set TRANSCEPT_EVAL_DATA)" >&2; exit 1; }
one=$tmp/once.f32
for c in "${clips[@]}"; do
	ffmpeg -nostdin -v error -i "$c" -ac 1 -ar 16000 -f f32le - >>"$one"
	head -c $((16000 * 4)) /dev/zero >>"$one"
done
f32=$tmp/audio.f32
need=$((secs * 16000 * 4))
while (($(stat -c %s "$f32" 2>/dev/null || echo 0) < need)); do cat "$one" >>"$f32"; done
truncate -s "$need" "$f32"
echo "whisper-bench-asr: ${secs} s of FLEURS clips with gaps, $dtype, threads $threads, $(nproc) cores, model $model, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

t_threads=$threads
[[ $threads == default ]] && t_threads=
# peak resident set size (KiB) from /usr/bin/time -v's report
rss() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }
# CPU seconds (user + system) of the whole process
cpu() { awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$1"; }

go test -c -o "$tmp/whisper.test" ./gpu-runtime/whisper

start=$(date +%s.%N)
/usr/bin/time -v -o "$tmp/node.time" node $ref/whisper-bench-asr.mjs "$model" "$f32" "$t_threads" "$dtype" >"$tmp/ref.json"
node_wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')

start=$(date +%s.%N)
go_rc=0
TRANSCEPT_BENCH_MODEL=$model TRANSCEPT_BENCH_F32=$f32 TRANSCEPT_BENCH_REF=$tmp/ref.json TRANSCEPT_BENCH_THREADS=$t_threads TRANSCEPT_BENCH_DTYPE=$dtype \
	/usr/bin/time -v -o "$tmp/go.time" "$tmp/whisper.test" -test.run '^TestLongFormBench$' -test.count 1 >"$tmp/go.out" || go_rc=$?
go_wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
g=$(grep '^whisper-bench-asr go:' "$tmp/go.out") || { cat "$tmp/go.out" >&2; echo "whisper-bench-asr: FAILED: the Go side failed" >&2; exit 1; }
same=yes
if [[ $go_rc != 0 ]] || ! grep -q "identical to transformers.js" "$tmp/go.out"; then
	same=no
	grep -E 'differ|decoded' "$tmp/go.out" | cut -c1-400 >&2 || true
	echo "whisper-bench-asr: token ids differ from transformers.js (timings below are still each side's own work)" >&2
fi
grep '^whisper-bench-asr' "$tmp/go.out" >&2

read -r n_load n_dec n_tok n_pass n_enc n_encr n_decm n_decr n_cpu n_ttft < <(node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log(r.load_ms.toFixed(1), r.decode_ms.toFixed(1), r.tokens, r.passes.length, r.encoder_ms.toFixed(1), r.encoder_runs, r.decoder_ms.toFixed(1), r.decoder_runs, r.decode_cpu_ms.toFixed(1), r.ttft_ms.toFixed(1));' "$tmp/ref.json")
field() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<"$g"; }
g_load=$(field load_ms) g_dec=$(field decode_ms) g_tok=$(field tokens) g_pass=$(field passes)
g_enc=$(field encoder_ms) g_encr=$(field encoder_runs) g_decm=$(field decoder_ms) g_decr=$(field decoder_runs) g_cpu=$(field decode_cpu_ms) g_ttft=$(field ttft_ms)
if [[ $same == yes && $g_tok != "$n_tok" ]]; then
	echo "whisper-bench-asr: FAILED: $g_tok tokens here, $n_tok in transformers.js" >&2
	exit 1
fi
awk -v nl="$n_load" -v nd="$n_dec" -v nw="$node_wall" -v nr="$(rss "$tmp/node.time")" -v nc="$(cpu "$tmp/node.time")" \
	-v gl="$g_load" -v gd="$g_dec" -v gw="$go_wall" -v gr="$(rss "$tmp/go.time")" -v gc="$(cpu "$tmp/go.time")" \
	-v ntok="$n_tok" -v nwin="$n_pass" -v gtok="$g_tok" -v gwin="$g_pass" -v same="$same" \
	-v ncpu="$n_cpu" -v gcpu="$g_cpu" -v ne="$n_enc" -v ner="$n_encr" -v ndm="$n_decm" -v ndr="$n_decr" -v ge="$g_enc" -v ger="$g_encr" -v gdm="$g_decm" -v gdr="$g_decr" -v nt="$n_ttft" -v gt="$g_ttft" 'BEGIN {
	if (same == "yes") printf "%d windows, %d tokens, identical token ids\n", nwin, ntok
	else printf "token ids DIFFER: transformers.js %d windows, %d tokens; ours %d windows, %d tokens\n", nwin, ntok, gwin, gtok
	printf "%-16s %10s %10s %10s %9s %10s %13s %13s %10s\n", "", "load ms", "decode ms", "process s", "CPU s", "tokens/s", "encoder ms/win", "decoder ms/tok", "peak RSS"
	printf "%-16s %10.0f %10.0f %10.1f %9.1f %10.1f %13.1f %13.2f %6.0f MiB\n", "transformers.js", nl, nd, nw, nc, ntok / nd * 1000, ne / ner, ndm / ndr, nr / 1024
	printf "%-16s %10.0f %10.0f %10.1f %9.1f %10.1f %13.1f %13.2f %6.0f MiB\n", "gpu-runtime", gl, gd, gw, gc, gtok / gd * 1000, ge / ger, gdm / gdr, gr / 1024
	printf "CPU time over the decoding (every thread): transformers.js %.0f ms (%.2f ms/token), ours %.0f ms (%.2f ms/token): %.2fx less\n", ncpu, ncpu / ntok, gcpu, gcpu / gtok, (ncpu / ntok) / (gcpu / gtok)
	printf "ratio ours/theirs: decode wall %.2f (tokens/s %.2fx; goal 1.3x), encoder %.2fx faster, decoder step %.2fx faster, process wall %.2f, process CPU %.2f, peak RSS %.2f\n", \
		gd / nd, (gtok / gd) / (ntok / nd), (ne / ner) / (ge / ger), (ndm / ndr) / (gdm / gdr), gw / nw, gc / nc, gr / nr
	printf "time to first token per 30 s window (samples in: features, encoder, first decoder step; median): transformers.js %.0f ms, ours %.0f ms: %.2fx (goal 1.3x)\n", nt, gt, nt / gt
}'
if [[ -n ${TRANSCEPT_BENCH_OUT:-} ]]; then
	printf '{"model":"whisper","dtype":"%s","peer":"transformers.js","threads":"%s","tok_s":%s,"encoder_ms":%s,"ttft_ms":%s,"decoder_step_ms":%s,"cpu_ms_per_token":%s,"load_ms":%s,"peak_rss_mb":%s,"tokens":%s,"windows":%s,"ids_equal":null}\n' \
		"$dtype" "$threads" "$(awk -v t="$n_tok" -v d="$n_dec" 'BEGIN {print t / d * 1000}')" "$(awk -v a="$n_enc" -v b="$n_encr" 'BEGIN {print a / b}')" "$n_ttft" \
		"$(awk -v a="$n_decm" -v b="$n_decr" 'BEGIN {print a / b}')" "$(awk -v a="$n_cpu" -v b="$n_tok" 'BEGIN {print a / b}')" "$n_load" "$(awk -v r="$(rss "$tmp/node.time")" 'BEGIN {print r / 1024}')" "$n_tok" "$n_pass" >>"$TRANSCEPT_BENCH_OUT"
	printf '{"model":"whisper","dtype":"%s","peer":"transcept","threads":"%s","tok_s":%s,"encoder_ms":%s,"ttft_ms":%s,"decoder_step_ms":%s,"cpu_ms_per_token":%s,"load_ms":%s,"peak_rss_mb":%s,"tokens":%s,"windows":%s,"ids_equal":%s}\n' \
		"$dtype" "$threads" "$(awk -v t="$g_tok" -v d="$g_dec" 'BEGIN {print t / d * 1000}')" "$(awk -v a="$g_enc" -v b="$g_encr" 'BEGIN {print a / b}')" "$g_ttft" \
		"$(awk -v a="$g_decm" -v b="$g_decr" 'BEGIN {print a / b}')" "$(awk -v a="$g_cpu" -v b="$g_tok" 'BEGIN {print a / b}')" "$g_load" "$(awk -v r="$(rss "$tmp/go.time")" 'BEGIN {print r / 1024}')" "$g_tok" "$g_pass" \
		"$([[ $same == yes ]] && echo true || echo false)" >>"$TRANSCEPT_BENCH_OUT"
fi
[[ $same == yes ]] || exit 1
