// Long-form Whisper transcription in transformers.js, window by window as
// gpu-runtime/whisper's LongForm does it with Greedy options, for
// tests/reference/whisper-bench-asr.sh.
//
//   node whisper-bench-asr.mjs MODEL_DIR IN.f32 [THREADS [DTYPE]] > OUT_JSON
//
// IN.f32 holds 16 kHz mono float32 little-endian samples. The
// automatic-speech-recognition pipeline's processor and model are used as
// the pipeline uses them (language en, task transcribe, return_timestamps);
// the pipeline itself cuts audio at 30 s (or, with chunk_length_s, decodes
// overlapping chunks independently), so the sequential 30-second windows of
// openai-whisper are driven here: each window's features come from the
// samples at the seek point, one greedy pass (max_new_tokens set, so
// generate() does not loop within the window) decodes it, and the next
// window starts after the last complete segment (consecutive timestamp
// pair), or after the window when there is none or the text ends with a
// lone timestamp. THREADS sets intraOpNumThreads (default: onnxruntime's;
// "" or 0 keeps it), DTYPE transformers.js's dtype (fp32, q8, q4, fp16:
// which onnx/*.onnx files it loads; default fp32).
// Output: {"passes": [{"seek": frames, "ids": [...]}], "tokens", "load_ms",
// "decode_ms", "decode_cpu_ms", "encoder_ms", "encoder_runs", "decoder_ms",
// "decoder_runs", "ttft_ms"} (ttft_ms: the median over windows of the time
// from a window's samples to its first decoder run's end; decode_cpu_ms: the process's CPU time over the decoding);
// times are measured here, model loading apart; the encoder and decoder
// figures are the time inside each session's run.
import { resolve } from 'node:path';
import fs from 'node:fs';
import { env, pipeline } from '@huggingface/transformers';

const [dir, input, threads, dtypeArg] = process.argv.slice(2);
if (!dir || !input) {
  console.error('usage: node whisper-bench-asr.mjs MODEL_DIR IN.f32 [THREADS] > OUT_JSON');
  process.exit(2);
}
env.allowRemoteModels = false;
env.allowLocalModels = true;
const t0 = performance.now();
const session_options = Number(threads) > 0 ? { intraOpNumThreads: Number(threads) } : {};
const asr = await pipeline('automatic-speech-recognition', resolve(dir), { dtype: dtypeArg || 'fp32', session_options });
const loadMs = performance.now() - t0;
// time inside each session's run: the encoder ("model") and the merged decoder
const inside = {};
// time to first token per window: the window's samples in (features,
// encoder, first decoder run) to the first decoder run's end
let windowStart = null;
const ttft = [];
for (const [name, s] of Object.entries(asr.model.sessions)) {
  const run = s.run.bind(s);
  const p = (inside[name] = { ms: 0, runs: 0 });
  s.run = async (...args) => {
    const t = performance.now();
    try {
      return await run(...args);
    } finally {
      const end = performance.now();
      p.ms += end - t;
      p.runs++;
      if (name === 'decoder_model_merged' && windowStart !== null) {
        ttft.push(end - windowStart);
        windowStart = null;
      }
    }
  };
}

const b = fs.readFileSync(input);
const audio = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const gen = JSON.parse(fs.readFileSync(resolve(dir, 'generation_config.json'), 'utf8'));
const cfg = JSON.parse(fs.readFileSync(resolve(dir, 'config.json'), 'utf8'));
const hop = 160, chunk = 480000, nfft = 400, inputStride = 2;
const tb = gen.no_timestamps_token_id + 1;
const eos = Array.isArray(gen.eos_token_id) ? gen.eos_token_id[0] : gen.eos_token_id;
const maxLength = gen.max_length ?? 448;
const opts = gen.is_multilingual ? { language: 'en', task: 'transcribe' } : {};

const passes = [];
let tokens = 0;
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const c1 = cpuMs();
const t1 = performance.now();
for (let seek = 0; ;) {
  const window = audio.subarray(seek * hop, seek * hop + chunk);
  const frames = Math.floor(window.length / hop);
  if (frames === 0 || window.length < nfft / 2) break; // as LongForm: nothing (or under half an FFT) left
  windowStart = performance.now();
  const { input_features } = await asr.processor(window);
  const promptLength = gen.is_multilingual ? 3 : 1;
  const out = await asr.model.generate({
    inputs: input_features, ...opts, return_timestamps: true,
    max_new_tokens: maxLength - promptLength, num_frames: frames,
  });
  const ids = out[0].tolist().map(Number);
  passes.push({ seek, ids });
  tokens += ids.length - promptLength;
  let toks = ids.slice(promptLength);
  if (toks.length > 0 && toks.at(-1) === eos) toks = toks.slice(0, -1);
  const isTS = (i) => toks[i] >= tb;
  const single = toks.length >= 2 && isTS(toks.length - 1) && !isTS(toks.length - 2);
  let last = -1;
  for (let i = 0; i + 1 < toks.length; i++) if (isTS(i) && isTS(i + 1)) last = i + 1;
  let advance = frames;
  if (last >= 0 && !single) advance = (toks[last - 1] - tb) * inputStride;
  if (advance <= 0 || advance > frames) advance = frames;
  seek += advance;
  if (seek * hop >= audio.length) break;
}
const decodeMs = performance.now() - t1;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? 0 : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const decodeCpuMs = cpuMs() - c1;
const enc = inside.model ?? { ms: 0, runs: 0 }, dec = inside.decoder_model_merged ?? { ms: 0, runs: 0 };
process.stdout.write(JSON.stringify({
  model: cfg.model_type, passes, tokens, load_ms: loadMs, decode_ms: decodeMs, decode_cpu_ms: decodeCpuMs,
  encoder_ms: enc.ms, encoder_runs: enc.runs, decoder_ms: dec.ms, decoder_runs: dec.runs,
  ttft_ms: median(ttft),
}) + '\n');
