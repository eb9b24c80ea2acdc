package testmodels

import (
	"encoding/json"
	"fmt"
)

// qwenSplitPattern is Qwen2/2.5/3's pre-tokenizer Split regex, verbatim.
const qwenSplitPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// QwenTinyTokenizerSize is the vocabulary of QwenTinyTokenizer: the 256
// byte symbols (ids 0-255 in byte order), one token per tiny merge, then
// <|endoftext|>, <|im_start|> and <|im_end|>.
var QwenTinyTokenizerSize = 256 + len(tinyMerges) + 3

// QwenTinyTokenizer returns a tokenizer.json with Qwen2.5's pipeline (NFC,
// the Split regex then ByteLevel without regex, ByteLevel post-processor
// and decoder, <|endoftext|> <|im_start|> <|im_end|> as special added
// tokens) over a tiny vocabulary, and a Qwen2Tokenizer
// tokenizer_config.json (no BOS, EOS <|im_end|>, padding <|endoftext|>).
// Characters outside ASCII stay as one token per UTF-8 byte, so streamed
// decoding has multi-byte characters split across tokens to put together.
func QwenTinyTokenizer() (tokenizerJSON, configJSON []byte) {
	vocab := map[string]int{}
	for _, r := range byteLevelAlphabet() {
		vocab[string(r)] = len(vocab)
	}
	for _, m := range tinyMerges {
		var a, b string
		fmt.Sscan(m, &a, &b)
		vocab[a+b] = len(vocab)
	}
	specials := []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}
	var added []any
	for _, s := range specials {
		id := len(vocab)
		vocab[s] = id
		added = append(added, map[string]any{"id": id, "content": s, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true})
	}
	byteLevel := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}
	tok := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil,
		"added_tokens": added,
		"normalizer":   map[string]any{"type": "NFC"},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": qwenSplitPattern}, "behavior": "Isolated", "invert": false},
			byteLevel,
		}},
		"post_processor": byteLevel,
		"decoder":        byteLevel,
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
			"vocab": vocab, "merges": tinyMerges},
	}
	tj, _ := json.Marshal(tok)
	cj, _ := json.MarshalIndent(map[string]any{
		"tokenizer_class": "Qwen2Tokenizer", "add_bos_token": false, "add_prefix_space": false,
		"bos_token": nil, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": nil,
		"errors": "replace", "split_special_tokens": false, "model_max_length": 32768,
		"clean_up_tokenization_spaces": false,
		"additional_special_tokens":    []string{"<|im_start|>", "<|im_end|>"},
	}, "", "  ")
	return tj, append(cj, '\n')
}
