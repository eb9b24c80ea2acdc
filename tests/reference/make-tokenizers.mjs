// Builds the tokenizer.json files the Go tokenizer is compared on that no
// npm package ships, into OUT_DIR/<name>/ (tokenizer.json and
// tokenizer_config.json):
//   bart       BART/RoBERTa layout over the real GPT-2 byte-level BPE: <s> <pad> </s> <unk>
//              first, <mask> (lstrip) last, RobertaProcessing adds <s> … </s>
//   bert-uncased  WordPiece with BertNormalizer (lowercase, accents stripped, CJK split),
//              BertPreTokenizer, [CLS] … [SEP], WordPiece decoder
//   bert-cased    the same vocabulary without lowercasing or accent stripping
// The WordPiece vocabularies are built from STRINGS_JSONL (deterministic) and
// leave some characters out on purpose, so [UNK] is exercised.
//
//   node make-tokenizers.mjs GPT2_TOKENIZER_JSON STRINGS_JSONL OUT_DIR
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const [gpt2Path, stringsPath, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error("usage: node make-tokenizers.mjs GPT2_TOKENIZER_JSON STRINGS_JSONL OUT_DIR");
  process.exit(2);
}

function write(name, tok, cfg) {
  const dir = join(outDir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tok));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(cfg, null, 2) + "\n");
}

const special = (id, content, extra = {}) => ({
  id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true, ...extra,
});

// --- BART over GPT-2 ---
const gpt2 = JSON.parse(readFileSync(gpt2Path, "utf8"));
{
  const vocab = { "<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3 };
  const ordered = Object.entries(gpt2.model.vocab).sort((a, b) => a[1] - b[1]);
  let size = Object.keys(vocab).length; // counted once: Object.keys in the loop made this quadratic
  for (const [tok] of ordered) if (tok !== "<|endoftext|>") vocab[tok] = (tok in vocab) ? size : size++;
  const mask = size;
  vocab["<mask>"] = mask;
  const tok = {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [special(0, "<s>"), special(1, "<pad>"), special(2, "</s>"), special(3, "<unk>"),
      special(mask, "<mask>", { lstrip: true })],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "RobertaProcessing", sep: ["</s>", 2], cls: ["<s>", 0], trim_offsets: true, add_prefix_space: false },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { ...gpt2.model, vocab },
  };
  write("bart", tok, {
    tokenizer_class: "BartTokenizer", bos_token: "<s>", eos_token: "</s>", pad_token: "<pad>", unk_token: "<unk>",
    mask_token: "<mask>", sep_token: "</s>", cls_token: "<s>", model_max_length: 1024, clean_up_tokenization_spaces: false,
  });
}

// --- WordPiece ---
function strip(s) {
  return s.normalize("NFD").replace(/\p{Mn}/gu, "");
}
const strings = readFileSync(stringsPath, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const words = new Map();
const chars = new Set();
for (const s of strings) {
  for (const w of s.split(/[\s\p{P}\p{S}]+/u)) {
    if (!w) continue;
    for (const v of [w, w.toLowerCase(), strip(w.toLowerCase())]) {
      words.set(v, (words.get(v) ?? 0) + 1);
      for (const c of v) chars.add(c);
    }
  }
  for (const c of s) chars.add(c);
}
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"()[]{}<>-_/\\@#$%^&*+=|~`") chars.add(c);
// Deterministic: sort, then drop every 11th character and every 7th frequent word.
const charList = [...chars].filter((c) => !/\s/u.test(c)).sort();
const wordList = [...words.entries()].filter(([, n]) => n >= 3).map(([w]) => w).sort();
const vocab = {};
let vocabSize = Object.keys(vocab).length;
const add = (t) => { if (!(t in vocab)) vocab[t] = vocabSize++; };
["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].forEach(add);
charList.forEach((c, i) => { if (i % 11 !== 5) { add(c); add("##" + c); } });
wordList.forEach((w, i) => { if (i % 7 !== 3 && [...w].length > 1 && [...w].length < 16) add(w); });
for (const suf of ["ing", "ed", "s", "er", "tion", "ly", "es", "ment", "al", "ic", "ize"]) add("##" + suf);
for (const pre of ["pre", "un", "re", "super", "anti", "dis", "photo", "eigen", "back", "gradient"]) add(pre);

function bert(lowercase) {
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].map((t) => special(vocab[t], t)),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }],
      pair: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } }, { SpecialToken: { id: "[SEP]", type_id: 1 } }],
      special_tokens: {
        "[CLS]": { id: "[CLS]", ids: [vocab["[CLS]"]], tokens: ["[CLS]"] },
        "[SEP]": { id: "[SEP]", ids: [vocab["[SEP]"]], tokens: ["[SEP]"] },
      },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab },
  };
}
const bertCfg = (lower) => ({
  tokenizer_class: "BertTokenizer", do_lower_case: lower, cls_token: "[CLS]", sep_token: "[SEP]", pad_token: "[PAD]",
  unk_token: "[UNK]", mask_token: "[MASK]", model_max_length: 512, clean_up_tokenization_spaces: true,
});
write("bert-uncased", bert(true), bertCfg(true));
write("bert-cased", bert(false), bertCfg(false));
console.error(`make-tokenizers: bart (${Object.keys(gpt2.model.vocab).length + 4} tokens), bert-* (${Object.keys(vocab).length} tokens) in ${outDir}`);
