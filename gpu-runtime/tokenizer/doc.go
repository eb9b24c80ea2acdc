// Package tokenizer loads Hugging Face tokenizer.json files and turns text
// into the token ids a model was trained on, and back.
//
// Models are only right when their tokenizer is exactly right, so every
// supported family is proven token for token against Hugging Face's own
// JavaScript tokenizers (npm @huggingface/tokenizers, what transformers.js
// runs) on the strings in testdata/ (see tests/reference/). Supported now:
//
//   - byte-level BPE (GPT-2, BART/RoBERTa, Whisper, and Qwen2/2.5/3 with
//     their Split pattern and NFC): KindByteLevelBPE
//   - WordPiece (BERT, MiniLM): KindWordPiece
//   - SentencePiece-style BPE (Llama 2, Phi-3, Mistral): "▁" for spaces by
//     the normalizer (Prepend, Replace) or a Metaspace pre-tokenizer,
//     <0xNN> byte fallback, fuse_unk, ignore_merges, and the decoder chain
//     (Replace, ByteFallback, Fuse, Strip, Metaspace): KindSentencePieceBPE
//
// All are written here, following the reference's code path by path (the
// GPT-2 and Qwen split regexes by hand, since Go's regexp has no
// look-ahead; the WHATWG rule for invalid UTF-8 when decoding bytes).
// gomlx/go-huggingface was tried first and differed on 19-53% of the test
// strings (whitespace runs before a word, BertNormalizer details), so it is
// not used.
//
// Files that need something the library does not do exactly are refused at
// load time rather than tokenized wrongly: other Split regexes (Llama 3's
// \p{N}{1,3} among them), Unigram models, normalizers other than Sequence,
// Prepend, Replace (String patterns) and NFC/NFD/NFKC/NFKD, and decoders
// outside the chains above. Each is a new model behind the same Tokenizer
// (see model in tokenizer.go), added with its own reference comparison.
package tokenizer
