#!/usr/bin/env bash
# Whisper against whisper.cpp on the same weights (issue 16): the
# random-weight folder of whisper-tiny's shape that the Whisper benchmarks
# write, converted to whisper.cpp's ggml format by
# tests/testkit/cmd/whisper-ggml (f16; q8_0 by whisper.cpp's own
# whisper-quantize), and our runtime on the folder's ONNX files (fp32,
# fp16, q8 from `transcept models quantize`), on the same audio and the same
# threads. Reports, for each pair, the encoder's ms per 30 s window and the
# decoder's ms per generated token each side (whisper.cpp's own timings:
# "encode time" and the one-token "decode time" runs; ours: the encoder's
# session runs with the decoder's cross-attention projection, which
# whisper.cpp's encode covers too, and the decoder's step runs,
# gpu-runtime/whisper's TestLongFormBench), and
# the ratios ours / whisper.cpp (issue 16's goal: at most 1.2x). Run from
# the repository root after `make tools`:
#
#   tests/whisper-cpp-bench.sh [SECONDS [THREADS]]
#
# SECONDS (default 150, five 30 s windows): the shared FLEURS clips
# (../shared/data/audio, or $TRANSCEPT_EVAL_DATA) with 1 s of silence
# after each, repeated to that length, as tests/reference/whisper-bench-asr.sh
# makes them (whisper.cpp reads them as 16-bit WAV). THREADS (default 1):
# whisper.cpp's -t and our intra-op threads. WHISPER_CPP_PAIRS (default
# "f16:fp32 f16:fp16 q8_0:q8"): whisper.cpp type:our dtype pairs to run.
#
# Both sides decode greedily at temperature 0 with timestamps, without
# fallback and without the previous window's text as prompt (whisper-cli
# -bs 1 -bo 1 -nf -mc 0; whisper.cpp's flash attention left at its default,
# on). whisper.cpp 1.9.1 cannot run an f32 ggml file (its conv asserts f16
# weights), so fp32 is paired with its f16, its native precision on CPUs. The token ids are not compared: the ggml format has no place for
# the random folder's logits_bias, and whisper.cpp takes its special
# tokens' ids from OpenAI's layout for the vocabulary size, not from the
# folder's tokenizer, so the two decode different prompts; what is compared
# is the work per encoder window and per decoded token. Random weights
# decode nonsense to each window's length limit on both sides; whisper.cpp
# stops a window at half the text context (220 tokens: its prompt run and
# 219 one-token runs), and our side gets the same bound
# (WHISPER_CPP_MAX_LENGTH, default 223: the 3-token prompt and 220 tokens;
# 0 leaves generation_config.json's 448), so both decode as many tokens per
# window over as many positions, and the end-to-end times compare like for
# like: whisper.cpp's total less its model load, our sequential long-form
# path, and our batched one (Silero VAD, then WHISPER_CPP_BATCH windows a
# batch, default 8; 0 skips it; gpu-runtime/whisper's TestBatchedBench).
# WHISPER_CPP_REPEAT=N (default 1) runs each pair N times, the two sides
# in turn, and prints the median ratios too: whisper.cpp's own times move
# by a third between runs on a shared machine.
# whisper.cpp is built from source into the tools cache by
# gpu-runtime/scripts/fetch-whisper-cpp.sh (needs cmake and g++).
set -euo pipefail
secs=${1:-150}
threads=${2:-1}
read -r -a pairs <<<"${WHISPER_CPP_PAIRS:-f16:fp32 f16:fp16 q8_0:q8}"
maxlen=${WHISPER_CPP_MAX_LENGTH:-223}
repeat=${WHISPER_CPP_REPEAT:-1}
batch=${WHISPER_CPP_BATCH:-8}
command -v ffmpeg >/dev/null || { echo "whisper-cpp-bench: ffmpeg not found" >&2; exit 1; }
bin=$(bash gpu-runtime/scripts/fetch-whisper-cpp.sh)
data=$(realpath -m "${TRANSCEPT_EVAL_DATA:-../shared/data}")
cache=${TRANSCEPT_BENCH_CACHE:-$HOME/.cache/transcept-bench}
model=$cache/whisper-tiny-size-random
ggml=$cache/whisper-tiny-size-random-ggml
load() { cut -d' ' -f1-3 /proc/loadavg; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [[ ! -f $model/onnx/decoder_model_merged.onnx ]]; then
	echo "whisper-cpp-bench: writing $model (about 150 MB, once)" >&2
	go run ./tests/testkit/cmd/write-whisper -size whisper-tiny -o "$model"
fi
go build -o "$tmp/transcept" ./cmd/transcept
for p in "${pairs[@]}"; do
	d=${p#*:}
	case $d in fp32) continue ;; q8) f=$model/onnx/decoder_model_merged_quantized.onnx ;; *) f=$model/onnx/decoder_model_merged_$d.onnx ;; esac
	[[ -f $f ]] || "$tmp/transcept" models quantize "$model" --dtype "$d" --quantize-embeddings >&2
done
mkdir -p "$ggml"
# the ggml files, rewritten whenever the folder is newer
if [[ ! -f $ggml/model-f16.bin || $model/onnx/decoder_model_merged.onnx -nt $ggml/model-f16.bin ]]; then
	go run ./tests/testkit/cmd/whisper-ggml -i "$model" -o "$ggml/model-f16.bin"
	rm -f "$ggml/model-q8_0.bin"
fi
for p in "${pairs[@]}"; do
	t=${p%%:*}
	[[ $t == f16 || -f $ggml/model-$t.bin ]] && continue
	"$bin/whisper-quantize" "$ggml/model-f16.bin" "$ggml/model-$t.bin.tmp" "$t" >"$tmp/quantize.log" 2>&1 || { tail -5 "$tmp/quantize.log" >&2; exit 1; }
	mv "$ggml/model-$t.bin.tmp" "$ggml/model-$t.bin"
done

# the audio: clips, 1 s gaps, repeated to $secs seconds
clips=("$data"/audio/fleurs-en-*.ogg)
[[ -f ${clips[0]} ]] || { echo "whisper-cpp-bench: no FLEURS clips in $data/audio (set TRANSCEPT_EVAL_DATA)" >&2; exit 1; }
one=$tmp/once.f32
for c in "${clips[@]}"; do
	ffmpeg -nostdin -v error -i "$c" -ac 1 -ar 16000 -f f32le - >>"$one"
	head -c $((16000 * 4)) /dev/zero >>"$one"
done
f32=$tmp/audio.f32
need=$((secs * 16000 * 4))
while (($(stat -c %s "$f32" 2>/dev/null || echo 0) < need)); do cat "$one" >>"$f32"; done
truncate -s "$need" "$f32"
ffmpeg -nostdin -v error -f f32le -ar 16000 -ac 1 -i "$f32" -c:a pcm_s16le "$tmp/audio.wav"
go test -c -o "$tmp/whisper.test" ./gpu-runtime/whisper
echo "whisper-cpp-bench: ${secs} s of FLEURS clips with gaps, threads $threads, our max_length $maxlen, batch $batch, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), whisper.cpp $("$bin/whisper-cli" --version 2>&1 | grep -oP "version:? *\K[0-9.]+" | head -1) from $(cut -d' ' -f1 "$bin/../.version"), load $(load), $(date -u +%FT%TZ)" >&2

rows=()
for p in "${pairs[@]}"; do
	t=${p%%:*} d=${p#*:}
	for ((rep = 1; rep <= repeat; rep++)); do
		l0=$(load)
		"$bin/whisper-cli" -m "$ggml/model-$t.bin" -f "$tmp/audio.wav" -t "$threads" -l en -bs 1 -bo 1 -nf -mc 0 >"$tmp/cpp.out" 2>"$tmp/cpp.err" ||
			{ tail -20 "$tmp/cpp.err" >&2; echo "whisper-cpp-bench: whisper-cli failed ($t)" >&2; exit 1; }
		# "whisper_print_timings:   encode time =   123.45 ms /     5 runs (    24.69 ms per run)"
		tm() { awk -v k="$1" '$0 ~ k" time =" {for (i = 1; i <= NF; i++) if ($i == "=") {ms = $(i+1); runs = $(i+4)}} END {print ms + 0, runs + 0}' "$tmp/cpp.err"; }
		read -r c_enc c_encr < <(tm encode)
		read -r c_dec c_decr < <(tm decode)
		read -r c_bat c_batr < <(tm batchd)
		read -r c_tot _ < <(tm total)
		read -r c_load _ < <(tm load)
		TRANSCEPT_BENCH_MODEL=$model TRANSCEPT_BENCH_F32=$f32 TRANSCEPT_BENCH_THREADS=$threads TRANSCEPT_BENCH_DTYPE=$d TRANSCEPT_BENCH_MAX_LENGTH=$maxlen \
			"$tmp/whisper.test" -test.run '^TestLongFormBench$' -test.count 1 >"$tmp/go.out" 2>&1 ||
			{ tail -20 "$tmp/go.out" >&2; echo "whisper-cpp-bench: our side failed ($d)" >&2; exit 1; }
		g=$(grep '^whisper-bench-asr go:' "$tmp/go.out")
		field() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<"$2"; }
		b_ms=0 b_tok=0
		if ((batch > 1)); then
			TRANSCEPT_BENCH_MODEL=$model TRANSCEPT_BENCH_F32=$f32 TRANSCEPT_BENCH_THREADS=$threads TRANSCEPT_BENCH_DTYPE=$d TRANSCEPT_BENCH_MAX_LENGTH=$maxlen TRANSCEPT_BENCH_BATCH=$batch \
				"$tmp/whisper.test" -test.run '^TestBatchedBench$' -test.count 1 >"$tmp/batch.out" 2>&1 ||
				{ tail -20 "$tmp/batch.out" >&2; echo "whisper-cpp-bench: our batched side failed ($d)" >&2; exit 1; }
			gb=$(grep '^whisper-batch-bench:' "$tmp/batch.out")
			echo "whisper-cpp-bench: $t / $d: ours batched: $gb" >&2
			# end to end: voice activity detection and the batched decoding
			b_ms=$(awk -v v="$(field vad_ms "$gb")" -v d="$(field decode_ms "$gb")" 'BEGIN {print v + d}')
			b_tok=$(field tokens "$gb")
		fi
		echo "whisper-cpp-bench: $t / $d: whisper.cpp encode $c_enc ms / $c_encr runs, decode $c_dec ms / $c_decr runs, batchd $c_bat ms / $c_batr runs, total $c_tot ms, load $c_load ms; ours $g; load $l0 -> $(load)" >&2
		rows+=("$t $d $c_enc $c_encr $c_dec $c_decr $(awk -v e="$(field encoder_ms "$g")" -v c="$(field cross_ms "$g")" 'BEGIN {print e + c}') $(field encoder_runs "$g") $(field decoder_ms "$g") $(field decoder_runs "$g") $(field passes "$g") $(field tokens "$g") $(awk -v a="$c_tot" -v b="$c_load" 'BEGIN {print a - b}') $(field decode_ms "$g") $b_ms $((c_decr + c_encr)) $b_tok")
	done
done
printf '%s\n' "${rows[@]}" | awk -v b="$batch" -v th="$threads" -v ld="$(load)" '
function median(a, n,   i, j, x) { # sorts a[1..n] in place
	for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
BEGIN {
	printf "%-8s %-6s %20s %7s %22s %7s %14s %14s  (threads %s, load %s)\n", "w.cpp", "ours", "encoder ms/window", "x", "decoder ms/token", "x", "windows", "tokens", th, ld
	printf "%-8s %-6s %20s %7s %22s %7s %14s %14s\n", "", "", "whisper.cpp / ours", "", "whisper.cpp / ours", "", "w.cpp / ours", "w.cpp / ours"
} {
	ce = $3 / $4; cd = $5 / $6; ge = $7 / $8; gd = $9 / $10
	printf "%-8s %-6s %9.1f / %8.1f %7.2f %10.2f / %9.2f %7.2f %6d / %5d %6d / %5d\n", $1, $2, ce, ge, ge / ce, cd, gd, gd / cd, $4, $11, $16, $12
	e2e[NR] = sprintf("%-8s %-6s end to end: whisper.cpp %.1f s, ours sequential %.1f s (%.2fx faster)", $1, $2, $13 / 1000, $14 / 1000, $13 / $14)
	if ($15 > 0) e2e[NR] = e2e[NR] sprintf(", ours batched (VAD, %d-window batches) %.1f s (%.2fx faster; %d tokens)", b, $15 / 1000, $13 / $15, $17)
	k = $1 " " $2
	if (!(k in n)) order[++pairs] = k
	n[k]++
	re[k, n[k]] = ge / ce; rd[k, n[k]] = gd / cd; rs[k, n[k]] = $13 / $14; rb[k, n[k]] = $15 > 0 ? $13 / $15 : 0
} END {
	print "x = ours / whisper.cpp (lower is faster; issue 16 asks for at most 1.20); whisper.cpp tokens: one per decoder run (the prompt run and the one-token runs)"
	for (i = 1; i <= NR; i++) print e2e[i]
	for (p = 1; p <= pairs; p++) {
		k = order[p]
		if (n[k] < 2) continue
		for (i = 1; i <= n[k]; i++) { a1[i] = re[k, i]; a2[i] = rd[k, i]; a3[i] = rs[k, i]; a4[i] = rb[k, i] }
		printf "%s, median of %d runs: encoder x %.2f, decoder per token x %.2f, end to end %.2fx faster sequential", k, n[k], median(a1, n[k]), median(a2, n[k]), median(a3, n[k])
		if (b > 1) printf ", %.2fx batched", median(a4, n[k])
		printf "\n"
	}
}'
