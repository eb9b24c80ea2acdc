// Reference tokenizer outputs from Hugging Face's own JavaScript tokenizers
// (@huggingface/tokenizers, the library transformers.js uses).
//
//   node tokenize.mjs TOKENIZER_JSON STRINGS_JSONL > OUT_JSONL
//
// TOKENIZER_JSON is a tokenizer.json; a tokenizer_config.json beside it is
// read when present. STRINGS_JSONL has one JSON string per line. Each output
// line is {"ids": [...], "plain": [...], "decoded": "...", "raw": "..."}:
//   ids      encode(s) with the special tokens the post-processor adds
//   plain    encode(s, {add_special_tokens: false})
//   decoded  decode(ids, {skip_special_tokens: true, clean_up_tokenization_spaces: false})
//   raw      decode(ids, {skip_special_tokens: false, clean_up_tokenization_spaces: false})
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

const [tokPath, stringsPath] = process.argv.slice(2);
if (!tokPath || !stringsPath) {
  console.error("usage: node tokenize.mjs TOKENIZER_JSON STRINGS_JSONL > OUT_JSONL");
  process.exit(2);
}
const tokJSON = JSON.parse(readFileSync(tokPath, "utf8"));
const cfgPath = join(dirname(tokPath), "tokenizer_config.json");
const cfg = existsSync(cfgPath) ? JSON.parse(readFileSync(cfgPath, "utf8")) : {};
const tok = new Tokenizer(tokJSON, cfg);

const decode = (ids, skip) =>
  ids.length === 0 ? "" : tok.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });

const lines = readFileSync(stringsPath, "utf8").split("\n").filter((l) => l !== "");
for (const line of lines) {
  const s = JSON.parse(line);
  const ids = tok.encode(s).ids;
  const plain = tok.encode(s, { add_special_tokens: false }).ids;
  process.stdout.write(JSON.stringify({ ids, plain, decoded: decode(ids, true), raw: decode(ids, false) }) + "\n");
}
