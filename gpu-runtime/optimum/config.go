// Package optimum reads a Hugging Face Optimum ONNX export folder
// (config.json, generation_config.json, tokenizer.json, onnx/*.onnx) and
// checks it before ONNX Runtime spends seconds building sessions: every
// missing file, corrupt .onnx, unexpected input or output name and
// tokenizer/model vocabulary mismatch is a lecture error that names the file
// and what is wrong.
package optimum

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"

	"github.com/transcept/transcept/gpu-runtime/tokenizer"
	"github.com/transcept/transcept/shared/lecture"
)

// Config is the part of config.json the runtime needs.
type Config struct {
	ModelType        string `json:"model_type"`
	IsEncoderDecoder bool   `json:"is_encoder_decoder"`
	VocabSize        int    `json:"vocab_size"`
	DModel           int    `json:"d_model"`
	EncoderLayers    int    `json:"encoder_layers"`
	DecoderLayers    int    `json:"decoder_layers"`
	DecoderHeads     int    `json:"decoder_attention_heads"`
	MaxPositions     int    `json:"max_position_embeddings"`
}

// Generation is the generation_config.json semantics, with config.json's
// fields as defaults (as transformers.js and Hugging Face read them). A
// token id of -1 means none.
type Generation struct {
	DecoderStartTokenID int
	BOSTokenID          int
	EOSTokenIDs         []int
	PadTokenID          int
	ForcedBOSTokenID    int
	ForcedEOSTokenID    int
	MaxLength           int // counts the decoder start token, as in Hugging Face
	MinLength           int
	NumBeams            int
}

// Argmax is the greedy choice over a row of logits: the first index of the
// largest value. Every generator (seq2seq, causal, whisper) picks with it.
func Argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// IsEOS reports whether id ends a sequence.
func (g *Generation) IsEOS(id int) bool { return slices.Contains(g.EOSTokenIDs, id) }

// genJSON reads the generation fields of config.json or
// generation_config.json; absent fields stay nil.
type genJSON struct {
	DecoderStart *int            `json:"decoder_start_token_id"`
	BOS          *int            `json:"bos_token_id"`
	EOS          json.RawMessage `json:"eos_token_id"` // an int or a list
	Pad          *int            `json:"pad_token_id"`
	ForcedBOS    json.RawMessage `json:"forced_bos_token_id"`
	ForcedEOS    json.RawMessage `json:"forced_eos_token_id"`
	MaxLength    *int            `json:"max_length"`
	MinLength    *int            `json:"min_length"`
	NumBeams     *int            `json:"num_beams"`
}

func (g *Generation) apply(j *genJSON, path string) error {
	for _, f := range []struct{ dst, src *int }{{&g.DecoderStartTokenID, j.DecoderStart}, {&g.BOSTokenID, j.BOS},
		{&g.PadTokenID, j.Pad}, {&g.MaxLength, j.MaxLength}, {&g.MinLength, j.MinLength}, {&g.NumBeams, j.NumBeams}} {
		Set(f.dst, f.src)
	}
	if ids, ok, err := EOSTokenIDs(j.EOS, path); err != nil {
		return err
	} else if ok {
		g.EOSTokenIDs = ids
	}
	for _, f := range []struct {
		raw json.RawMessage
		dst *int
	}{{j.ForcedBOS, &g.ForcedBOSTokenID}, {j.ForcedEOS, &g.ForcedEOSTokenID}} {
		switch {
		case len(f.raw) == 0:
		case string(f.raw) == "null":
			*f.dst = -1
		default:
			if err := json.Unmarshal(f.raw, f.dst); err != nil {
				var list []int // forced_eos_token_id may be a list; the first is used
				if json.Unmarshal(f.raw, &list) != nil || len(list) == 0 {
					return lecture.Errorf(lecture.EINVALID, "%s: forced token %s is not an id", path, f.raw)
				}
				*f.dst = list[0]
			}
		}
	}
	return nil
}

// Set copies a field read from a config file into dst; nil (the field is
// absent) leaves dst as it is.
func Set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// EOSTokenIDs reads eos_token_id, an id or a list of ids; ok is false when
// it is absent or null.
func EOSTokenIDs(raw json.RawMessage, path string) (ids []int, ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	var one int
	if json.Unmarshal(raw, &one) == nil {
		return []int{one}, true, nil
	}
	if json.Unmarshal(raw, &ids) == nil {
		return ids, true, nil
	}
	return nil, false, lecture.Errorf(lecture.EINVALID, "%s: eos_token_id %s is not an id or a list of ids", path, raw)
}

// LoadTokenizer loads the folder's tokenizer and checks that its ids fit
// the vocabulary of model (the file named in the error).
func LoadTokenizer(dir string, vocab int, model string) (*tokenizer.Tokenizer, error) {
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	if n := tok.VocabSize(); n > vocab {
		return nil, lecture.Errorf(lecture.EINVALID,
			"tokenizer %s has ids up to %d but model %s has a vocabulary of %d: the tokenizer belongs to another model",
			tok.Path(), n-1, model, vocab)
	}
	return tok, nil
}

// ReadJSON decodes a model folder's JSON file into v, the one reader every
// model package uses: a missing file is ENOTFOUND unless optional (then it
// reports false), a malformed one EINVALID naming the file.
func ReadJSON(path string, v any, optional bool) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if optional {
			return false, nil
		}
		return false, lecture.Errorf(lecture.ENOTFOUND, "model folder %s has no %s", filepath.Dir(path), filepath.Base(path))
	}
	if err != nil {
		return false, lecture.Wrap(lecture.EINVALID, err, "%s cannot be read", path)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, lecture.Wrap(lecture.EINVALID, err, "%s is not valid JSON", path)
	}
	return true, nil
}

// ReadConfigs reads a folder's config.json into cfg, then the generation
// fields (J) of config.json and, when present, of generation_config.json,
// each handed to apply in that order, so that generation_config.json's
// fields win: how transformers.js and Hugging Face read them. Every
// generator (seq2seq here, causal) reads its folder with it.
func ReadConfigs[J any](dir string, cfg any, apply func(j *J, path string) error) error {
	cfgPath := filepath.Join(dir, "config.json")
	if _, err := ReadJSON(cfgPath, cfg, false); err != nil {
		return err
	}
	var cj J
	ReadJSON(cfgPath, &cj, false)
	if err := apply(&cj, cfgPath); err != nil {
		return err
	}
	genPath := filepath.Join(dir, "generation_config.json")
	var gj J
	if ok, err := ReadJSON(genPath, &gj, true); err != nil {
		return err
	} else if ok {
		if err := apply(&gj, genPath); err != nil {
			return err
		}
	}
	return nil
}

// readConfigs reads config.json and, when present, generation_config.json.
func readConfigs(dir string) (Config, Generation, error) {
	var c Config
	g := Generation{DecoderStartTokenID: -1, BOSTokenID: -1, PadTokenID: -1, ForcedBOSTokenID: -1, ForcedEOSTokenID: -1,
		MaxLength: 20, NumBeams: 1}
	if err := ReadConfigs(dir, &c, g.apply); err != nil {
		return c, g, err
	}
	if g.DecoderStartTokenID < 0 {
		g.DecoderStartTokenID = g.BOSTokenID // what transformers.js falls back to
	}
	return c, g, nil
}
