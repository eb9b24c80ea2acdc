// Package causal generates text with a decoder-only language model in the
// Optimum / onnx-community ONNX layout (Qwen2/2.5, Llama, Phi-3 and the
// like): one onnx/model.onnx that takes input_ids, attention_mask,
// position_ids and past_key_values.{i}.key/value and returns logits and
// present.{i}.key/value.
//
// Generation follows transformers.js and Hugging Face: the prompt runs once
// with empty [batch, kv_heads, 0, head_dim] caches, then one token per step
// with the cache; batches are LEFT-padded and position_ids come from the
// attention mask (cumsum − 1, padding at 1); rows that have ended take the
// pad token until every row has. Before the choice, repetition_penalty,
// no_repeat_ngram_size and min_new_tokens (Penalties; prompt and padding
// count as seen); then greedy decoding, or seeded sampling with
// temperature, top-k and top-p (nucleus) applied in Hugging Face's order
// (Sampler.Distribution exposes the processed distribution). A Streamer
// turns generated ids into text pieces that never split a UTF-8 character.
//
// Weights may lie in ONNX external data (onnx/model.onnx_data). The session
// projects only the last position onto the vocabulary (the prompt step
// needs nothing else); the present.* outputs of a step are fed back as the
// next step's past_key_values as they are, without a copy.
//
// Proved against transformers.js on random-weight Qwen2 folders
// (testmodels.WriteQwen2; tests/reference/causal-greedy.mjs), and timed
// against it on a Qwen2.5-0.5B-size folder (tests/reference/causal-bench.sh).
package causal
