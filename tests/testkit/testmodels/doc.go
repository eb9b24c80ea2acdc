// Package testmodels writes random-weight models in exactly the layout and
// with exactly the input and output names that Hugging Face Optimum exports,
// so the generation code can be proved right (against transformers.js on the
// same folder) without real weights.
//
// WriteBART writes a BART-architecture encoder-decoder folder:
//
//	config.json, generation_config.json, tokenizer.json, tokenizer_config.json
//	onnx/encoder_model.onnx           input_ids, attention_mask -> last_hidden_state
//	onnx/decoder_model_merged.onnx    one If(use_cache_branch) over the no-past
//	                                  and with-past decoders, weights hoisted to
//	                                  the outer graph
//	onnx/decoder_model.onnx, onnx/decoder_with_past_model.onnx
//	                                  the older split pair (Config.SplitDecoder)
//
// The architecture is Hugging Face's BartForConditionalGeneration: learned
// positional embeddings with BART's offset of 2, layernorm_embedding,
// post-LayerNorm layers, exact (erf) GELU, an lm_head tied to the shared
// embedding, and final_logits_bias. Linear weights are stored as [in, out]
// (transposed from PyTorch's [out, in]) so MatMul needs no Transpose.
//
// The same Config and seed give byte-identical files on every machine.
package testmodels
