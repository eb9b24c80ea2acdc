package causal

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/transcept/transcept/gpu-runtime/model"
	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/tokenizer"
	"github.com/transcept/transcept/shared/lecture"
)

// Files is a checked decoder-only folder: what was read from its configs
// and the declared inputs and outputs of onnx/model.onnx, before any
// session is built.
type Files struct {
	Dir        string
	Config     Config
	Generation Generation
	Model      string // onnx/model.onnx
	Layers     int    // cache entries: past_key_values.{0..Layers-1}.key/value
	KVHeads    int    // of the cache tensors
	HeadDim    int
	Vocab      int // logits width
	// PositionIDs says the model takes position_ids (most exports do).
	PositionIDs bool
}

// CacheName is past_key_values.{i}.key or .value (prefix "past_key_values"),
// or present.{i}.key / .value (prefix "present").
func CacheName(prefix string, i int, value bool) string {
	if value {
		return fmt.Sprintf("%s.%d.value", prefix, i)
	}
	return fmt.Sprintf("%s.%d.key", prefix, i)
}

// Check reads and checks a decoder-only folder without ONNX Runtime:
// config.json (and generation_config.json), onnx/model.onnx's inputs and
// outputs, the cache shapes against the config, and that the tokenizer
// fits the vocabulary. Every problem is a lecture error naming the file.
func Check(dir string) (*Files, *tokenizer.Tokenizer, error) {
	c, g, err := readConfigs(dir)
	if err != nil {
		return nil, nil, err
	}
	cfgPath := filepath.Join(dir, "config.json")
	if c.IsEncDec {
		return nil, nil, lecture.Errorf(lecture.EINVALID, "%s: model_type %q is an encoder-decoder (is_encoder_decoder is true); this runtime takes decoder-only models", cfgPath, c.ModelType)
	}
	if c.Layers <= 0 {
		return nil, nil, lecture.Errorf(lecture.EINVALID, "%s: num_hidden_layers is missing", cfgPath)
	}
	f := &Files{Dir: dir, Config: c, Generation: g, Layers: c.Layers, KVHeads: c.KVHeads, HeadDim: c.HeadDim,
		Vocab: c.VocabSize, Model: filepath.Join(dir, "onnx", "model.onnx")}
	info, err := ort.Inspect(f.Model)
	if err != nil {
		return nil, nil, err
	}
	if err := info.CheckExternal(); err != nil { // onnx/model.onnx_data beside it
		code := lecture.EINVALID
		if errors.Is(err, fs.ErrNotExist) {
			code = lecture.ENOTFOUND
		}
		return nil, nil, lecture.Wrap(code, err, "model folder %s", dir)
	}
	want := ort.Expect{
		Inputs:  map[string]onnxpb.DataType{"input_ids": onnxpb.Int64, "attention_mask": onnxpb.Int64},
		Outputs: map[string]onnxpb.DataType{"logits": onnxpb.Float},
	}
	for i := range f.Layers {
		for _, v := range []bool{false, true} {
			want.Inputs[CacheName("past_key_values", i, v)] = onnxpb.Float
			want.Outputs[CacheName("present", i, v)] = onnxpb.Float
		}
	}
	if err := want.Check(info); err != nil {
		return nil, nil, err
	}
	if _, ok := info.Input(CacheName("past_key_values", f.Layers, false)); ok {
		return nil, nil, lecture.Errorf(lecture.EINVALID, "model file %s has more cache layers than the %d of %s", f.Model, f.Layers, cfgPath)
	}
	if p, ok := info.Input("position_ids"); ok {
		if p.ElemType != onnxpb.Int64 {
			return nil, nil, lecture.Errorf(lecture.EINVALID, "model file %s: input \"position_ids\" is %s, want int64", f.Model, p.ElemType)
		}
		f.PositionIDs = true
	}
	known := []string{"input_ids", "attention_mask", "position_ids"}
	for _, in := range info.RequiredInputs() {
		if _, ok := want.Inputs[in.Name]; !ok && !slices.Contains(known, in.Name) {
			return nil, nil, lecture.Errorf(lecture.EINVALID, "model file %s takes input %q, which this runtime does not feed (it feeds input_ids, attention_mask, position_ids and past_key_values.*)", f.Model, in.Name)
		}
	}
	if err := f.shapes(info, cfgPath); err != nil {
		return nil, nil, err
	}
	tok, err := model.LoadTokenizer(dir, f.Vocab, f.Model)
	if err != nil {
		return nil, nil, err
	}
	return f, tok, nil
}

// shapes takes vocabulary, key/value heads and head size from the declared
// shapes where they are numbers, and checks them against config.json.
func (f *Files) shapes(info *onnxpb.Info, cfg string) error {
	if lg, _ := info.Output("logits"); len(lg.Shape) == 3 && lg.Shape[2].Value > 0 {
		v := int(lg.Shape[2].Value)
		if f.Vocab > 0 && v != f.Vocab {
			return lecture.Errorf(lecture.EINVALID, "model file %s has logits over %d tokens but %s says vocab_size %d", f.Model, v, cfg, f.Vocab)
		}
		f.Vocab = v
	}
	if f.Vocab <= 0 {
		return lecture.Errorf(lecture.EINVALID, "%s: vocab_size is missing", cfg)
	}
	pk, _ := info.Input(CacheName("past_key_values", 0, false))
	if len(pk.Shape) != 4 {
		return lecture.Errorf(lecture.EINVALID, "model file %s: cache input %s has shape %v, want [batch, kv_heads, past_len, head_dim]", f.Model, pk.Name, pk.Shape)
	}
	if h := int(pk.Shape[1].Value); h > 0 {
		if f.KVHeads > 0 && h != f.KVHeads {
			return lecture.Errorf(lecture.EINVALID, "model file %s has %d key/value heads but %s says %d", f.Model, h, cfg, f.KVHeads)
		}
		f.KVHeads = h
	}
	if d := int(pk.Shape[3].Value); d > 0 {
		if f.HeadDim > 0 && d != f.HeadDim {
			return lecture.Errorf(lecture.EINVALID, "model file %s has heads of %d but %s says head_dim %d", f.Model, d, cfg, f.HeadDim)
		}
		f.HeadDim = d
	}
	if f.KVHeads <= 0 || f.HeadDim <= 0 {
		return lecture.Errorf(lecture.EINVALID, "%s: num_key_value_heads / num_attention_heads and head_dim / hidden_size are missing", cfg)
	}
	return nil
}

// Model is a loaded decoder-only model. It is safe for concurrent Generate
// calls.
type Model struct {
	*Files
	Tokenizer *tokenizer.Tokenizer
	Session   *ort.Session
}

// Load checks the folder (Check) and builds the session.
func Load(dir string, o ort.Options) (*Model, error) {
	f, tok, err := Check(dir)
	if err != nil {
		return nil, err
	}
	in := []string{"input_ids", "attention_mask"}
	if f.PositionIDs {
		in = append(in, "position_ids")
	}
	out := []string{"logits"}
	for i := range f.Layers {
		for _, v := range []bool{false, true} {
			in = append(in, CacheName("past_key_values", i, v))
			out = append(out, CacheName("present", i, v))
		}
	}
	o.InputNames, o.OutputNames = in, out
	s, err := ort.NewSession(f.Model, o)
	if err != nil {
		return nil, err
	}
	return &Model{Files: f, Tokenizer: tok, Session: s}, nil
}

// Close frees the session.
func (m *Model) Close() error { return m.Session.Close() }
