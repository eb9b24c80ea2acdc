// Package embed turns texts into sentence embeddings with a BERT/MiniLM-style
// model exported by Hugging Face Optimum for feature extraction (a folder
// with config.json, tokenizer.json, tokenizer_config.json and
// onnx/model.onnx taking input_ids, attention_mask and optionally
// token_type_ids and giving last_hidden_state), the way sentence-transformers
// models such as all-MiniLM-L6-v2 and bge-small are used for retrieval:
// tokenize (with truncation), run the model on padded batches, mean-pool the
// token vectors over the attention mask (or take the [CLS] vector, for bge),
// and L2-normalise.
//
// The result equals transformers.js's
// pipeline('feature-extraction', folder, {dtype: 'fp32'}) called with
// {pooling: 'mean', normalize: true} (or 'cls') within 1e-5 per component (proved in
// reference_test.go on random-weight folders from bertgen). That includes
// transformers.js's truncation, which cuts the encoded ids, [CLS] … [SEP],
// to model_max_length and so drops the final [SEP] of a long text (Python's
// tokenizers would keep it).
package embed

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/tokenizer"
	"github.com/transcept/transcept/shared/lecture"
)

// ModelFile is the model inside a folder, as Optimum names it.
const ModelFile = "onnx/model.onnx"

// DefaultBatchSize is how many texts one session run takes when
// Options.BatchSize is 0.
const DefaultBatchSize = 32

// Pooling is how token vectors become one sentence vector.
type Pooling string

const (
	// PoolMean averages the token vectors over the attention mask
	// (all-MiniLM-L6-v2 and most sentence-transformers models).
	PoolMean Pooling = "mean"
	// PoolCLS takes the first ([CLS]) token's vector (the bge models).
	PoolCLS Pooling = "cls"
)

// Options configure an Embedder.
type Options struct {
	// Pooling is PoolMean ("" too) or PoolCLS; vectors are L2-normalised
	// either way.
	Pooling Pooling
	// IntraOpThreads and InterOpThreads are ONNX Runtime's thread counts;
	// 0 leaves its defaults.
	IntraOpThreads, InterOpThreads int
	// Optimization is the graph optimisation level (default: all).
	Optimization ort.Optimization
	// CUDA asks for the CUDA execution provider (falling back to the CPU).
	CUDA       bool
	CUDADevice int
	// MaxLength is the most tokens a text keeps, [CLS] and [SEP] included;
	// 0 means tokenizer_config.json's model_max_length, capped at
	// config.json's max_position_embeddings (as large a value is refused).
	MaxLength int
	// BatchSize is the most texts per session run; 0 means DefaultBatchSize.
	// Texts are sorted by length first, so each batch pads little.
	BatchSize int
	// Logger receives the session's provider decision; nil is slog.Default().
	Logger *slog.Logger
}

// Embedder is a loaded embedding model. It is safe for concurrent use.
type Embedder struct {
	dir       string
	tok       *tokenizer.Tokenizer
	sess      *ort.Session
	dim       int
	maxLen    int
	batch     int
	pooling   Pooling
	typeIDs   bool // the model takes token_type_ids
	output    string
	id        string
	padID     int64
	modelPath string
}

// modelConfig is what config.json says that embedding needs.
type modelConfig struct {
	ModelType    string `json:"model_type"`
	HiddenSize   int    `json:"hidden_size"`
	MaxPositions int    `json:"max_position_embeddings"`
}

// Load opens the model folder dir. Its files are checked before ONNX Runtime
// loads anything: a missing folder or file is lecture.ENOTFOUND, a file that
// does not fit (wrong inputs or outputs, bad JSON) lecture.EINVALID, each
// naming the file.
func Load(dir string, o Options) (*Embedder, error) {
	pooling := cmp.Or(o.Pooling, PoolMean)
	if pooling != PoolMean && pooling != PoolCLS {
		return nil, lecture.Errorf(lecture.EINVALID, "embedding pooling %q: want mean or cls", o.Pooling)
	}
	if o.MaxLength < 0 || o.BatchSize < 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "embedding options: max length %d and batch size %d must be ≥ 0", o.MaxLength, o.BatchSize)
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, lecture.Errorf(lecture.ENOTFOUND, "embedding model folder %s does not exist", dir)
	} else if !st.IsDir() {
		return nil, lecture.Errorf(lecture.EINVALID, "embedding model folder %s is a file, not a folder", dir)
	}
	cfgPath := filepath.Join(dir, "config.json")
	cfgRaw, err := readFile(cfgPath, "model config")
	if err != nil {
		return nil, err
	}
	var cfg modelConfig
	if err := json.Unmarshal(cfgRaw, &cfg); err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "model config %s is not valid JSON", cfgPath)
	}
	modelMax, err := readModelMaxLength(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return nil, err
	}

	path := filepath.Join(dir, ModelFile)
	info, err := ort.Inspect(path)
	if err != nil {
		return nil, err
	}
	output := "last_hidden_state"
	if _, ok := info.Output(output); !ok {
		if _, ok := info.Output("token_embeddings"); ok {
			output = "token_embeddings" // sentence-transformers' own exports
		}
	}
	want := ort.Expect{
		Inputs:  map[string]onnxpb.DataType{"input_ids": onnxpb.Int64, "attention_mask": onnxpb.Int64},
		Outputs: map[string]onnxpb.DataType{output: onnxpb.Float},
	}
	_, typeIDs := info.Input("token_type_ids")
	if typeIDs {
		want.Inputs["token_type_ids"] = onnxpb.Int64
	}
	if err := want.Check(info); err != nil {
		return nil, err
	}
	var extra []string
	for _, in := range info.RequiredInputs() {
		if _, ok := want.Inputs[in.Name]; !ok {
			extra = append(extra, in.Name)
		}
	}
	if len(extra) > 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "model file %s needs inputs %v that a sentence-embedding model does not have (is it a decoder or seq2seq model?)", path, extra)
	}
	out, _ := info.Output(output)
	dim := cfg.HiddenSize
	if len(out.Shape) == 3 && out.Shape[2].Value > 0 {
		if dim != 0 && int64(dim) != out.Shape[2].Value {
			return nil, lecture.Errorf(lecture.EINVALID, "model file %s gives %s of width %d but %s says hidden_size %d",
				path, output, out.Shape[2].Value, cfgPath, dim)
		}
		dim = int(out.Shape[2].Value)
	}
	if dim <= 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "model config %s has no hidden_size and %s does not declare %s's width", cfgPath, path, output)
	}

	maxLen := modelMax
	if cfg.MaxPositions > 0 && (maxLen <= 0 || maxLen > cfg.MaxPositions) {
		maxLen = cfg.MaxPositions
	}
	if o.MaxLength > 0 {
		if cfg.MaxPositions > 0 && o.MaxLength > cfg.MaxPositions {
			return nil, lecture.Errorf(lecture.EINVALID, "embedding max length %d exceeds the %d positions of %s", o.MaxLength, cfg.MaxPositions, cfgPath)
		}
		maxLen = o.MaxLength
	}
	if maxLen <= 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "%s has no model_max_length and %s no max_position_embeddings: set a max length", filepath.Join(dir, "tokenizer_config.json"), cfgPath)
	}
	if maxLen < 2 {
		return nil, lecture.Errorf(lecture.EINVALID, "embedding max length %d leaves no room for text", maxLen)
	}

	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	padID := int64(0)
	if p := tok.Special().PAD; p != tokenizer.NoToken {
		padID = int64(p)
	}

	id, err := identity(dir, path, cfgRaw)
	if err != nil {
		return nil, err
	}
	inputs := []string{"input_ids", "attention_mask"}
	if typeIDs {
		inputs = append(inputs, "token_type_ids")
	}
	sess, err := ort.NewSession(path, ort.Options{
		IntraOpThreads: o.IntraOpThreads, InterOpThreads: o.InterOpThreads, Optimization: o.Optimization,
		CUDA: o.CUDA, CUDADevice: o.CUDADevice, InputNames: inputs, OutputNames: []string{output}, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Embedder{dir: dir, tok: tok, sess: sess, dim: dim, maxLen: maxLen, batch: cmp.Or(o.BatchSize, DefaultBatchSize),
		pooling: pooling, typeIDs: typeIDs, output: output, id: id, padID: padID, modelPath: path}, nil
}

func readFile(path, what string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, lecture.Errorf(lecture.ENOTFOUND, "%s %s does not exist", what, path)
	} else if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "%s %s cannot be read", what, path)
	}
	return b, nil
}

// readModelMaxLength is tokenizer_config.json's model_max_length (0 when
// absent, or when it is the "no limit" placeholder 1e30 some files carry).
func readModelMaxLength(path string) (int, error) {
	raw, err := readFile(path, "tokenizer config")
	if err != nil {
		return 0, err
	}
	var c struct {
		ModelMaxLength *float64 `json:"model_max_length"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return 0, lecture.Wrap(lecture.EINVALID, err, "tokenizer config %s is not valid JSON", path)
	}
	if c.ModelMaxLength == nil || *c.ModelMaxLength <= 0 || *c.ModelMaxLength > 1e9 {
		return 0, nil
	}
	return int(*c.ModelMaxLength), nil
}

// identity is "<folder name>@<12 hex digits>": a hash of config.json, the
// tokenizer files and the .onnx file's size and modification time, so
// stored vectors can be told apart from another model's (or a re-export's)
// without reading the weights.
func identity(dir, path string, cfg []byte) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", lecture.Wrap(lecture.EINVALID, err, "model file %s cannot be read", path)
	}
	h := sha256.New()
	h.Write(cfg)
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		fmt.Fprintf(h, "\x00%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	fmt.Fprintf(h, "\x00%d\x00%d", st.Size(), st.ModTime().UnixNano())
	name := filepath.Base(filepath.Clean(dir))
	if abs, err := filepath.Abs(dir); err == nil {
		name = filepath.Base(abs)
	}
	return name + "@" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// Dim is the embedding width (the model's hidden size).
func (e *Embedder) Dim() int { return e.dim }

// Model identifies the model folder: its name and a hash of its config,
// tokenizer and .onnx size and time (see identity). Vectors made under one
// Model value are comparable with each other only.
func (e *Embedder) Model() string { return e.id }

// Dir is the model folder.
func (e *Embedder) Dir() string { return e.dir }

// MaxLength is the most tokens a text keeps, special tokens included.
func (e *Embedder) MaxLength() int { return e.maxLen }

// Tokenizer is the model's tokenizer (a text.TokenCounter, for chunking
// passages so they fit MaxLength()−2 tokens).
func (e *Embedder) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// Provider is the execution provider the model runs on.
func (e *Embedder) Provider() ort.Provider { return e.sess.Provider() }

// Close frees the ONNX Runtime session.
func (e *Embedder) Close() error {
	if e == nil {
		return nil
	}
	return e.sess.Close()
}

// Encode returns the ids the model gets for text: the tokenizer's encoding
// with its special tokens, cut to MaxLength() as transformers.js does.
func (e *Embedder) Encode(text string) []int {
	ids := e.tok.Encode(text)
	if len(ids) > e.maxLen {
		ids = ids[:e.maxLen]
	}
	return ids
}

// Embed returns one unit-length vector of Dim() components per text, in
// order. No texts gives no vectors; a text the tokenizer turns into no ids at
// all (possible only without special tokens) gives a zero vector. ctx is checked between batches.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		return out, nil
	}
	enc := make([][]int, len(texts))
	order := make([]int, len(texts))
	order = order[:0]
	for i, t := range texts {
		enc[i] = e.Encode(t)
		if len(enc[i]) == 0 { // only a tokenizer without special tokens does this
			out[i] = make([]float32, e.dim)
			continue
		}
		order = append(order, i)
	}
	// Longest first: similar lengths share a batch, and the first batch
	// shows the peak memory.
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(enc[b]), len(enc[a])) })
	for start := 0; start < len(order); start += e.batch {
		if err := ctx.Err(); err != nil {
			return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "embedding %d texts stopped", len(texts))
		}
		rows := order[start:min(start+e.batch, len(order))]
		batch := make([][]int, len(rows))
		for i, r := range rows {
			batch[i] = enc[r]
		}
		vecs, err := e.run(batch)
		if err != nil {
			return nil, err
		}
		for i, r := range rows {
			out[r] = vecs[i]
		}
	}
	return out, nil
}

// run embeds one batch of encoded texts (padded on the right to the longest).
func (e *Embedder) run(batch [][]int) ([][]float32, error) {
	n, seq := len(batch), 0
	for _, ids := range batch {
		seq = max(seq, len(ids))
	}
	ids := make([]int64, n*seq)
	mask := make([]int64, n*seq)
	for i, row := range batch {
		for j := range seq {
			if j < len(row) {
				ids[i*seq+j], mask[i*seq+j] = int64(row[j]), 1
			} else {
				ids[i*seq+j] = e.padID
			}
		}
	}
	shape := []int64{int64(n), int64(seq)}
	var inputs []ort.Value
	defer func() {
		for i := range inputs {
			inputs[i].Destroy()
		}
	}()
	for _, data := range [][]int64{ids, mask, make([]int64, n*seq)}[:len(e.sess.InputNames())] {
		v, err := ort.NewTensor(shape, data)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, v)
	}
	outputs := make([]ort.Value, 1)
	if err := e.sess.Run(inputs, outputs); err != nil {
		return nil, err
	}
	defer outputs[0].Destroy()
	if s := outputs[0].Shape(); len(s) != 3 || s[0] != int64(n) || s[1] != int64(seq) || s[2] != int64(e.dim) {
		return nil, lecture.Errorf(lecture.EINTERNAL, "model %s gave %s of shape %v, want [%d %d %d]", e.modelPath, e.output, s, n, seq, e.dim)
	}
	hidden, err := ort.Data[float32](outputs[0])
	if err != nil {
		return nil, err
	}
	if e.pooling == PoolCLS {
		return CLSPoolNormalize(hidden, n, seq, e.dim), nil
	}
	return MeanPoolNormalize(hidden, mask, n, seq, e.dim), nil
}

// CLSPoolNormalize takes each row's first token vector from hidden ([batch,
// seq, dim]) and scales it to unit length, as transformers.js's pooling
// 'cls' with normalize does.
func CLSPoolNormalize(hidden []float32, batch, seq, dim int) [][]float32 {
	out := make([][]float32, batch)
	for b := range batch {
		v := slices.Clone(hidden[b*seq*dim : b*seq*dim+dim])
		normalize(v)
		out[b] = v
	}
	return out
}

// normalize scales v to unit length in place (a zero vector stays zero).
func normalize(v []float32) {
	norm := 0.0
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if norm = math.Sqrt(norm); norm > 0 {
		for k := range v {
			v[k] = float32(float64(v[k]) / norm)
		}
	}
}

// MeanPoolNormalize averages hidden ([batch, seq, dim], row-major) over the
// positions where mask ([batch, seq]) is 1, then scales each average to unit
// length, as transformers.js's mean_pooling and normalize(2, -1) do (sums in
// float64, the mean rounded to float32 before the norm). A row with no
// attended position, or an all-zero mean, gives a zero vector.
func MeanPoolNormalize(hidden []float32, mask []int64, batch, seq, dim int) [][]float32 {
	out := make([][]float32, batch)
	sum := make([]float64, dim)
	for b := range batch {
		clear(sum)
		count := 0.0
		for s := range seq {
			m := float64(mask[b*seq+s])
			if m == 0 {
				continue
			}
			count += m
			row := hidden[(b*seq+s)*dim : (b*seq+s+1)*dim]
			for k, v := range row {
				sum[k] += float64(v) * m
			}
		}
		v := make([]float32, dim)
		out[b] = v
		if count == 0 {
			continue
		}
		for k := range v {
			v[k] = float32(sum[k] / count)
		}
		normalize(v)
	}
	return out
}
