// Times transformers.js's WhisperFeatureExtractor over 10 minutes of audio
// as twenty 30 s windows (after one warm-up window), the node side of
// whisper-bench.sh.
//
//   node whisper-bench.mjs IN.f32 [MELS] [RUNS]
//
// Prints one line: "transformers.js MELS mels: BEST ms per 10 min (runs: …)".
import { whisperExtractor, readF32 } from './features-whisper.mjs';

const [file, mels = '80', runs = '2'] = process.argv.slice(2);
const x = readF32(file);
const windows = 20, n = 480000;
if (x.length < windows * n) {
  console.error(`${file}: ${x.length} samples, need ${windows * n}`);
  process.exit(1);
}
const fe = await whisperExtractor(Number(mels));
await fe(x.subarray(0, n)); // warm-up
const times = [];
for (let r = 0; r < Number(runs); r++) {
  const t0 = performance.now();
  for (let w = 0; w < windows; w++) {
    await fe(x.subarray(w * n, (w + 1) * n));
  }
  times.push(performance.now() - t0);
}
console.log(`transformers.js ${mels} mels: ${Math.min(...times).toFixed(1)} ms per 10 min (runs: ${times.map((t) => t.toFixed(0)).join(', ')})`);
