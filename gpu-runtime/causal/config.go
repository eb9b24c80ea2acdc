package causal

import (
	"encoding/json"
	"slices"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/shared/lecture"
)

// Config is the part of config.json generation needs.
type Config struct {
	ModelType    string `json:"model_type"`
	VocabSize    int    `json:"vocab_size"`
	Hidden       int    `json:"hidden_size"`
	Layers       int    `json:"num_hidden_layers"`
	Heads        int    `json:"num_attention_heads"`
	KVHeads      int    `json:"num_key_value_heads"` // 0: Heads
	HeadDim      int    `json:"head_dim"`            // 0: Hidden / Heads
	MaxPositions int    `json:"max_position_embeddings"`
	IsEncDec     bool   `json:"is_encoder_decoder"`
}

// Generation is generation_config.json over config.json's fields, with
// Hugging Face's defaults (max_length 20, temperature 1, top_k 50, top_p 1,
// repetition_penalty 1, no_repeat_ngram_size 0).
// A token id of -1 means none.
type Generation struct {
	BOSTokenID   int
	EOSTokenIDs  []int
	PadTokenID   int
	MaxLength    int // prompt included
	MaxNewTokens int // 0: unset (MaxLength rules)
	DoSample     bool
	Temperature  float64
	TopK         int
	TopP         float64
	// RepetitionPenalty is repetition_penalty (1: none); NoRepeatNGram is
	// no_repeat_ngram_size (0: off). See Penalties.
	RepetitionPenalty float64
	NoRepeatNGram     int
	// MinNewTokens is min_new_tokens: EOS is banned until that many
	// tokens are generated (0: off).
	MinNewTokens int
}

// IsEOS reports whether id ends a sequence.
func (g *Generation) IsEOS(id int) bool { return slices.Contains(g.EOSTokenIDs, id) }

// Sampling is the folder's sampling settings when its generation config
// says do_sample, else nil (greedy).
func (g *Generation) Sampling(seed uint64) *Sampling {
	if !g.DoSample {
		return nil
	}
	return &Sampling{Temperature: g.Temperature, TopK: g.TopK, TopP: g.TopP, Seed: seed}
}

type genJSON struct {
	BOS          *int            `json:"bos_token_id"`
	EOS          json.RawMessage `json:"eos_token_id"`
	Pad          *int            `json:"pad_token_id"`
	MaxLength    *int            `json:"max_length"`
	MaxNewTokens *int            `json:"max_new_tokens"`
	DoSample     *bool           `json:"do_sample"`
	Temperature  *float64        `json:"temperature"`
	TopK         *int            `json:"top_k"`
	TopP         *float64        `json:"top_p"`
	RepPenalty   *float64        `json:"repetition_penalty"`
	NoRepeat     *int            `json:"no_repeat_ngram_size"`
	MinNewTokens *int            `json:"min_new_tokens"`
}

func (g *Generation) apply(j *genJSON, path string) error {
	optimum.Set(&g.BOSTokenID, j.BOS)
	optimum.Set(&g.PadTokenID, j.Pad)
	optimum.Set(&g.MaxLength, j.MaxLength)
	optimum.Set(&g.MaxNewTokens, j.MaxNewTokens)
	optimum.Set(&g.TopK, j.TopK)
	optimum.Set(&g.DoSample, j.DoSample)
	optimum.Set(&g.Temperature, j.Temperature)
	optimum.Set(&g.TopP, j.TopP)
	optimum.Set(&g.RepetitionPenalty, j.RepPenalty)
	optimum.Set(&g.NoRepeatNGram, j.NoRepeat)
	optimum.Set(&g.MinNewTokens, j.MinNewTokens)
	if g.MinNewTokens < 0 {
		return lecture.Errorf(lecture.EINVALID, "%s: min_new_tokens %d must be ≥ 0", path, g.MinNewTokens)
	}
	if err := (Penalties{Repetition: g.RepetitionPenalty, NoRepeatNGram: g.NoRepeatNGram}).check(path + ": "); err != nil {
		return err
	}
	if ids, ok, err := optimum.EOSTokenIDs(j.EOS, path); err != nil {
		return err
	} else if ok {
		g.EOSTokenIDs = ids
	}
	return nil
}

// readConfigs reads config.json and, when present, generation_config.json
// (whose fields win).
func readConfigs(dir string) (Config, Generation, error) {
	var c Config
	g := Generation{BOSTokenID: -1, PadTokenID: -1, MaxLength: 20, Temperature: 1, TopK: 50, TopP: 1, RepetitionPenalty: 1}
	if err := optimum.ReadConfigs(dir, &c, g.apply); err != nil {
		return c, g, err
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.HeadDim == 0 && c.Heads > 0 {
		c.HeadDim = c.Hidden / c.Heads
	}
	return c, g, nil
}
