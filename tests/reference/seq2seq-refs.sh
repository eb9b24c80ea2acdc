#!/bin/sh
# Regenerates gpu-runtime/seq2seq/testdata/greedy-tiny.json: writes the tiny
# random BART folder (deterministic) and runs transformers.js greedy
# generation on it (seq2seq-greedy.mjs). Run from the repository root after
# `make reference`.
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go run ./tests/testkit/cmd/write-bart -o "$dir/tiny-bart"
(cd tests/reference && node seq2seq-greedy.mjs "$dir/tiny-bart") > gpu-runtime/seq2seq/testdata/greedy-tiny.json
echo "wrote gpu-runtime/seq2seq/testdata/greedy-tiny.json"
