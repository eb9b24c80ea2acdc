package optimum

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/tokenizer"
	"github.com/transcept/transcept/shared/lecture"
)

// Seq2SeqFiles is a checked encoder-decoder folder: which files serve and
// the shapes read from them, before any session is built.
type Seq2SeqFiles struct {
	Dir        string
	Config     Config
	Generation Generation
	Encoder    string // onnx/encoder_model.onnx
	// Decoder is onnx/decoder_model_merged.onnx when Merged, else
	// onnx/decoder_model.onnx with DecoderWithPast beside it.
	Decoder         string
	DecoderWithPast string
	Merged          bool
	Layers          int // decoder layers (cache entries per kind)
	Heads, HeadDim  int // of the cache tensors
	Vocab           int // logits width
}

// CacheNames are the names of the cache inputs (prefix "past_key_values")
// or outputs (prefix "present") for decoder layer i, in the order
// decoder.key, decoder.value, encoder.key, encoder.value.
func CacheNames(prefix string, i int) [4]string {
	p := fmt.Sprintf("%s.%d.", prefix, i)
	return [4]string{p + "decoder.key", p + "decoder.value", p + "encoder.key", p + "encoder.value"}
}

// expectDecoder is what a decoder graph must declare: past says it reads the
// cache, encoderCache whether present.*.encoder.* is an output, merged that
// it takes use_cache_branch.
func expectDecoder(layers int, past, encStates, encCache, merged bool) ort.Expect {
	e := ort.Expect{
		Inputs:  map[string]onnxpb.DataType{"input_ids": onnxpb.Int64, "encoder_attention_mask": onnxpb.Int64},
		Outputs: map[string]onnxpb.DataType{"logits": onnxpb.Float},
	}
	if encStates {
		e.Inputs["encoder_hidden_states"] = onnxpb.Float
	}
	if merged {
		e.Inputs["use_cache_branch"] = onnxpb.Bool
	}
	for i := range layers {
		in, out := CacheNames("past_key_values", i), CacheNames("present", i)
		for k := range 4 {
			if past {
				e.Inputs[in[k]] = onnxpb.Float
			}
			if k < 2 || encCache {
				e.Outputs[out[k]] = onnxpb.Float
			}
		}
	}
	return e
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

// CheckSeq2Seq reads and checks an Optimum encoder-decoder folder without
// ONNX Runtime: configs, the tokenizer, the .onnx files' inputs and outputs,
// and that the tokenizer's ids fit the model's vocabulary.
func CheckSeq2Seq(dir string) (*Seq2SeqFiles, *tokenizer.Tokenizer, error) {
	return CheckSeq2SeqDType(dir, "")
}

// CheckSeq2SeqDType is CheckSeq2Seq for the files of one dtype (fp32, q8,
// q4, fp16: see DTypeFile); "" is fp32.
func CheckSeq2SeqDType(dir, dtype string) (*Seq2SeqFiles, *tokenizer.Tokenizer, error) {
	name := func(base string) string {
		p, _ := DTypeFile(filepath.Join(dir, "onnx", base), dtype)
		return p
	}
	if _, err := DTypeSuffix(dtype); err != nil {
		return nil, nil, err
	}
	c, g, err := readConfigs(dir)
	if err != nil {
		return nil, nil, err
	}
	cfgPath := filepath.Join(dir, "config.json")
	if !c.IsEncoderDecoder {
		return nil, nil, lecture.Errorf(lecture.EINVALID, "%s: model_type %q is not an encoder-decoder (is_encoder_decoder is not true)", cfgPath, c.ModelType)
	}
	if c.DecoderLayers <= 0 {
		return nil, nil, lecture.Errorf(lecture.EINVALID, "%s: decoder_layers is missing", cfgPath)
	}
	f := &Seq2SeqFiles{Dir: dir, Config: c, Generation: g, Layers: c.DecoderLayers,
		Encoder: name("encoder_model.onnx")}
	if dtype != "" && dtype != "fp32" && !exists(f.Encoder) {
		return nil, nil, missingDType(dir, dtype, f.Encoder)
	}
	enc, err := ort.Inspect(f.Encoder)
	if err != nil {
		return nil, nil, err
	}
	encWant := ort.Expect{
		Inputs:  map[string]onnxpb.DataType{"input_ids": onnxpb.Int64, "attention_mask": onnxpb.Int64},
		Outputs: map[string]onnxpb.DataType{"last_hidden_state": onnxpb.Float},
	}
	if err := encWant.Check(enc); err != nil {
		return nil, nil, err
	}

	merged := name("decoder_model_merged.onnx")
	plain := name("decoder_model.onnx")
	withPast := name("decoder_with_past_model.onnx")
	if dtype != "" && dtype != "fp32" && !exists(merged) && !exists(plain) {
		return nil, nil, missingDType(dir, dtype, merged)
	}
	var dec *onnxpb.Info
	switch {
	case exists(merged):
		f.Decoder, f.Merged = merged, true
		if dec, err = ort.Inspect(merged); err != nil {
			return nil, nil, err
		}
		if err := expectDecoder(f.Layers, true, true, true, true).Check(dec); err != nil {
			return nil, nil, err
		}
	case exists(plain) || exists(withPast):
		f.Decoder, f.DecoderWithPast = plain, withPast
		if dec, err = ort.Inspect(plain); err != nil {
			return nil, nil, err
		}
		if err := expectDecoder(f.Layers, false, true, true, false).Check(dec); err != nil {
			return nil, nil, err
		}
		wp, err := ort.Inspect(withPast)
		if err != nil {
			return nil, nil, err
		}
		_, encStates := wp.Input("encoder_hidden_states")
		if err := expectDecoder(f.Layers, true, encStates, false, false).Check(wp); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, lecture.Errorf(lecture.ENOTFOUND,
			"model folder %s has no decoder: want onnx/decoder_model_merged.onnx, or onnx/decoder_model.onnx with onnx/decoder_with_past_model.onnx", dir)
	}
	if err := f.shapes(dec); err != nil {
		return nil, nil, err
	}

	tok, err := LoadTokenizer(dir, f.Vocab, f.Decoder)
	if err != nil {
		return nil, nil, err
	}
	return f, tok, nil
}

// shapes reads vocabulary, heads and head size from the decoder's declared
// shapes (falling back to config.json) and checks they agree.
func (f *Seq2SeqFiles) shapes(dec *onnxpb.Info) error {
	cfg := filepath.Join(f.Dir, "config.json")
	f.Vocab = f.Config.VocabSize
	if lg, _ := dec.Output("logits"); len(lg.Shape) == 3 && lg.Shape[2].Value > 0 {
		v := int(lg.Shape[2].Value)
		if f.Vocab > 0 && v != f.Vocab {
			return lecture.Errorf(lecture.EINVALID, "model %s has logits over %d tokens but %s says vocab_size %d", f.Decoder, v, cfg, f.Vocab)
		}
		f.Vocab = v
	}
	if f.Vocab <= 0 {
		return lecture.Errorf(lecture.EINVALID, "%s: vocab_size is missing", cfg)
	}
	if f.Config.DecoderHeads > 0 && f.Config.DModel > 0 {
		f.Heads, f.HeadDim = f.Config.DecoderHeads, f.Config.DModel/f.Config.DecoderHeads
	}
	if pk, ok := dec.Input(CacheNames("past_key_values", 0)[0]); ok && len(pk.Shape) == 4 && pk.Shape[1].Value > 0 && pk.Shape[3].Value > 0 {
		h, d := int(pk.Shape[1].Value), int(pk.Shape[3].Value)
		if f.Heads > 0 && (h != f.Heads || d != f.HeadDim) {
			return lecture.Errorf(lecture.EINVALID, "model %s has %d heads of %d but %s says %d of %d", f.Decoder, h, d, cfg, f.Heads, f.HeadDim)
		}
		f.Heads, f.HeadDim = h, d
	}
	if f.Heads <= 0 {
		return lecture.Errorf(lecture.EINVALID, "%s: decoder_attention_heads and d_model are missing", cfg)
	}
	return nil
}

// Seq2Seq is a loaded encoder-decoder model.
type Seq2Seq struct {
	*Seq2SeqFiles
	Tokenizer *tokenizer.Tokenizer
	Encoder   *ort.Session
	// Decoder is the merged decoder, or the no-past half of the pair.
	Decoder         *ort.Session
	DecoderWithPast *ort.Session // nil when Merged
}

// LoadSeq2Seq checks the folder (CheckSeq2Seq) and builds its sessions,
// from the files of o.DType.
func LoadSeq2Seq(dir string, o ort.Options) (*Seq2Seq, error) {
	return LoadSeq2SeqDType(dir, o.DType, o)
}

// LoadSeq2SeqDType is LoadSeq2Seq for the files of one dtype ("" is fp32).
func LoadSeq2SeqDType(dir, dtype string, o ort.Options) (*Seq2Seq, error) {
	f, tok, err := CheckSeq2SeqDType(dir, dtype)
	if err != nil {
		return nil, err
	}
	o.InputNames, o.OutputNames = nil, nil
	m := &Seq2Seq{Seq2SeqFiles: f, Tokenizer: tok}
	// The sessions are built at once: ONNX Runtime spends most of a load on
	// one thread per session (parsing, graph rewrites, packing weights).
	jobs := []struct {
		path string
		dst  **ort.Session
	}{{f.Encoder, &m.Encoder}, {f.Decoder, &m.Decoder}}
	if !f.Merged {
		jobs = append(jobs, struct {
			path string
			dst  **ort.Session
		}{f.DecoderWithPast, &m.DecoderWithPast})
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { *j.dst, errs[i] = ort.NewSession(j.path, o) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// Close frees the sessions.
func (m *Seq2Seq) Close() error {
	return errors.Join(m.Encoder.Close(), m.Decoder.Close(), m.DecoderWithPast.Close())
}
