package testmodels

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// byteLevelAlphabet is GPT-2's bytes_to_unicode: the printable character
// that byte-level BPE writes for each byte.
func byteLevelAlphabet() []rune {
	var bs []int
	for b := '!'; b <= '~'; b++ {
		bs = append(bs, int(b))
	}
	for b := '¡'; b <= '¬'; b++ {
		bs = append(bs, int(b))
	}
	for b := '®'; b <= 'ÿ'; b++ {
		bs = append(bs, int(b))
	}
	have := make(map[int]bool, len(bs))
	for _, b := range bs {
		have[b] = true
	}
	out := make([]rune, 256)
	for _, b := range bs {
		out[b] = rune(b)
	}
	n := 0
	for b := 0; b < 256; b++ {
		if !have[b] {
			out[b] = rune(256 + n)
			n++
		}
	}
	return out
}

// tinyMerges are the byte-level BPE merges of the tiny tokenizer, in rank
// order; each adds one token. "Ġ" is a space.
var tinyMerges = []string{
	"Ġ t", "h e", "i n", "Ġt he", "e r", "o n", "Ġ a", "r e", "a t", "e n",
	"Ġ s", "Ġ w", "o r", "i s", "Ġ o", "Ġ c", "e s", "Ġ b", "i t", "a n",
	"Ġ p", "Ġ m", "Ġ f", "a l", "in g", "Ġ d", "e d", "Ġa n", "Ġan d", "Ġo f",
	"Ġ in", "Ġt o", "l e", "o u", "Ġ h", "Ġ l", "i c", "a r", "Ġ is", "s t",
}

// TinyTokenizerSize is the vocabulary of TinyTokenizer: <s> <pad> </s>
// <unk>, the 256 byte symbols, one token per merge, and <mask>.
var TinyTokenizerSize = 4 + 256 + len(tinyMerges) + 1

// TinyTokenizer returns a BART-layout byte-level BPE tokenizer.json (same
// special tokens, pre-tokenizer, post-processor and decoder as BART's) with
// a tiny vocabulary, and its tokenizer_config.json.
func TinyTokenizer() (tokenizerJSON, configJSON []byte) {
	vocab := map[string]int{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
	for _, r := range byteLevelAlphabet() {
		vocab[string(r)] = len(vocab)
	}
	merges := make([]string, len(tinyMerges))
	for i, m := range tinyMerges {
		var a, b string
		fmt.Sscan(m, &a, &b)
		vocab[a+b] = len(vocab)
		merges[i] = m
	}
	mask := len(vocab)
	vocab["<mask>"] = mask
	special := func(id int, content string, lstrip bool) map[string]any {
		return map[string]any{"id": id, "content": content, "single_word": false, "lstrip": lstrip,
			"rstrip": false, "normalized": false, "special": true}
	}
	tok := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil,
		"added_tokens": []any{special(0, "<s>", false), special(1, "<pad>", false), special(2, "</s>", false),
			special(3, "<unk>", false), special(mask, "<mask>", true)},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "RobertaProcessing", "sep": []any{"</s>", 2}, "cls": []any{"<s>", 0}, "trim_offsets": true, "add_prefix_space": false},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": merges},
	}
	tj, _ := json.Marshal(tok)
	cj, _ := json.MarshalIndent(map[string]any{
		"tokenizer_class": "BartTokenizer", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
		"unk_token": "<unk>", "mask_token": "<mask>", "sep_token": "</s>", "cls_token": "<s>",
		"model_max_length": 1024, "clean_up_tokenization_spaces": false,
	}, "", "  ")
	return tj, append(cj, '\n')
}

// writeTokenizer puts tokenizer.json and tokenizer_config.json into dir:
// copied from src when it is set, else the tiny tokenizer. It returns the
// tokenizer's vocabulary size (largest id + 1).
func writeTokenizer(dir, src string) (int, error) {
	var tj, cj []byte
	if src == "" {
		tj, cj = TinyTokenizer()
	} else {
		var err error
		if tj, err = os.ReadFile(filepath.Join(src, "tokenizer.json")); err != nil {
			return 0, err
		}
		if cj, err = os.ReadFile(filepath.Join(src, "tokenizer_config.json")); err != nil {
			return 0, err
		}
	}
	var t struct {
		AddedTokens []struct{ ID int } `json:"added_tokens"`
		Model       struct {
			Vocab map[string]int `json:"vocab"`
		} `json:"model"`
	}
	if err := json.Unmarshal(tj, &t); err != nil {
		return 0, fmt.Errorf("tokenizer.json in %s: %w", src, err)
	}
	size := 0
	for _, id := range t.Model.Vocab {
		size = max(size, id+1)
	}
	for _, a := range t.AddedTokens {
		size = max(size, a.ID+1)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644); err != nil {
		return 0, err
	}
	return size, os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cj, 0o644)
}
