// Package tokenizer loads Hugging Face tokenizer.json files and turns text
// into the token ids a model was trained on, and back.
//
// Models are only right when their tokenizer is exactly right, so every
// supported family is proven token for token against Hugging Face's own
// JavaScript tokenizers (npm @huggingface/tokenizers, what transformers.js
// runs) on the strings in testdata/ (see tests/reference/). Supported now:
//
//   - byte-level BPE (GPT-2, BART/RoBERTa, Whisper): KindByteLevelBPE
//   - WordPiece (BERT, MiniLM): KindWordPiece
//
// Both are written here, following the reference's code path by path
// (the GPT-2 split regex by hand, since Go's regexp has no look-ahead; the
// WHATWG rule for invalid UTF-8 when decoding bytes). gomlx/go-huggingface
// was tried first and differed on 19-53% of the test strings (whitespace
// runs before a word, BertNormalizer details), so it is not used.
//
// Files that need something the library does not do exactly are refused at
// load time rather than tokenized wrongly: SentencePiece-style BPE with byte
// fallback (Llama, Phi, Gemma: Metaspace/Prepend, byte_fallback) and
// pre-tokenizer regexes Go's regexp cannot compile (Qwen's look-ahead
// split). Each is a new backend behind the same Tokenizer (see backend in
// tokenizer.go), added with its own reference comparison.
package tokenizer
