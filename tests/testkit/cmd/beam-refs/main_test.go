//go:build cgo

package main

import (
	"encoding/json"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/orttest"
)

const committed = "../../../../gpu-runtime/seq2seq/testdata/beam-tiny.json"

func readCommitted(t *testing.T) *Refs {
	t.Helper()
	b, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	var r Refs
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// scoreTol bounds beam scores against the committed file, which another
// machine computed: a score sums ≤ 20 log-probabilities, each off by at
// most twice the float32 logits' cross-CPU rounding (a few ulp, ~1e-5 at
// |logit| ≈ 16), and divides by length^length_penalty ≥ √length here, so
// ≤ 20·2e-5/√20 ≈ 9e-5; a wrong score formula moves it by far more, and
// the returned hypotheses' scores are ≥ 6e-4 apart, so no ranking is a tie
// within the tolerance: the sequences are compared exactly.
var scoreTol = orttest.Tol{Abs: 1e-4}

// TestCommittedMatchesFreshRun fails when our beam search drifts from the
// committed references (regenerate them with the command in the package
// comment only after hf_compare.py --beam agrees with the new output).
func TestCommittedMatchesFreshRun(t *testing.T) {
	orttest.Need(t)
	want := readCommitted(t)
	dir, err := writeTiny(1)
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err != nil {
		t.Fatal(err)
	}
	m, err := optimum.LoadSeq2Seq(dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := Run(m)
	if err != nil {
		t.Fatal(err)
	}
	// Round trip through JSON, so that settings compare as the file holds them.
	b, err := Encode(got)
	if err != nil {
		t.Fatal(err)
	}
	got = new(Refs)
	if err := json.Unmarshal(b, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Cases) != len(want.Cases) {
		t.Fatalf("%d cases, committed %d", len(got.Cases), len(want.Cases))
	}
	worst := 0.0
	for i, g := range got.Cases {
		w := want.Cases[i]
		if g.Name != w.Name || !reflect.DeepEqual(g.Settings, w.Settings) || !reflect.DeepEqual(g.InputIDs, w.InputIDs) ||
			!reflect.DeepEqual(g.AttentionMask, w.AttentionMask) {
			t.Errorf("case %d: settings or inputs %+v, committed %+v", i, g, w)
			continue
		}
		if !reflect.DeepEqual(g.Sequences, w.Sequences) {
			t.Errorf("%s: sequences %v, committed %v", g.Name, g.Sequences, w.Sequences)
		}
		if len(g.Scores) != len(w.Scores) {
			t.Errorf("%s: %d scores, committed %d", g.Name, len(g.Scores), len(w.Scores))
			continue
		}
		worst = max(worst, orttest.Compare(t, g.Name+" sequences_scores", g.Scores, w.Scores, scoreTol))
	}
	t.Logf("%d cases, sequences compared exactly; max |score − committed| = %.2g (tolerance %g)", len(got.Cases), worst, scoreTol.Abs)
}

// TestCommittedCoversGrid checks the file exercises every setting the
// comparison with Hugging Face is meant to cover, with results that differ
// between settings (a model whose every beam ends at once would prove
// nothing).
func TestCommittedCoversGrid(t *testing.T) {
	r := readCommitted(t)
	seen := map[string]map[any]bool{}
	note := func(k string, v any) {
		if seen[k] == nil {
			seen[k] = map[any]bool{}
		}
		seen[k][v] = true
	}
	lengths := map[int]bool{}
	for _, c := range r.Cases {
		s := c.Settings
		note("num_beams", s.NumBeams)
		note("length_penalty", s.LengthPenalty)
		note("early_stopping", s.EarlyStopping)
		note("no_repeat_ngram_size", s.NoRepeatNGramSize)
		note("min_length", s.MinLength)
		note("num_return_sequences", s.NumReturnSequences)
		note("forced_bos_token_id", s.ForcedBOSTokenID)
		note("forced_eos_token_id", s.ForcedEOSTokenID)
		note("batch", len(c.InputIDs))
		if len(c.Sequences) != len(c.InputIDs)*s.NumReturnSequences || len(c.Scores) != len(c.Sequences) {
			t.Errorf("%s: %d sequences and %d scores for %d inputs × %d", c.Name, len(c.Sequences), len(c.Scores), len(c.InputIDs), s.NumReturnSequences)
		}
		for i, row := range c.Sequences {
			lengths[len(row)] = true
			if row[0] != s.DecoderStartTokenID || len(row) > s.MaxLength {
				t.Errorf("%s row %d: %v (start %d, max_length %d)", c.Name, i, row, s.DecoderStartTokenID, s.MaxLength)
			}
		}
		for i := 1; i < len(c.Scores); i++ {
			if per := s.NumReturnSequences; i%per != 0 && c.Scores[i] > c.Scores[i-1] {
				t.Errorf("%s: scores %v not best first", c.Name, c.Scores)
			}
		}
	}
	for k, want := range map[string][]any{
		"num_beams": {2.0, 4.0}, "length_penalty": {0.5, 1.0, 2.0}, "early_stopping": {true, false, "never"},
		"no_repeat_ngram_size": {0.0, 2.0}, "min_length": {0.0, 6.0}, "num_return_sequences": {1.0, 2.0},
		"forced_bos_token_id": {-1.0, 0.0}, "forced_eos_token_id": {-1.0, 2.0}, "batch": {1, 2},
	} {
		for _, v := range want {
			if !seen[k][v] && !seen[k][toInt(v)] {
				t.Errorf("no case with %s %v (have %v)", k, v, seen[k])
			}
		}
	}
	if l := slices.Sorted(maps.Keys(lengths)); len(l) < 5 {
		t.Errorf("sequence lengths %v: want at least 5 different", l)
	}
}

func toInt(v any) any {
	if f, ok := v.(float64); ok && f == math.Trunc(f) {
		return int(f)
	}
	return v
}
