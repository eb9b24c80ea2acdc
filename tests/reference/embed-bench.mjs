// Time transformers.js's feature-extraction pipeline (mean pooling,
// normalize) on the 32 sentences of BenchmarkEmbed (gpu-runtime/embed), for
// comparing the Go embedder with it on the same folder and machine:
//
//   go run ./tests/testkit/cmd/bertgen -shape minilm-l6 -out /tmp/minilm
//   node embed-bench.mjs /tmp/minilm [RUNS]
import { resolve } from "node:path";
import { env, pipeline } from "@huggingface/transformers";

const dir = process.argv[2];
const runs = Number(process.argv[3] ?? 20);
if (!dir) {
  console.error("usage: node embed-bench.mjs MODEL_DIR [RUNS]");
  process.exit(2);
}
env.allowRemoteModels = false;
env.allowLocalModels = true;
const extractor = await pipeline("feature-extraction", resolve(dir), { dtype: "fp32" });

const base = [
  "Today we continue with the second law of thermodynamics.",
  "Entropy measures the number of microstates compatible with a macrostate.",
  "Any questions so far?",
  "Let us write down the partition function for an ideal gas and take its logarithm carefully.",
  "The exam covers chapters three to seven, including the problem sets.",
  "Quicksort runs in n log n time on average but quadratic time in the worst case.",
  "Remember that the derivative of the free energy with respect to temperature gives minus the entropy.",
  "OK.",
];
const texts = Array.from({ length: 32 }, (_, i) => base[i % base.length] + (i >= base.length ? ` (part ${Math.floor(i / base.length)})` : ""));

await extractor(texts, { pooling: "mean", normalize: true }); // warm-up
const times = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  await extractor(texts, { pooling: "mean", normalize: true });
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ texts: texts.length, runs, median_ms: times[runs >> 1], min_ms: times[0] }));
