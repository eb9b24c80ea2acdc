package causal

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

func TestRepetitionPenaltyHand(t *testing.T) {
	inf := float32(math.Inf(-1))
	for _, c := range []struct {
		name   string
		p      Penalties
		ids    []int
		logits []float32
		want   []float32
	}{
		// positive divided, negative multiplied, each id once however often
		// it occurs, ids not in the row untouched
		{"penalty 2", Penalties{Repetition: 2}, []int{0, 1, 1, 2, 1}, []float32{2, -2, 0.5, 3}, []float32{1, -4, 0.25, 3}},
		// below 1 rewards: positive grows, negative shrinks toward 0
		{"penalty 0.5", Penalties{Repetition: 0.5}, []int{3, 0}, []float32{-1, 7, 7, 4}, []float32{-0.5, 7, 7, 8}},
		// zero stays zero; out-of-vocabulary ids are ignored
		{"zero and outside", Penalties{Repetition: 3}, []int{1, 9, -1}, []float32{1, 0, 1}, []float32{1, 0, 1}},
		// float64 arithmetic rounded to float32 (transformers.js's Float32Array)
		{"penalty 1.3 rounding", Penalties{Repetition: 1.3}, []int{0, 1}, []float32{1, -0.1}, []float32{float32(1 / 1.3), float32(float64(float32(-0.1)) * 1.3)}},
		{"penalty 1 is a no-op", Penalties{Repetition: 1}, []int{0, 1}, []float32{1, -1}, []float32{1, -1}},
		// no_repeat_ngram_size 2 after 5 1 2 5: "5 1" seen, so 1 is banned
		{"ngram 2", Penalties{Repetition: 1, NoRepeatNGram: 2}, []int{5, 1, 2, 5}, []float32{0, 1, 2, 3, 4, 5}, []float32{0, inf, 2, 3, 4, 5}},
		// penalty first, then the ban
		{"both", Penalties{Repetition: 2, NoRepeatNGram: 2}, []int{1, 2, 1}, []float32{4, 4, 4}, []float32{4, 2, inf}},
	} {
		got := slices.Clone(c.logits)
		c.p.Apply(c.ids, got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestBannedNGramHand(t *testing.T) {
	ids := []int{1, 2, 3, 1, 2}
	for _, c := range []struct {
		n    int
		want []int
	}{
		{0, nil},
		{1, []int{1, 2, 3, 1, 2}}, // every token seen is banned
		{2, []int{3}},             // "2 3" seen; the tail is 2
		{3, []int{3}},             // "1 2 3" seen; the tail is 1 2
		{4, nil},                  // "3 1 2" never followed by anything
		{6, nil},                  // longer than the row plus one
		{7, nil},
	} {
		if got := BannedNGram(ids, c.n); !slices.Equal(got, c.want) {
			t.Errorf("n=%d: %v, want %v", c.n, got, c.want)
		}
	}
	if got := BannedNGram([]int{7, 7, 7}, 2); !slices.Equal(got, []int{7, 7}) {
		t.Errorf("repeated: %v", got)
	}
}

func TestPenaltiesRejectBadValues(t *testing.T) {
	for _, p := range []Penalties{{Repetition: 0}, {Repetition: -1}, {Repetition: math.NaN()}, {Repetition: math.Inf(1)}, {Repetition: 1, NoRepeatNGram: -1}} {
		err := p.check("x.json: ")
		if lecture.ErrorCode(err) != lecture.EINVALID || !strings.HasPrefix(err.Error(), "x.json: ") {
			t.Errorf("%+v: %v", p, err)
		}
	}
	if err := (Penalties{Repetition: 1.3, NoRepeatNGram: 3}).check(""); err != nil {
		t.Error(err)
	}
}
