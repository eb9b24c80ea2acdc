// Whisper log-mel features from transformers.js's WhisperFeatureExtractor,
// the reference for gpu-runtime/whisper.
//
//   node features-whisper.mjs MELS OUTDIR IN.f32 ...
//
// Each IN.f32 holds 16 kHz mono float32 little-endian samples (written by
// the Go test, so decoding differences do not count); OUTDIR/NAME.mel.f32
// gets the features, MELS×3000 float32 little-endian, row-major. Offline:
// the extractor is built from the preprocessor_config.json that
// ../shared/docs/ml-reference.md gives, written to a temporary folder.
import { AutoFeatureExtractor, env } from '@huggingface/transformers';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export async function whisperExtractor(mels) {
  env.allowRemoteModels = false;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whisper-fe-'));
  fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({
    feature_extractor_type: 'WhisperFeatureExtractor',
    feature_size: mels,
    sampling_rate: 16000,
    hop_length: 160,
    chunk_length: 30,
    n_fft: 400,
    n_samples: 480000,
    nb_max_frames: 3000,
    padding_side: 'right',
    padding_value: 0.0,
    return_attention_mask: false,
  }));
  try {
    return await AutoFeatureExtractor.from_pretrained(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function readF32(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

async function main() {
  const [mels, outDir, ...inputs] = process.argv.slice(2);
  if (!mels || !outDir || inputs.length === 0) {
    console.error('usage: node features-whisper.mjs MELS OUTDIR IN.f32 ...');
    process.exit(2);
  }
  const fe = await whisperExtractor(Number(mels));
  for (const file of inputs) {
    const { input_features } = await fe(readF32(file));
    const data = input_features.data;
    const out = path.join(outDir, path.basename(file, '.f32') + '.mel.f32');
    fs.writeFileSync(out, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
