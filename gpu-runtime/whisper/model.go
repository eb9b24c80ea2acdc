package whisper

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/transcept/transcept/gpu-runtime/model"
	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/tokenizer"
	"github.com/transcept/transcept/shared/lecture"
)

// Config is the part of a Whisper folder's config.json the runtime needs.
type Config struct {
	ModelType          string `json:"model_type"`
	VocabSize          int    `json:"vocab_size"`
	DModel             int    `json:"d_model"`
	NumMelBins         int    `json:"num_mel_bins"`
	DecoderLayers      int    `json:"decoder_layers"`
	DecoderHeads       int    `json:"decoder_attention_heads"`
	MaxSourcePositions int    `json:"max_source_positions"`
	MaxTargetPositions int    `json:"max_target_positions"`
}

// Generation is generation_config.json's Whisper fields.
type Generation struct {
	DecoderStartTokenID int             `json:"decoder_start_token_id"`
	EOS                 json.RawMessage `json:"eos_token_id"`
	NoTimestampsTokenID int             `json:"no_timestamps_token_id"`
	LangToID            map[string]int  `json:"lang_to_id"`
	TaskToID            map[string]int  `json:"task_to_id"`
	IsMultilingual      bool            `json:"is_multilingual"`
	SuppressTokens      []int           `json:"suppress_tokens"`
	BeginSuppressTokens []int           `json:"begin_suppress_tokens"`
	MaxLength           int             `json:"max_length"`

	EOSTokenID int `json:"-"` // the first of eos_token_id
}

// Model is a loaded Whisper folder in Optimum's layout: onnx/encoder_model.onnx
// (input_features → last_hidden_state) and onnx/decoder_model_merged.onnx.
type Model struct {
	Dir        string
	Config     Config
	Generation Generation
	Tokenizer  *tokenizer.Tokenizer
	Features   *FeatureExtractor
	Encoder    *ort.Session
	Decoder    *ort.Session
	// TimestampBegin is <|0.00|>'s id (no_timestamps_token_id + 1).
	TimestampBegin int
	Heads, HeadDim int
}

// checkFolder reads the configs, tokenizer and .onnx signatures.
func checkFolder(dir string) (*Model, error) {
	m := &Model{Dir: dir}
	if _, err := model.ReadJSON(filepath.Join(dir, "config.json"), &m.Config, false); err != nil {
		return nil, err
	}
	if m.Config.ModelType != "whisper" {
		return nil, lecture.Errorf(lecture.EINVALID, "%s: model_type %q is not whisper", filepath.Join(dir, "config.json"), m.Config.ModelType)
	}
	g := &m.Generation
	if _, err := model.ReadJSON(filepath.Join(dir, "generation_config.json"), g, false); err != nil {
		return nil, err
	}
	var one int
	var list []int
	switch {
	case json.Unmarshal(g.EOS, &one) == nil:
		g.EOSTokenID = one
	case json.Unmarshal(g.EOS, &list) == nil && len(list) > 0:
		g.EOSTokenID = list[0]
	default:
		return nil, lecture.Errorf(lecture.EINVALID, "%s: eos_token_id is missing", filepath.Join(dir, "generation_config.json"))
	}
	if g.NoTimestampsTokenID <= 0 || g.DecoderStartTokenID <= 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "%s: no_timestamps_token_id or decoder_start_token_id is missing", filepath.Join(dir, "generation_config.json"))
	}
	if g.MaxLength == 0 {
		g.MaxLength = 448
	}
	m.TimestampBegin = g.NoTimestampsTokenID + 1
	c := m.Config
	if c.DecoderLayers <= 0 || c.DecoderHeads <= 0 || c.DModel%c.DecoderHeads != 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "%s: decoder_layers, decoder_attention_heads or d_model is missing", filepath.Join(dir, "config.json"))
	}
	m.Heads, m.HeadDim = c.DecoderHeads, c.DModel/c.DecoderHeads
	if c.MaxSourcePositions == 0 {
		m.Config.MaxSourcePositions = 1500
	}
	var err error
	if m.Features, err = NewFeatureExtractor(c.NumMelBins); err != nil {
		return nil, err
	}
	if m.Tokenizer, err = tokenizer.Load(dir); err != nil {
		return nil, err
	}
	enc, err := ort.Inspect(filepath.Join(dir, "onnx", "encoder_model.onnx"))
	if err != nil {
		return nil, err
	}
	if err := (ort.Expect{Inputs: map[string]onnxpb.DataType{"input_features": onnxpb.Float},
		Outputs: map[string]onnxpb.DataType{"last_hidden_state": onnxpb.Float}}).Check(enc); err != nil {
		return nil, err
	}
	dec, err := ort.Inspect(filepath.Join(dir, "onnx", "decoder_model_merged.onnx"))
	if err != nil {
		return nil, err
	}
	want := ort.Expect{
		Inputs: map[string]onnxpb.DataType{"input_ids": onnxpb.Int64, "encoder_hidden_states": onnxpb.Float,
			"use_cache_branch": onnxpb.Bool},
		Outputs: map[string]onnxpb.DataType{"logits": onnxpb.Float},
	}
	for i := range c.DecoderLayers {
		for k := range 4 {
			want.Inputs[cacheNames("past_key_values", i)[k]] = onnxpb.Float
			want.Outputs[cacheNames("present", i)[k]] = onnxpb.Float
		}
	}
	if err := want.Check(dec); err != nil {
		return nil, err
	}
	return m, nil
}

func cacheNames(prefix string, i int) [4]string {
	p := fmt.Sprintf("%s.%d.", prefix, i)
	return [4]string{p + "decoder.key", p + "decoder.value", p + "encoder.key", p + "encoder.value"}
}

// LoadModel checks a Whisper folder and builds its two sessions.
func LoadModel(dir string, o ort.Options) (*Model, error) {
	m, err := checkFolder(dir)
	if err != nil {
		return nil, err
	}
	o.InputNames, o.OutputNames = nil, nil
	if m.Encoder, err = ort.NewSession(filepath.Join(dir, "onnx", "encoder_model.onnx"), o); err == nil {
		m.Decoder, err = ort.NewSession(filepath.Join(dir, "onnx", "decoder_model_merged.onnx"), o)
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close frees the sessions.
func (m *Model) Close() error {
	return errors.Join(m.Encoder.Close(), m.Decoder.Close())
}
