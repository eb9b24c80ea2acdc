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
// pad token until every row has. Greedy decoding, and seeded sampling with
// temperature, top-k and top-p (nucleus) applied in Hugging Face's order
// (Sampler.Distribution exposes the processed distribution). A Streamer
// turns generated ids into text pieces that never split a UTF-8 character.
//
// Proved against transformers.js on random-weight Qwen2 folders
// (testmodels.WriteQwen2; tests/reference/causal-greedy.mjs).
package causal
