#!/bin/sh
# Regenerates gpu-runtime/causal/testdata/greedy-tiny{,-tied}.json: writes
# the tiny random Qwen2 folders (deterministic; untied and tied lm_head) and
# runs transformers.js on them (causal-greedy.mjs). Run from the repository
# root after `make reference`.
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go run ./tests/testkit/cmd/write-qwen -o "$dir/tiny-qwen2"
go run ./tests/testkit/cmd/write-qwen -tied -o "$dir/tiny-qwen2-tied"
(cd tests/reference && node causal-greedy.mjs "$dir/tiny-qwen2") > gpu-runtime/causal/testdata/greedy-tiny.json
(cd tests/reference && node causal-greedy.mjs "$dir/tiny-qwen2-tied") > gpu-runtime/causal/testdata/greedy-tiny-tied.json
echo "wrote gpu-runtime/causal/testdata/greedy-tiny.json and greedy-tiny-tied.json"
