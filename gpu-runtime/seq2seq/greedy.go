// Package seq2seq generates text with an encoder-decoder model
// (optimum.Seq2Seq): the encoder runs once, the decoder once per new token
// with its past-key-value cache (the merged decoder's use_cache_branch, or
// the older decoder / decoder_with_past pair), following Hugging Face's
// generation_config.json semantics.
package seq2seq

import (
	"math"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
)

// Options override the folder's generation_config.json for one call; zero
// values keep the folder's settings.
type Options struct {
	MaxLength int // counts the decoder start token, as Hugging Face does
	MinLength int
	// ForcedBOS and ForcedEOS override forced_bos_token_id and
	// forced_eos_token_id; a pointer to -1 turns forcing off.
	ForcedBOS, ForcedEOS *int
	// NoCache re-feeds every decoder token each step instead of using the
	// past-key-value cache (slow; it exists to prove the cache right).
	NoCache bool
	// RunOptions, when set, go to every encoder and decoder run: they
	// activate a LoRA adapter for this generation only.
	RunOptions *ort.RunOptions
	// EncoderRunOptions and DecoderRunOptions, when set, replace RunOptions
	// for that session alone (an encoder-decoder adapter is split per
	// session, since each session accepts only its own parameters).
	EncoderRunOptions *ort.RunOptions
	DecoderRunOptions *ort.RunOptions

	// Beam search (Beam, Generate): zero values keep the folder's
	// num_beams, num_return_sequences and no_repeat_ngram_size; nil and ""
	// its length_penalty and early_stopping ("true", "false" or "never").
	NumBeams           int
	NumReturnSequences int
	NoRepeatNGramSize  int
	LengthPenalty      *float64
	EarlyStopping      string
}

// Result is a batch's generations.
type Result struct {
	// IDs are the decoder sequences (Beam: num_return_sequences rows per
	// input, best first): the decoder start token, the generated
	// tokens up to and including EOS, then pad_token_id up to the longest.
	IDs [][]int
	// FirstLogits are each row's raw logits of the first decoder step.
	FirstLogits [][]float32
	// Scores are beam search's length-penalised sequence scores, one per
	// row of IDs (nil from Greedy).
	Scores []float64
}

// settings are Options resolved against the folder's generation config.
type settings struct {
	optimum.Generation
}

func resolve(g optimum.Generation, o Options) settings {
	if o.MaxLength > 0 {
		g.MaxLength = o.MaxLength
	}
	if o.MinLength > 0 {
		g.MinLength = o.MinLength
	}
	if o.ForcedBOS != nil {
		g.ForcedBOSTokenID = *o.ForcedBOS
	}
	if o.ForcedEOS != nil {
		g.ForcedEOSTokenID = *o.ForcedEOS
	}
	return settings{g}
}

// process applies min_length, forced_bos_token_id and forced_eos_token_id to
// one row's logits, where curLen tokens (decoder start included) exist.
func (s *settings) process(logits []float32, curLen int) {
	inf := float32(math.Inf(-1))
	force := func(id int) {
		for i := range logits {
			if i != id {
				logits[i] = inf
			}
		}
	}
	if curLen < s.MinLength {
		for _, e := range s.EOSTokenIDs {
			if e >= 0 && e < len(logits) {
				logits[e] = inf
			}
		}
	}
	if curLen == 1 && s.ForcedBOSTokenID >= 0 {
		force(s.ForcedBOSTokenID)
	}
	if curLen == s.MaxLength-1 && s.ForcedEOSTokenID >= 0 {
		force(s.ForcedEOSTokenID)
	}
}

// Pad right-pads token id rows with pad into a rectangle and returns the
// attention mask (1 for tokens, 0 for padding), as the tokenizer does.
func Pad(rows [][]int, pad int) (ids, mask [][]int) {
	n := 0
	for _, r := range rows {
		n = max(n, len(r))
	}
	for _, r := range rows {
		id, m := make([]int, n), make([]int, n)
		for i := range n {
			id[i], m[i] = pad, 0
			if i < len(r) {
				id[i], m[i] = r[i], 1
			}
		}
		ids, mask = append(ids, id), append(mask, m)
	}
	return ids, mask
}

// Greedy generates for a batch of encoder inputs (rows of equal length,
// mask 1 for tokens and 0 for padding).
func Greedy(m *optimum.Seq2Seq, inputIDs, mask [][]int, o Options) (*Result, error) {
	b := len(inputIDs)
	if err := checkBatch(m, inputIDs, mask); err != nil {
		return nil, err
	}
	seqLen := len(inputIDs[0])
	s := resolve(m.Generation, o)
	r := newRun(m, b, &o)
	defer r.close()
	if err := r.encode(flat(inputIDs), flat(mask), b, seqLen, 1); err != nil {
		return nil, err
	}
	res := &Result{IDs: make([][]int, b)}
	done := make([]bool, b)
	for i := range res.IDs {
		res.IDs[i] = []int{s.DecoderStartTokenID}
	}
	for curLen := 1; curLen < s.MaxLength; curLen++ {
		logits, err := r.step(res.IDs, o.NoCache)
		if err != nil {
			return nil, err
		}
		v := len(logits) / b
		all := true
		for i := range b {
			row := logits[i*v : (i+1)*v]
			if curLen == 1 {
				res.FirstLogits = append(res.FirstLogits, append([]float32(nil), row...))
			}
			next := s.PadTokenID
			if !done[i] {
				s.process(row, curLen)
				next = optimum.Argmax(row)
				done[i] = s.IsEOS(next)
			}
			res.IDs[i] = append(res.IDs[i], next)
			all = all && done[i]
		}
		if all {
			break
		}
	}
	return res, nil
}

// checkBatch refuses empty, ragged or too long batches.
func checkBatch(m *optimum.Seq2Seq, inputIDs, mask [][]int) error {
	b := len(inputIDs)
	if b == 0 || len(mask) != b {
		return lecture.Errorf(lecture.EINVALID, "generation needs a batch of inputs with a mask per row (got %d and %d)", b, len(mask))
	}
	seqLen := len(inputIDs[0])
	for i := range inputIDs {
		if len(inputIDs[i]) != seqLen || len(mask[i]) != seqLen {
			return lecture.Errorf(lecture.EINVALID, "input row %d has %d ids and %d mask values, want %d (pad the batch)", i, len(inputIDs[i]), len(mask[i]), seqLen)
		}
	}
	if limit := m.Config.MaxPositions; limit > 0 && seqLen > limit {
		return lecture.Errorf(lecture.ETOOLARGE, "input of %d tokens is longer than model %s takes (%d)", seqLen, m.Dir, limit)
	}
	return nil
}

func flat(rows [][]int) []int64 {
	var out []int64
	for _, r := range rows {
		for _, x := range r {
			out = append(out, int64(x))
		}
	}
	return out
}
