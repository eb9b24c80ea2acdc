package causal

import (
	"math"

	"github.com/transcept/transcept/shared/lecture"
)

// Penalties are the logits processors that run before sampling or the
// greedy choice, in Hugging Face's order: repetition_penalty, then
// no_repeat_ngram_size. Both look at the whole row so far: prompt,
// left padding and generated tokens, as Hugging Face and transformers.js do.
type Penalties struct {
	// Repetition divides the logit of every token id already in the row
	// by it when the logit is ≥ 0 and multiplies it when negative (Hugging
	// Face's RepetitionPenaltyLogitsProcessor); 1 does nothing, > 1
	// discourages repeats, < 1 encourages them. Must be > 0.
	Repetition float64
	// NoRepeatNGram bans any token that would complete an n-gram of this
	// size already in the row; 0 does nothing.
	NoRepeatNGram int
}

func (p Penalties) check(where string) error {
	if !(p.Repetition > 0) || math.IsInf(p.Repetition, 0) {
		return lecture.Errorf(lecture.EINVALID, "%srepetition_penalty %g must be a number > 0 (1 is no penalty)", where, p.Repetition)
	}
	if p.NoRepeatNGram < 0 {
		return lecture.Errorf(lecture.EINVALID, "%sno_repeat_ngram_size %d must be ≥ 0 (0 is off)", where, p.NoRepeatNGram)
	}
	return nil
}

// active says whether Apply would change anything.
func (p Penalties) active() bool { return p.Repetition != 1 || p.NoRepeatNGram > 0 }

// Apply changes logits (one row, the vocabulary wide) in place for the
// row's ids so far. The penalty's arithmetic is float64 rounded to
// float32, as transformers.js stores it in its Float32Array.
func (p Penalties) Apply(ids []int, logits []float32) {
	if p.Repetition != 1 {
		seen := make(map[int]struct{}, len(ids))
		for _, id := range ids {
			if _, ok := seen[id]; ok || id < 0 || id >= len(logits) {
				continue
			}
			seen[id] = struct{}{}
			if l := float64(logits[id]); l < 0 {
				logits[id] = float32(l * p.Repetition)
			} else {
				logits[id] = float32(l / p.Repetition)
			}
		}
	}
	for _, id := range BannedNGram(ids, p.NoRepeatNGram) {
		if id >= 0 && id < len(logits) {
			logits[id] = float32(math.Inf(-1))
		}
	}
}

// BannedNGram is what no_repeat_ngram_size n forbids next after ids: every
// token that followed an earlier occurrence of ids' last n−1 tokens.
func BannedNGram(ids []int, n int) []int {
	if n <= 0 || len(ids)+1 < n {
		return nil
	}
	if n == 1 {
		return append([]int(nil), ids...)
	}
	tail := ids[len(ids)-(n-1):]
	var out []int
	for j := 0; j+n <= len(ids); j++ {
		match := true
		for k := range n - 1 {
			if ids[j+k] != tail[k] {
				match = false
				break
			}
		}
		if match {
			out = append(out, ids[j+n-1])
		}
	}
	return out
}
