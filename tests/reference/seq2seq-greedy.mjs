// Reference greedy generations from transformers.js (@huggingface/transformers
// on onnxruntime-node) for an Optimum-layout seq2seq folder, loaded offline.
//
//   node seq2seq-greedy.mjs MODEL_DIR [DTYPE] > OUT_JSON
//
// DTYPE is transformers.js's dtype option (fp32 by default; fp16 loads
// onnx/*_fp16.onnx).
//
// For each case (texts, generation options) it writes the tokenizer's
// input_ids and attention_mask (padded batch), the generated ids
// (decoder_start_token_id first, padded with pad_token_id) and the logits of
// the first decoder step for every row, flattened [batch, vocab].
import { resolve, basename } from "node:path";
import { env, AutoTokenizer, AutoModelForSeq2SeqLM } from "@huggingface/transformers";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node seq2seq-greedy.mjs MODEL_DIR > OUT_JSON");
  process.exit(2);
}
env.allowRemoteModels = false;
env.allowLocalModels = true;
const id = resolve(dir);
const tokenizer = await AutoTokenizer.from_pretrained(id);
const model = await AutoModelForSeq2SeqLM.from_pretrained(id, { dtype: process.argv[3] ?? "fp32" });

const texts = [
  "the cat sat on the mat",
  "In this lecture we look at entropy and the second law.",
  "ok",
  "Numbers 1, 2, 3 and émigré café: ünïcödé!",
];
const cases = [
  { name: "defaults-batch1", texts: texts.slice(1, 2), options: {} },
  { name: "defaults-batch4", texts, options: {} },
  { name: "no-forced-eos-batch1", texts: texts.slice(0, 1), options: { forced_eos_token_id: null } },
  { name: "no-forced-eos-batch4", texts, options: { forced_eos_token_id: null } },
  { name: "min-length-forced-bos", texts: texts.slice(0, 3), options: { min_length: 12, forced_bos_token_id: 0 } },
  { name: "max-length-5", texts: texts.slice(2, 4), options: { max_length: 5 } },
];

const out = { model: basename(resolve(dir)), vocab_size: model.config.vocab_size, cases: [] };
for (const c of cases) {
  const enc = await tokenizer(c.texts, { padding: true });
  const gen = await model.generate({ ...enc, ...c.options });
  const batch = c.texts.length;
  const start = model.config.decoder_start_token_id;
  const decoder_input_ids = enc.input_ids.slice(null, [0, 1]).map(() => BigInt(start));
  const first = await model({ ...enc, decoder_input_ids });
  out.cases.push({
    name: c.name,
    texts: c.texts,
    options: Object.fromEntries(Object.entries(c.options).map(([k, v]) => [k, v ?? -1])),
    input_ids: enc.input_ids.tolist().map((r) => r.map(Number)),
    attention_mask: enc.attention_mask.tolist().map((r) => r.map(Number)),
    output_ids: gen.tolist().map((r) => r.map(Number)),
    first_logits: Array.from(first.logits.data),
    first_logits_dims: first.logits.dims,
    batch,
  });
}
process.stdout.write(JSON.stringify(out) + "\n");
