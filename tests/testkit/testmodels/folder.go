package testmodels

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// Config sizes a BART model and sets its generation defaults.
type Config struct {
	DModel, EncoderLayers, DecoderLayers, Heads, FFN int
	// Vocab is the model's vocabulary; 0 means the tokenizer's size.
	Vocab        int
	MaxPositions int
	Seed         uint64

	// Tokenizer is a folder whose tokenizer.json and tokenizer_config.json
	// are copied (e.g. tests/reference/build/bart); "" writes TinyTokenizer.
	Tokenizer string

	BOS, PAD, EOS, DecoderStart int
	ForcedBOS, ForcedEOS        *int // nil: left out of config.json
	MaxLength, MinLength        int  // generation_config.json; 0 leaves them out
	// EOSBias is added to final_logits_bias[EOS], so that random models
	// end some sequences early (tests of EOS handling need that).
	EOSBias float32

	NoMerged     bool // leave out decoder_model_merged.onnx
	SplitDecoder bool // also write decoder_model.onnx + decoder_with_past_model.onnx
}

// Tiny is a small, fast model for tests: 2+2 layers, d_model 32, 4 heads,
// the tiny tokenizer, forced EOS at max length 20, as BART checkpoints do.
func Tiny() Config {
	eos := 2
	return Config{DModel: 32, EncoderLayers: 2, DecoderLayers: 2, Heads: 4, FFN: 64, MaxPositions: 64, Seed: 1,
		BOS: 0, PAD: 1, EOS: 2, DecoderStart: 2, ForcedEOS: &eos, MaxLength: 20, EOSBias: 13}
}

// DistilBART66 is DistilBART-CNN-6-6's shape (for benchmarks; about 1.3 GB,
// generated on demand, never committed). Pass the real BART tokenizer.
func DistilBART66(tokenizerDir string) Config {
	c := Tiny()
	c.DModel, c.EncoderLayers, c.DecoderLayers, c.Heads, c.FFN, c.MaxPositions = 1024, 6, 6, 16, 4096, 1024
	c.Vocab, c.Tokenizer, c.MaxLength = 50264, tokenizerDir, 142
	return c
}

// WriteBART writes the model folder into dir (created if needed).
func WriteBART(dir string, c Config) error {
	if err := c.writeFiles(dir); err != nil {
		return err
	}
	return c.writeModels(dir, weights(&c), nil)
}

// writeFiles checks c, creates dir and writes the tokenizer and the JSON
// configs, settling c.Vocab.
func (c *Config) writeFiles(dir string) error {
	if c.Heads <= 0 || c.DModel%c.Heads != 0 {
		return fmt.Errorf("testmodels: d_model %d is not a multiple of %d heads", c.DModel, c.Heads)
	}
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		return err
	}
	tokSize, err := writeTokenizer(dir, c.Tokenizer)
	if err != nil {
		return err
	}
	if c.Vocab == 0 {
		c.Vocab = tokSize
	}
	if c.Vocab < tokSize {
		return fmt.Errorf("testmodels: vocabulary %d is smaller than the tokenizer's %d", c.Vocab, tokSize)
	}
	if err := WriteJSON(filepath.Join(dir, "config.json"), c.configJSON()); err != nil {
		return err
	}
	return WriteJSON(filepath.Join(dir, "generation_config.json"), c.generationJSON())
}

// writeModels writes the .onnx files of weights ws; lg (nil for none) puts
// LoRA inputs on the adapted projections.
func (c *Config) writeModels(dir string, ws []pb.Tensor, lg *loraGraph) error {
	write := func(name string, m interface{ WriteFile(string) error }) error {
		return m.WriteFile(filepath.Join(dir, "onnx", name))
	}
	if err := write("encoder_model.onnx", encoderModel(c, ws, lg)); err != nil {
		return err
	}
	if !c.NoMerged {
		if err := write("decoder_model_merged.onnx", mergedDecoder(c, ws, lg)); err != nil {
			return err
		}
	}
	if c.SplitDecoder {
		if err := write("decoder_model.onnx", splitDecoder(c, ws, false, lg)); err != nil {
			return err
		}
		if err := write("decoder_with_past_model.onnx", splitDecoder(c, ws, true, lg)); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) configJSON() map[string]any {
	m := map[string]any{
		"model_type": "bart", "architectures": []string{"BartForConditionalGeneration"},
		"is_encoder_decoder": true, "vocab_size": c.Vocab, "d_model": c.DModel,
		"encoder_layers": c.EncoderLayers, "decoder_layers": c.DecoderLayers,
		"encoder_attention_heads": c.Heads, "decoder_attention_heads": c.Heads,
		"encoder_ffn_dim": c.FFN, "decoder_ffn_dim": c.FFN, "max_position_embeddings": c.MaxPositions,
		"activation_function": "gelu", "scale_embedding": false, "normalize_before": false,
		"add_final_layer_norm": false, "tie_word_embeddings": true, "use_cache": true,
		"bos_token_id": c.BOS, "pad_token_id": c.PAD, "eos_token_id": c.EOS,
		"decoder_start_token_id": c.DecoderStart, "num_hidden_layers": c.EncoderLayers,
	}
	c.forced(m)
	return m
}

func (c *Config) generationJSON() map[string]any {
	m := map[string]any{"bos_token_id": c.BOS, "pad_token_id": c.PAD, "eos_token_id": c.EOS,
		"decoder_start_token_id": c.DecoderStart}
	if c.MaxLength > 0 {
		m["max_length"] = c.MaxLength
	}
	if c.MinLength > 0 {
		m["min_length"] = c.MinLength
	}
	c.forced(m)
	return m
}

func (c *Config) forced(m map[string]any) {
	if c.ForcedBOS != nil {
		m["forced_bos_token_id"] = *c.ForcedBOS
	}
	if c.ForcedEOS != nil {
		m["forced_eos_token_id"] = *c.ForcedEOS
	}
}

// WriteJSON writes v as indented JSON with a final newline, as Hugging Face
// writes its config files.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
