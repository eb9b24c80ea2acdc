// Package bertgen writes random-weight BERT-architecture (BERT, MiniLM,
// bge) sentence-embedding models in the layout Hugging Face Optimum exports
// for feature extraction, so the embedding code can be proved right against
// transformers.js on the same folder without real weights:
//
//	config.json             model_type "bert" and the sizes
//	tokenizer.json          WordPiece (the committed bert-uncased test files
//	tokenizer_config.json   unless Config.Tokenizer names another folder;
//	                        model_max_length set to Config.MaxLength)
//	onnx/model.onnx         input_ids, attention_mask, token_type_ids
//	                        (int64 [batch_size, sequence_length]) ->
//	                        last_hidden_state (float32 [batch_size,
//	                        sequence_length, hidden_size])
//
// The graph is Hugging Face's BertModel without the pooler: word + absolute
// position + token-type embeddings, LayerNorm (eps 1e-12), then post-LN
// layers of multi-head self-attention (scores scaled by 1/√head_dim, the
// padding mask added as (1−mask)·float32-min, as BertModel's extended
// attention mask does) and a feed-forward block with the exact erf GELU.
// Linear weights are stored [in, out] (transposed from PyTorch) so MatMul
// needs no Transpose.
//
// The same Config and seed give byte-identical files on every machine.
package bertgen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// Config sizes the model.
type Config struct {
	Hidden, Layers, Heads, Intermediate int
	// Vocab is the embedding rows; 0 means the tokenizer's size.
	Vocab        int
	MaxPositions int // max_position_embeddings
	TypeVocab    int // type_vocab_size; 0 means 2
	// MaxLength is tokenizer_config.json's model_max_length (the truncation
	// length); 0 means MaxPositions.
	MaxLength int
	Seed      uint64
	// Tokenizer is a folder whose tokenizer.json and tokenizer_config.json
	// are copied; "" means the committed WordPiece bert-uncased test files
	// (gpu-runtime/tokenizer/testdata/bert-uncased).
	Tokenizer string
}

// Tiny is a small, fast model for tests: hidden 32, 2 layers, 4 heads,
// intermediate 64, 64 positions, truncation at 24 tokens (so long test
// sentences hit it).
func Tiny() Config {
	return Config{Hidden: 32, Layers: 2, Heads: 4, Intermediate: 64, MaxPositions: 64, MaxLength: 24, Seed: 1}
}

// MiniLML6 is all-MiniLM-L6-v2's shape (hidden 384, 6 layers, 12 heads,
// intermediate 1536, 512 positions; about 90 MB with the test tokenizer's
// small vocabulary padded to MiniLM's 30522), for benchmarks. Truncation at
// 256 tokens, as sentence-transformers runs it.
func MiniLML6() Config {
	return Config{Hidden: 384, Layers: 6, Heads: 12, Intermediate: 1536, Vocab: 30522, MaxPositions: 512, MaxLength: 256, Seed: 1}
}

// LayerNormEps is BERT's layer_norm_eps.
const LayerNormEps = 1e-12

// DefaultTokenizerDir is the committed bert-uncased WordPiece folder, found
// from this source file's location (so it works from any test's directory).
func DefaultTokenizerDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "gpu-runtime", "tokenizer", "testdata", "bert-uncased")
}

func (c *Config) normalise() error {
	if c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Intermediate <= 0 || c.MaxPositions <= 0 {
		return fmt.Errorf("bertgen: hidden, layers, heads, intermediate and max positions must be > 0 (%+v)", *c)
	}
	if c.Hidden%c.Heads != 0 {
		return fmt.Errorf("bertgen: hidden size %d is not a multiple of %d heads", c.Hidden, c.Heads)
	}
	if c.TypeVocab == 0 {
		c.TypeVocab = 2
	}
	if c.MaxLength == 0 {
		c.MaxLength = c.MaxPositions
	}
	if c.MaxLength > c.MaxPositions {
		return fmt.Errorf("bertgen: max length %d exceeds %d positions", c.MaxLength, c.MaxPositions)
	}
	if c.Tokenizer == "" {
		c.Tokenizer = DefaultTokenizerDir()
	}
	return nil
}

// Write writes the model folder into dir (created if needed).
func Write(dir string, c Config) error {
	if err := c.normalise(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		return err
	}
	tokSize, err := copyTokenizer(dir, c.Tokenizer, c.MaxLength)
	if err != nil {
		return err
	}
	if c.Vocab == 0 {
		c.Vocab = tokSize
	}
	if c.Vocab < tokSize {
		return fmt.Errorf("bertgen: vocabulary %d is smaller than the tokenizer's %d", c.Vocab, tokSize)
	}
	if err := testmodels.WriteJSON(filepath.Join(dir, "config.json"), c.configJSON()); err != nil {
		return err
	}
	return Model(&c, Weights(&c)).WriteFile(filepath.Join(dir, "onnx", "model.onnx"))
}

func (c *Config) configJSON() map[string]any {
	return map[string]any{
		"model_type": "bert", "architectures": []string{"BertModel"},
		"hidden_size": c.Hidden, "num_hidden_layers": c.Layers, "num_attention_heads": c.Heads,
		"intermediate_size": c.Intermediate, "hidden_act": "gelu", "vocab_size": c.Vocab,
		"max_position_embeddings": c.MaxPositions, "type_vocab_size": c.TypeVocab,
		"layer_norm_eps": LayerNormEps, "position_embedding_type": "absolute", "pad_token_id": 0,
		"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02,
	}
}

// copyTokenizer copies tokenizer.json and tokenizer_config.json (with
// model_max_length set) from src and returns the vocabulary size (one more
// than the largest id).
func copyTokenizer(dir, src string, maxLength int) (int, error) {
	tj, err := os.ReadFile(filepath.Join(src, "tokenizer.json"))
	if err != nil {
		return 0, fmt.Errorf("bertgen: %w", err)
	}
	var parsed struct {
		Model struct {
			Vocab map[string]int `json:"vocab"`
		} `json:"model"`
		AddedTokens []struct {
			ID int `json:"id"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(tj, &parsed); err != nil {
		return 0, fmt.Errorf("bertgen: %s: %w", filepath.Join(src, "tokenizer.json"), err)
	}
	size := 0
	for _, id := range parsed.Model.Vocab {
		size = max(size, id+1)
	}
	for _, a := range parsed.AddedTokens {
		size = max(size, a.ID+1)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644); err != nil {
		return 0, err
	}
	cfgPath := filepath.Join(src, "tokenizer_config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return 0, fmt.Errorf("bertgen: %w", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return 0, fmt.Errorf("bertgen: %s: %w", cfgPath, err)
	}
	cfg["model_max_length"] = maxLength
	return size, testmodels.WriteJSON(filepath.Join(dir, "tokenizer_config.json"), cfg)
}

// Weights makes the model's random parameters, in a fixed order from one
// seed, with Hugging Face's BertModel names and linear weights as [in, out].
// The spreads are wider than BERT's initialiser so that attention and
// every layer visibly change the output.
func Weights(c *Config) []pb.Tensor {
	ps := testmodels.NewParams(c.Seed, 0xbe27)
	add := ps.Add
	h, f := int64(c.Hidden), int64(c.Intermediate)
	lin := ps.Linear
	ln := func(name string) { ps.LayerNorm(name, h) }
	add("embeddings.word_embeddings.weight", 1, 0, int64(c.Vocab), h)
	add("embeddings.position_embeddings.weight", 0.5, 0, int64(c.MaxPositions), h)
	add("embeddings.token_type_embeddings.weight", 0.5, 0, int64(c.TypeVocab), h)
	ln("embeddings.LayerNorm")
	for i := range c.Layers {
		p := fmt.Sprintf("encoder.layer.%d.", i)
		lin(p+"attention.self.query", h, h)
		lin(p+"attention.self.key", h, h)
		lin(p+"attention.self.value", h, h)
		lin(p+"attention.output.dense", h, h)
		ln(p + "attention.output.LayerNorm")
		lin(p+"intermediate.dense", h, f)
		lin(p+"output.dense", f, h)
		ln(p + "output.LayerNorm")
	}
	return ps.Tensors
}
