//go:build cgo

package seq2seq

import (
	"fmt"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/orttest"
)

// rowTexts are inputs of different lengths (1 to 12 words).
var rowTexts = []string{
	"the lecture starts with a question about heat and why it flows from warm to cold",
	"hi",
	"entropy never decreases in an isolated system",
	"rivers carry sediment to the sea",
	"a",
	"the carnot efficiency depends on the two temperatures only",
}

// recordRows makes stepHook append each step's decoder rows to *rows for
// the test's duration.
func recordRows(t *testing.T, rows *[]int) {
	t.Helper()
	stepHook = func(n int) { *rows = append(*rows, n) }
	t.Cleanup(func() { stepHook = nil })
}

// alone runs one input by itself through GenerateRows.
func alone(t *testing.T, m *optimum.Seq2Seq, in Input, o Options) Output {
	t.Helper()
	in.Done = nil
	out, err := GenerateRows(m, []Input{in}, o)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil {
		t.Fatal(out[0].Err)
	}
	return out[0]
}

// TestGenerateRowsEqualAlone: inputs of different lengths, their own max
// and min lengths and EOS at different steps, batched: each row's ids are
// exactly what it generates alone, its first-step logits are within
// logitTol (the batch's matrix products have other shapes, so ONNX Runtime
// may sum in another order: a few ulp, seen ≤ 1e-6 here), and the decoder
// runs on fewer rows as rows end. Merged and split decoders, cache or not.
func TestGenerateRowsEqualAlone(t *testing.T) {
	orttest.Need(t)
	for _, split := range []bool{false, true} {
		m := loadTiny(t, split)
		var in []Input
		for i, s := range rowTexts {
			x := Input{IDs: m.Tokenizer.Encode(s)}
			switch i % 3 {
			case 1:
				x.MaxLength = 4 + i
			case 2:
				x.MinLength = 5
			}
			in = append(in, x)
		}
		for _, noCache := range []bool{false, true} {
			o := Options{NoCache: noCache}
			var rows []int
			recordRows(t, &rows)
			out, err := GenerateRows(m, in, o)
			if err != nil {
				t.Fatal(err)
			}
			stepHook = nil
			label := fmt.Sprintf("split=%v noCache=%v", split, noCache)
			lengths := map[int]bool{}
			worst := 0.0
			for i, x := range in {
				want := alone(t, m, x, o)
				got := out[i]
				if got.Err != nil || !slices.Equal(got.IDs, want.IDs) {
					t.Errorf("%s row %d: batch %v (%v), alone %v", label, i, got.IDs, got.Err, want.IDs)
				}
				worst = max(worst, orttest.Compare(t, fmt.Sprintf("%s row %d first-step logits", label, i), got.FirstLogits, want.FirstLogits, logitTol))
				if x.MaxLength > 0 && len(got.IDs) > x.MaxLength {
					t.Errorf("%s row %d: %d ids past its max length %d", label, i, len(got.IDs), x.MaxLength)
				}
				lengths[len(got.IDs)] = true
			}
			if len(lengths) < 3 {
				t.Errorf("%s: rows ended at lengths %v; the test wants rows ending at different steps", label, lengths)
			}
			if !slices.IsSortedFunc(rows, func(a, b int) int { return b - a }) || rows[0] != len(in) || rows[len(rows)-1] >= len(in) {
				t.Errorf("%s: decoder rows per step %v: want %d first, then fewer as rows end", label, rows, len(in))
			}
			t.Logf("%s: decoder rows per step %v; max |first-step logit diff| batch vs alone %.3g", label, rows, worst)
		}
	}
}

// TestGreedyDropsEndedRows: Greedy on a padded batch gives what it gave
// before rows left the batch: each row alone, then padding to the longest.
func TestGreedyDropsEndedRows(t *testing.T) {
	orttest.Need(t)
	m := loadTiny(t, false)
	var enc [][]int
	for _, s := range rowTexts {
		enc = append(enc, m.Tokenizer.Encode(s))
	}
	ids, mask := Pad(enc, m.Generation.PadTokenID)
	res, err := Greedy(m, ids, mask, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range enc {
		one, err := Greedy(m, [][]int{e}, [][]int{slices.Repeat([]int{1}, len(e))}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(one.IDs[0])
		for len(want) < len(res.IDs[i]) {
			want = append(want, m.Generation.PadTokenID)
		}
		if !slices.Equal(res.IDs[i], want) {
			t.Errorf("row %d: batch %v, alone %v", i, res.IDs[i], want)
		}
	}
}

// TestGenerateRowsCancel: a row whose Done closes before the start or in
// the middle leaves the batch with Err set; the others are what they are
// alone.
func TestGenerateRowsCancel(t *testing.T) {
	orttest.Need(t)
	m := loadTiny(t, false)
	noEOS := -1
	o := Options{MinLength: 16, MaxLength: 16, ForcedEOS: &noEOS} // every row runs 15 steps
	early, middle := make(chan struct{}), make(chan struct{})
	close(early)
	var in []Input
	for _, s := range rowTexts[:4] {
		in = append(in, Input{IDs: m.Tokenizer.Encode(s)})
	}
	in[1].Done, in[2].Done = early, middle
	var rows []int
	stepHook = func(n int) {
		rows = append(rows, n)
		if len(rows) == 5 {
			close(middle)
		}
	}
	t.Cleanup(func() { stepHook = nil })
	out, err := GenerateRows(m, in, o)
	if err != nil {
		t.Fatal(err)
	}
	stepHook = nil
	for i, x := range in {
		switch i {
		case 1, 2:
			if lecture.ErrorCode(out[i].Err) != lecture.EUNAVAILABLE {
				t.Errorf("row %d: err %v, want cancelled", i, out[i].Err)
			}
		default:
			if want := alone(t, m, x, o); out[i].Err != nil || !slices.Equal(out[i].IDs, want.IDs) {
				t.Errorf("row %d: %v (%v), alone %v", i, out[i].IDs, out[i].Err, want.IDs)
			}
		}
	}
	if len(out[1].IDs) != 1 || out[1].FirstLogits != nil {
		t.Errorf("row cancelled before the start generated %v", out[1].IDs)
	}
	if len(out[2].IDs) != 6 {
		t.Errorf("row cancelled after 5 steps has %d ids, want 6", len(out[2].IDs))
	}
	if want := append([]int{3, 3, 3, 3, 3}, slices.Repeat([]int{2}, 10)...); !slices.Equal(rows, want) {
		t.Errorf("decoder rows per step %v, want %v", rows, want)
	}
}

// TestGenerateRowsBeam: beam search over rows of different lengths gives
// each row its best hypothesis alone; inputs that finish or are cancelled
// leave the batch.
func TestGenerateRowsBeam(t *testing.T) {
	orttest.Need(t)
	m := loadTiny(t, false)
	lp := 1.5
	o := Options{NumBeams: 3, NoRepeatNGramSize: 3, LengthPenalty: &lp, MaxLength: 14}
	var in []Input
	for _, s := range rowTexts {
		in = append(in, Input{IDs: m.Tokenizer.Encode(s)})
	}
	gone := make(chan struct{})
	in[3].Done = gone
	var rows []int
	stepHook = func(n int) {
		rows = append(rows, n)
		if len(rows) == 3 {
			close(gone)
		}
	}
	t.Cleanup(func() { stepHook = nil })
	out, err := GenerateRows(m, in, o)
	if err != nil {
		t.Fatal(err)
	}
	stepHook = nil
	for i, x := range in {
		if i == 3 {
			if out[i].Err == nil {
				t.Errorf("row 3 not cancelled: %v", out[i].IDs)
			}
			continue
		}
		one, err := Beam(m, [][]int{x.IDs}, [][]int{slices.Repeat([]int{1}, len(x.IDs))}, o)
		if err != nil {
			t.Fatal(err)
		}
		want := trimPad(one.IDs[0], m.Generation.PadTokenID)
		if out[i].Err != nil || !slices.Equal(out[i].IDs, want) || out[i].Score-one.Scores[0] > 1e-5 || one.Scores[0]-out[i].Score > 1e-5 {
			t.Errorf("row %d: batch %v %g (%v), alone %v %g", i, out[i].IDs, out[i].Score, out[i].Err, want, one.Scores[0])
		}
	}
	if rows[0] != 3*len(in) || rows[3] != 3*(len(in)-1) {
		t.Errorf("decoder rows per step %v: want %d, then 3 fewer once row 3 is cancelled", rows, 3*len(in))
	}
	t.Logf("beam decoder rows per step: %v", rows)
	if _, err := GenerateRows(m, []Input{{IDs: in[0].IDs, MaxLength: 5}}, o); err == nil {
		t.Error("beam search accepted a row's own max length")
	}
}
