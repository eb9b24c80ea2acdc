#!/usr/bin/env bash
# Whisper long-form, sequential against batched (issue 16's goal: batched
# ≥ 2× the sequential path on 10 minutes of speech). The shared speech
# clips (jfk and FLEURS, ../shared/data/audio or $TRANSCEPT_EVAL_DATA)
# end to end with gaps of 0.5, 1, 2.5 and 4 s in turn, repeated to SECONDS,
# go through Silero VAD, then the speech is decoded greedily with
# timestamps on a random-weight folder of whisper-tiny's shape: batch 1 is
# the sequential path (openai-whisper's seeking, the one whose ids equal
# transformers.js's), each other batch size TranscribeBatched over the
# same chunks. Each run is its own process (gpu-runtime/whisper's
# TestBatchedBench) under /usr/bin/time, so the table has its decode wall
# time, CPU time and peak RSS; the batched runs must decode every chunk to
# the same token ids whatever the batch size. Run from the repository root
# after `make tools` (ONNX Runtime, Silero VAD):
#
#   bash tests/whisper-batch-bench.sh [SECONDS [THREADS [BATCH...]]]
#
# SECONDS (default 600), THREADS intra-op threads for every run (default
# 1), BATCH sizes (default 1 4 8; 1 is the sequential path).
#
# Random weights decode arbitrary text whose length depends on the folder:
# the default one (EOS bias 4, token embeddings of standard deviation 0.3)
# repeats one token to max_length (448 tokens) in most windows. This
# benchmark writes its own folder once, to
# ~/.cache/transcept-bench/whisper-tiny-size-eos$EOS-embed$EMBED, with
# WHISPER_BATCH_BENCH_EOS (default 4) and WHISPER_BATCH_BENCH_EMBED
# (default 0.05): there 30 s chunks decode to about 35–85 tokens,
# timestamps and text in turn, ending on <|endoftext|> as real speech does.
set -euo pipefail
secs=${1:-600}
threads=${2:-1}
shift $(($# < 2 ? $# : 2))
[[ $# -gt 0 ]] && batches=("$@") || batches=(1 4 8)
eos=${WHISPER_BATCH_BENCH_EOS:-4}
embed=${WHISPER_BATCH_BENCH_EMBED:-0.05}
command -v ffmpeg >/dev/null || { echo "whisper-batch-bench: ffmpeg not found" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "whisper-batch-bench: /usr/bin/time not found (Debian package time)" >&2; exit 1; }
data=$(realpath -m "${TRANSCEPT_EVAL_DATA:-../shared/data}")
cache=${TRANSCEPT_BENCH_CACHE:-$HOME/.cache/transcept-bench}
model=$cache/whisper-tiny-size-eos$eos-embed$embed
if [[ ! -f $model/onnx/decoder_model_merged.onnx ]]; then
	echo "whisper-batch-bench: writing $model (about 150 MB, once)" >&2
	rm -rf "$model.tmp"
	go run ./tests/testkit/cmd/write-whisper -size whisper-tiny -eos-bias "$eos" -embed-std "$embed" -o "$model.tmp"
	mv "$model.tmp" "$model"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

clips=("$data"/audio/jfk.flac "$data"/audio/fleurs-en-*.ogg)
[[ -f ${clips[1]} ]] || { echo "whisper-batch-bench: no FLEURS clips in $data/audio (set TRANSCEPT_EVAL_DATA)" >&2; exit 1; }
one=$tmp/once.f32
gaps=(8000 16000 40000 64000) # samples: 0.5, 1, 2.5, 4 s
i=0
for c in "${clips[@]}"; do
	ffmpeg -nostdin -v error -i "$c" -ac 1 -ar 16000 -f f32le - >>"$one"
	head -c $((gaps[i % 4] * 4)) /dev/zero >>"$one"
	i=$((i + 1))
done
f32=$tmp/audio.f32
need=$((secs * 16000 * 4))
while (($(stat -c %s "$f32" 2>/dev/null || echo 0) < need)); do cat "$one" >>"$f32"; done
truncate -s "$need" "$f32"

go test -c -o "$tmp/whisper.test" ./gpu-runtime/whisper
echo "whisper-batch-bench: ${secs} s of speech clips with gaps, threads $threads, batches ${batches[*]}, $(nproc) cores, EOS bias $eos, embedding std $embed, model $model, $(date -u +%FT%TZ)" >&2
rss() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }
printf '%-10s %8s %9s %8s %7s %7s %8s %9s %9s %10s %6s\n' "" "chunks" "decode s" "CPU s" "tokens" "passes" "tok/s" "enc ms" "dec runs" "peak RSS" "load" >"$tmp/table"
for b in "${batches[@]}"; do
	load=$(cut -d' ' -f1 /proc/loadavg)
	TRANSCEPT_BENCH_MODEL=$model TRANSCEPT_BENCH_F32=$f32 TRANSCEPT_BENCH_THREADS=$threads TRANSCEPT_BENCH_BATCH=$b TRANSCEPT_BENCH_IDS=$tmp/ids.$b \
		/usr/bin/time -v -o "$tmp/time.$b" "$tmp/whisper.test" -test.run '^TestBatchedBench$' -test.count 1 >"$tmp/out.$b" ||
		{ cat "$tmp/out.$b" >&2; echo "whisper-batch-bench: FAILED at batch $b" >&2; exit 1; }
	g=$(grep '^whisper-batch-bench:' "$tmp/out.$b") || { cat "$tmp/out.$b" >&2; exit 1; }
	echo "$g" >&2
	field() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<"$g"; }
	name="batch $b"
	[[ $b == 1 ]] && name="sequential"
	chunks=$(field chunks)
	[[ $b == 1 ]] && chunks=-
	awk -v n="$name" -v c="$chunks" -v d="$(field decode_ms)" -v cpu="$(field decode_cpu_ms)" -v tok="$(field tokens)" -v p="$(field passes)" \
		-v e="$(field encoder_ms)" -v dr="$(field decoder_runs)" -v r="$(rss "$tmp/time.$b")" -v l="$load" \
		'BEGIN {printf "%-10s %8s %9.1f %8.1f %7d %7d %8.1f %9.0f %9d %6.0f MiB %6s\n", n, c, d / 1000, cpu / 1000, tok, p, tok / d * 1000, e, dr, r / 1024, l}' >>"$tmp/table"
	echo "$b $(field decode_ms) $(field decode_cpu_ms) $(rss "$tmp/time.$b")" >>"$tmp/sum"
done
cat "$tmp/table"
# the ratios against the sequential path (batch 1), else the first run
base=$(awk '$1 == 1' "$tmp/sum" | head -n 1)
[[ -n $base ]] || base=$(head -n 1 "$tmp/sum")
read -r b0 d0 c0 r0 <<<"$base"
basename="batch $b0"
[[ $b0 == 1 ]] && basename=sequential
while read -r b d c r; do
	[[ $b == "$b0" ]] && continue
	awk -v b="$b" -v d="$d" -v c="$c" -v r="$r" -v d0="$d0" -v c0="$c0" -v r0="$r0" -v n="$basename" \
		'BEGIN {printf "batch %s against %s: decode wall %.2fx faster, CPU %.2fx less, peak RSS %.2fx\n", b, n, d0 / d, c0 / c, r / r0}'
done <"$tmp/sum"
# every chunk decodes to the same ids whatever the batch size
prev=
for b in "${batches[@]}"; do
	[[ $b == 1 ]] && continue
	sort "$tmp/ids.$b" >"$tmp/sorted.$b"
	if [[ -n $prev ]] && ! cmp -s "$tmp/sorted.$prev" "$tmp/sorted.$b"; then
		echo "whisper-batch-bench: FAILED: batch $prev and batch $b decode the chunks to different token ids" >&2
		exit 1
	fi
	prev=$b
done
[[ -n $prev ]] && echo "batched runs: every chunk's token ids identical across batch sizes"
exit 0
