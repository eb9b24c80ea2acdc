// Reference Whisper transcriptions from transformers.js's
// automatic-speech-recognition pipeline on an Optimum-layout Whisper folder,
// loaded offline, for gpu-runtime/whisper's tests.
//
//   node whisper-asr.mjs MODEL_DIR OUTDIR IN.f32 ... > OUT_JSON
//
// Each IN.f32 holds 16 kHz mono float32 little-endian samples (written by
// the Go test, so audio decoding differences do not count). For each input
// and for return_timestamps false and true it records the token ids of
// model.generate() (called exactly as the pipeline calls it: the
// processor's input_features, language en and task transcribe for a
// multilingual folder, neither for an English-only one, num_frames)
// and the pipeline's text and chunks. OUTDIR/NAME.mel.f32 gets the
// processor's features (n_mels×3000 float32, row-major).
import { resolve, basename, join } from 'node:path';
import fs from 'node:fs';
import { env, pipeline } from '@huggingface/transformers';

const [dir, outDir, ...inputs] = process.argv.slice(2);
if (!dir || !outDir || inputs.length === 0) {
  console.error('usage: node whisper-asr.mjs MODEL_DIR OUTDIR IN.f32 ... > OUT_JSON');
  process.exit(2);
}
env.allowRemoteModels = false;
env.allowLocalModels = true;
const asr = await pipeline('automatic-speech-recognition', resolve(dir), { dtype: 'fp32' });

function readF32(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

const gen = JSON.parse(fs.readFileSync(join(dir, 'generation_config.json'), 'utf8'));
const out = { model: basename(resolve(dir)), cases: [] };
for (const file of inputs) {
  const name = basename(file, '.f32');
  const audio = readF32(file);
  const { input_features } = await asr.processor(audio);
  const mel = input_features.data;
  fs.writeFileSync(join(outDir, name + '.mel.f32'), Buffer.from(mel.buffer, mel.byteOffset, mel.byteLength));
  for (const return_timestamps of [false, true]) {
    const opts = gen.is_multilingual ? { language: 'en', task: 'transcribe', return_timestamps } : { return_timestamps };
    const ids = await asr.model.generate({
      inputs: input_features, ...opts,
      num_frames: Math.floor(audio.length / asr.processor.feature_extractor.config.hop_length),
    });
    const res = await asr(audio, opts);
    out.cases.push({
      name, return_timestamps,
      ids: ids[0].tolist().map(Number),
      text: res.text,
      chunks: (res.chunks ?? []).map((c) => ({ start: c.timestamp[0], end: c.timestamp[1], text: c.text })),
    });
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
