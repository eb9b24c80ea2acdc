// Reference sentence embeddings from transformers.js (@huggingface/transformers
// on onnxruntime-node) for a BERT-style feature-extraction folder, loaded
// offline:
//
//   node embed-features.mjs MODEL_DIR > OUT_JSON
//
// Each case is one pipeline call, pipeline('feature-extraction', MODEL_DIR,
// {dtype: 'fp32'}) with {pooling: 'mean', normalize: true} (vectors) and
// with {pooling: 'cls', normalize: true} (cls_vectors), on a batch of
// texts (padded to the longest, truncated to model_max_length). It writes the
// texts, the tokenizer's input_ids and attention_mask for that batch (to tell
// tokenizer differences from model differences) and the vectors.
import { resolve, basename } from "node:path";
import { env, pipeline } from "@huggingface/transformers";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node embed-features.mjs MODEL_DIR > OUT_JSON");
  process.exit(2);
}
env.allowRemoteModels = false;
env.allowLocalModels = true;
const extractor = await pipeline("feature-extraction", resolve(dir), { dtype: "fp32" });

const long =
  "In this lecture we derive the second law of thermodynamics from statistical mechanics, " +
  "counting microstates of an ideal gas, and then show why entropy never decreases in an isolated system.";
const longer = Array(6).fill("The professor writes Maxwell's equations on the board and explains each term.").join(" ");
const varied = [
  "the cat sat on the mat",
  "Entropy is a measure of disorder.",
  "ok",
  "Numbers 1, 2, 3 and émigré café: ünïcödé!",
  long,
  "What is the time complexity of quicksort in the worst case, and why?",
  "",
  "   ",
  "中文 characters and 日本語 mixed with English words",
  "UPPER case TEXT is lowercased by the uncased tokenizer",
  "tabs\tand\nnewlines\r\nin between",
  "[CLS] special tokens [SEP] written inside text [MASK]",
];
const cases = [
  { name: "single-short", texts: ["the cat sat on the mat"] },
  { name: "single-long-truncated", texts: [long] },
  { name: "single-longer-truncated", texts: [longer] },
  { name: "single-empty", texts: [""] },
  { name: "batch-varied-lengths", texts: varied },
  { name: "batch-all-truncated", texts: [long, longer, long + " " + longer] },
  {
    name: "batch-40-repeats",
    texts: Array.from({ length: 40 }, (_, i) => varied[(i * 7) % varied.length] + (i % 3 ? " again" : "")),
  },
];

const out = { model: basename(resolve(dir)), cases: [] };
for (const c of cases) {
  const enc = await extractor.tokenizer(c.texts, { padding: true, truncation: true });
  const vecs = await extractor(c.texts, { pooling: "mean", normalize: true });
  out.cases.push({
    name: c.name,
    texts: c.texts,
    input_ids: enc.input_ids.tolist().map((r) => r.map(Number)),
    attention_mask: enc.attention_mask.tolist().map((r) => r.map(Number)),
    dims: vecs.dims,
    vectors: vecs.tolist(),
    cls_vectors: (await extractor(c.texts, { pooling: "cls", normalize: true })).tolist(),
  });
}
process.stdout.write(JSON.stringify(out) + "\n");
