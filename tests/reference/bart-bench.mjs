// Greedy BART generation timed in transformers.js (@huggingface/transformers on
// onnxruntime-node, its default session options), the peer of
// tests/testkit/cmd/bart-bench. Same input ids, same fixed output length:
//
//   node bart-bench.mjs MODEL_DIR IDS_JSON NEW_TOKENS RUNS [DTYPE [THREADS]]
//
// IDS_JSON is a JSON array of encoder input ids (one row). DTYPE (fp32,
// q8, q4, fp16; default fp32) is transformers.js's dtype option: which
// onnx/*.onnx files it loads. THREADS sets onnxruntime-node's intra-op
// threads (default: its own). Prints one JSON line: cold load (process
// start to ready), each generate() time, the time inside session.run, the
// time to the first token (a one-token generate(): encoder and first
// decoder step) and the mean cached decoder step, peak RSS and the
// generated ids.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { env, AutoModelForSeq2SeqLM, Tensor } from "@huggingface/transformers";

const [dir, idsFile, newArg, runsArg, dtypeArg, threadsArg] = process.argv.slice(2);
if (!dir || !idsFile) {
  console.error("usage: node bart-bench.mjs MODEL_DIR IDS_JSON [NEW_TOKENS] [RUNS]");
  process.exit(2);
}
const newTokens = Number(newArg ?? 64);
const runs = Number(runsArg ?? 3);
env.allowRemoteModels = false;
env.allowLocalModels = true;
const dtype = dtypeArg || "fp32";
const threads = Number(threadsArg ?? 0);
const session_options = threads > 0 ? { intraOpNumThreads: threads } : {};
const model = await AutoModelForSeq2SeqLM.from_pretrained(resolve(dir), { dtype, session_options });
const loadMs = process.uptime() * 1000; // process start to a model ready to generate
const loadCpuMs = (({ user, system }) => (user + system) / 1000)(process.cpuUsage());

// Time spent inside onnxruntime-node's session.run: all sessions, the
// encoder ("model"), and the decoder with its number of runs.
let runMs = 0;
const per = {};
for (const [name, s] of Object.entries(model.sessions)) {
  const run = s.run.bind(s);
  per[name] = { ms: 0, runs: 0 };
  s.run = async (...args) => {
    const t0 = performance.now();
    try {
      return await run(...args);
    } finally {
      const ms = performance.now() - t0;
      runMs += ms;
      per[name].ms += ms;
      per[name].runs++;
    }
  };
}
const reset = () => {
  runMs = 0;
  for (const p of Object.values(per)) Object.assign(p, { ms: 0, runs: 0 });
};

const ids = JSON.parse(readFileSync(idsFile, "utf8"));
const n = ids.length;
const input_ids = new Tensor("int64", BigInt64Array.from(ids.map(BigInt)), [1, n]);
const attention_mask = new Tensor("int64", new BigInt64Array(n).fill(1n), [1, n]);
const options = { max_new_tokens: newTokens, min_new_tokens: newTokens, forced_eos_token_id: null, num_beams: 1, do_sample: false };

const times = [];
const runShares = [];
const encoderMs = [];
const decoderStepMs = [];
const ttftMs = [];
const genCpuMs = [];
const ttftCpuMs = [];
// the process's CPU time (every thread, onnxruntime's included), in ms
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const firstStepMs = [];
const cachedStepMs = [];
const first = { ...options, max_new_tokens: 1, min_new_tokens: 1 };
let out;
for (let i = 0; i <= runs; i++) {
  reset();
  const c0 = cpuMs();
  const t0 = performance.now();
  out = await model.generate({ input_ids, attention_mask, ...options });
  const ms = performance.now() - t0;
  const cpu = cpuMs() - c0;
  if (i > 0) {
    // the first call is a warm-up
    times.push(ms);
    genCpuMs.push(cpu);
    runShares.push(1 - runMs / ms);
    const dec = per.decoder_model_merged;
    encoderMs.push(per.model.ms);
    decoderStepMs.push(dec.ms / Math.max(dec.runs, 1));
    const { ms: decMs, runs: decRuns } = dec;
    // time to the first token: the same input, one new token
    reset();
    const c1 = cpuMs();
    const t1 = performance.now();
    await model.generate({ input_ids, attention_mask, ...first });
    ttftMs.push(performance.now() - t1);
    ttftCpuMs.push(cpuMs() - c1);
    firstStepMs.push(dec.ms);
    cachedStepMs.push((decMs - dec.ms) / Math.max(decRuns - dec.runs, 1));
  }
}
const generated = out.tolist()[0].map(Number);
console.log(
  JSON.stringify({
    peer: "transformers.js",
    load_ms: loadMs,
    load_cpu_ms: loadCpuMs,
    gen_ms: times,
    outside_run: runShares,
    encoder_ms: encoderMs,
    decoder_step_ms: decoderStepMs,
    ttft_ms: ttftMs,
    gen_cpu_ms: genCpuMs,
    ttft_cpu_ms: ttftCpuMs,
    first_step_ms: firstStepMs,
    cached_step_ms: cachedStepMs,
    dtype,
    threads: threads || "default",
    new_tokens: generated.length - 1,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    ids: generated,
  }),
);
