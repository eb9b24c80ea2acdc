// Reference generations from transformers.js (@huggingface/transformers on
// onnxruntime-node) for a decoder-only folder in the onnx-community layout
// (onnx/model.onnx with past_key_values.N.key/value), loaded offline.
//
//   node causal-greedy.mjs MODEL_DIR > OUT_JSON
//
// Greedy cases: for each, the tokenizer's LEFT-padded input_ids and
// attention_mask, the generated sequences (prompt and padding included, as
// generate() returns them) and the raw logits for the first new token of
// every row (the model's forward pass on the padded prompt, last column).
//
// Processor cases: the same with repetition_penalty, no_repeat_ngram_size
// or min_new_tokens in the options.
//
// Sampling cases: the distribution after temperature, top-k and top-p on
// those first-step logits. Temperature is transformers.js's own
// TemperatureLogitsWarper and top-k its sampler's step (topk, then softmax
// over the k kept), as generate() runs them. transformers.js 4.3.1 does
// not apply top-p at all (TopPLogitsWarper has no _call and generate() never
// adds it), so top-p here is Hugging Face's documented TopPLogitsWarper
// written out: sort ascending, softmax, cumulative sum, remove the tokens
// whose cumulative probability is <= 1 - top_p, always keep the most likely
// one (min_tokens_to_keep 1); then transformers.js's softmax.
import { resolve, basename } from "node:path";
import {
  env, AutoTokenizer, AutoModelForCausalLM, Tensor, TemperatureLogitsWarper, softmax,
} from "@huggingface/transformers";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node causal-greedy.mjs MODEL_DIR > OUT_JSON");
  process.exit(2);
}
env.allowRemoteModels = false;
env.allowLocalModels = true;
const id = resolve(dir);
const tokenizer = await AutoTokenizer.from_pretrained(id);
tokenizer.padding_side = "left";
const model = await AutoModelForCausalLM.from_pretrained(id, { dtype: "fp32" });

const texts = [
  "the cat sat on the mat",
  "In this lecture we look at entropy and the second law.",
  "ok",
  "<|im_start|>user\nWhat is entropy? Numbers 1, 2, 3 and émigré café.<|im_end|>\n<|im_start|>assistant\n",
];

async function greedy(c) {
  const enc = await tokenizer(c.texts, { padding: true, add_special_tokens: false });
  const gen = await model.generate({ ...enc, do_sample: false, ...c.options });
  const first = await model({ ...enc });
  const [b, s, v] = first.logits.dims;
  const last = [];
  for (let i = 0; i < b; i++) {
    const off = (i * s + s - 1) * v;
    last.push(Array.from(first.logits.data.slice(off, off + v)));
  }
  return {
    name: c.name,
    texts: c.texts,
    options: c.options,
    input_ids: enc.input_ids.tolist().map((r) => r.map(Number)),
    attention_mask: enc.attention_mask.tolist().map((r) => r.map(Number)),
    output_ids: gen.tolist().map((r) => r.map(Number)),
    first_logits: last,
  };
}

// Hugging Face's TopPLogitsWarper (min_tokens_to_keep 1) on one row.
function topP(scores, p) {
  if (!(p > 0 && p < 1)) return scores;
  const order = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b] || a - b);
  const probs = softmax(Float64Array.from(order, (i) => scores[i]));
  const out = Float64Array.from(scores);
  let cum = 0;
  for (let j = 0; j < order.length - 1; j++) {
    cum += probs[j];
    if (cum > 1 - p) break;
    out[order[j]] = -Infinity;
  }
  return out;
}

function distribution(logits, s) {
  const v = logits.length;
  let x = new Tensor("float32", Float32Array.from(logits), [1, v]);
  if (s.temperature !== 1) x = new TemperatureLogitsWarper(s.temperature)._call(null, x);
  let scores = Float64Array.from(x.data);
  if (s.top_k > 0 && s.top_k < v) {
    // the sampler keeps the k largest (topk) and renormalises over them
    const kth = Array.from(scores).sort((a, b) => b - a)[s.top_k - 1];
    scores = scores.map((y) => (y < kth ? -Infinity : y));
  }
  scores = topP(scores, s.top_p);
  const keep = Array.from(scores.keys()).filter((i) => scores[i] !== -Infinity);
  const probs = softmax(Float64Array.from(keep, (i) => scores[i]));
  const out = new Array(v).fill(0);
  keep.forEach((i, j) => (out[i] = probs[j]));
  return out;
}

const out = { model: basename(id), vocab_size: model.config.vocab_size, cases: [], sampling: [] };
const cases = [];
for (let i = 0; i < texts.length; i++) {
  cases.push({ name: `batch1-${i}`, texts: [texts[i]], options: { max_new_tokens: 24 } });
}
cases.push({ name: "batch4-left-padded", texts, options: { max_new_tokens: 24 } });
for (const c of cases) out.cases.push(await greedy(c));

// An EOS list taken from the greedy output, so rows end at different steps.
const g = out.cases.at(-1);
const gen = (row) => g.output_ids[row].slice(g.input_ids[row].length);
const eos = [gen(0)[3], gen(2)[6]];
out.cases.push(await greedy({ name: "batch4-eos-list", texts, options: { max_new_tokens: 24, eos_token_id: eos } }));
out.cases.push(await greedy({ name: "batch1-eos-list", texts: [texts[0]], options: { max_new_tokens: 24, eos_token_id: eos } }));

// Logits processors before the greedy choice: repetition_penalty (every id
// already in the row, prompt and left padding included) and
// no_repeat_ngram_size, alone and together.
const processors = [
  { name: "rep1.3", options: { repetition_penalty: 1.3 } },
  { name: "rep0.7", options: { repetition_penalty: 0.7 } },
  { name: "rep2.5", options: { repetition_penalty: 2.5 } },
  { name: "ngram2", options: { no_repeat_ngram_size: 2 } },
  { name: "rep1.3-ngram3", options: { repetition_penalty: 1.3, no_repeat_ngram_size: 3 } },
];
// min_new_tokens: the EOS list above may not end a row before 10 tokens
out.cases.push(await greedy({ name: "batch4-eos-list-min10", texts, options: { max_new_tokens: 24, eos_token_id: eos, min_new_tokens: 10 } }));
out.cases.push(await greedy({ name: "batch1-eos-list-min24", texts: [texts[0]], options: { max_new_tokens: 24, eos_token_id: eos, min_new_tokens: 24 } }));
for (const p of processors) {
  out.cases.push(await greedy({ name: `batch1-${p.name}`, texts: [texts[1]], options: { max_new_tokens: 32, ...p.options } }));
  out.cases.push(await greedy({ name: `batch4-${p.name}`, texts, options: { max_new_tokens: 32, ...p.options } }));
}

const settings = [
  { temperature: 1, top_k: 0, top_p: 1 },
  { temperature: 0.7, top_k: 0, top_p: 1 },
  { temperature: 0.7, top_k: 0, top_p: 0.8 },
  { temperature: 0.7, top_k: 20, top_p: 0.8 },
  { temperature: 1.5, top_k: 50, top_p: 0.95 },
  { temperature: 0.3, top_k: 0, top_p: 0.5 },
  { temperature: 1, top_k: 5, top_p: 1 },
];
const rows = out.cases.find((c) => c.name === "batch4-left-padded").first_logits;
for (const s of settings) {
  out.sampling.push({ ...s, distributions: rows.map((r) => distribution(r, s)) });
}
process.stdout.write(JSON.stringify(out) + "\n");
