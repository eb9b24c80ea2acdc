#!/usr/bin/env bash
# Log-mel features for 10 minutes of audio: gpu-runtime/whisper against
# transformers.js's WhisperFeatureExtractor on the same samples. Prints both
# times and the ratio. Run from the repository root after `make reference`:
#
#   tests/reference/whisper-bench.sh [MELS]
#
# The audio: the shared jfk.flac (../shared/data/audio, or $TRANSCEPT_EVAL_DATA)
# looped to 10 minutes, decoded by ffmpeg to 16 kHz mono float32; tones in
# noise when the data is absent.
set -euo pipefail
mels=${1:-80}
ref=tests/reference
[[ -d $ref/node_modules/@huggingface/transformers ]] || { echo "whisper-bench: run make reference first" >&2; exit 1; }
data=$(realpath -m "${TRANSCEPT_EVAL_DATA:-../shared/data}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
f32=$tmp/10min.f32
if [[ -f $data/audio/jfk.flac ]]; then
	ffmpeg -nostdin -v error -stream_loop -1 -i "$data/audio/jfk.flac" -t 600 -ac 1 -ar 16000 -f f32le "$f32"
	src="jfk.flac looped"
else
	ffmpeg -nostdin -v error -f lavfi -i "sine=frequency=220:sample_rate=16000:duration=600" \
		-f lavfi -i "anoisesrc=color=pink:amplitude=0.05:sample_rate=16000:duration=600" \
		-filter_complex amix=inputs=2 -f f32le "$f32"
	src="tones in noise"
fi
echo "whisper-bench: 10 min of $src, $mels mel bins, $(nproc) cores" >&2

node_line=$(node $ref/whisper-bench.mjs "$f32" "$mels" 2)
echo "$node_line"
node_ms=$(sed -E 's/.*: ([0-9.]+) ms.*/\1/' <<<"$node_line")

go_out=$(TRANSCEPT_BENCH_F32=$f32 go test -count=1 -run '^$' -bench "BenchmarkLogMel10Min/mels=$mels\$" -benchtime 5x ./gpu-runtime/whisper/)
go_ns=$(awk '/^BenchmarkLogMel10Min/ {print $3}' <<<"$go_out")
[[ -n $go_ns ]] || { echo "$go_out" >&2; exit 1; }
go_ms=$(awk -v ns="$go_ns" 'BEGIN {printf "%.1f", ns / 1e6}')
echo "gpu-runtime/whisper $mels mels: $go_ms ms per 10 min"
awk -v a="$node_ms" -v b="$go_ms" 'BEGIN {printf "ratio: %.1fx faster than transformers.js (goal 5x)\n", a / b}'
