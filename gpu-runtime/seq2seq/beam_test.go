package seq2seq

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/optimum"
)

// Tokens of the fake models: the decoder start, padding, EOS, then A B C
// and a second EOS for the tests that need two.
const (
	tStart, tPad, tEOS, tA, tB, tC, tEOS2 = 0, 1, 2, 3, 4, 5, 6
	fakeVocab                             = 7
)

// fakeModel is a deterministic "decoder": the next-token distribution of a
// decoder sequence is table[its tokens after the start], else def. Tokens
// without a probability get logit -inf. With random set it instead draws
// logits from a generator seeded by the prefix.
type fakeModel struct {
	vocab  int
	table  map[string]map[int]float64
	def    map[int]float64
	random bool
	seed   uint64
	calls  int
}

func key(ids []int) string { return fmt.Sprint(ids[1:]) }

func (f *fakeModel) logits(ids []int) []float32 {
	out := make([]float32, f.vocab)
	if f.random {
		h := fnv.New64a()
		fmt.Fprint(h, ids)
		r := rand.New(rand.NewPCG(f.seed, h.Sum64()))
		for i := range out {
			out[i] = float32(2 * r.NormFloat64())
		}
		out[tEOS] += 1.5
		return out
	}
	p, ok := f.table[key(ids)]
	if !ok {
		p = f.def
	}
	for i := range out {
		out[i] = float32(math.Inf(-1))
		if q, ok := p[i]; ok {
			out[i] = float32(math.Log(q))
		}
	}
	return out
}

func (f *fakeModel) next(ids [][]int, parent []int) ([]float32, error) {
	f.calls++
	var out []float32
	for _, row := range ids {
		out = append(out, f.logits(row)...)
	}
	return out, nil
}

func fakeSettings(beams int, lp float64, early string, maxLen int) beamSettings {
	return beamSettings{
		settings: settings{optimum.Generation{DecoderStartTokenID: tStart, PadTokenID: tPad, EOSTokenIDs: []int{tEOS},
			ForcedBOSTokenID: -1, ForcedEOSTokenID: -1, MaxLength: maxLen}},
		numBeams: beams, numReturn: 1, lengthPenalty: lp, early: early,
	}
}

func search(t *testing.T, f *fakeModel, s beamSettings, batch int) *Result {
	t.Helper()
	res, err := beamSearch(f, batch, &s)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func ln(p ...float64) float64 {
	s := 0.0
	for _, x := range p {
		s += math.Log(x)
	}
	return s
}

func expect(t *testing.T, name string, res *Result, row int, ids []int, score float64) {
	t.Helper()
	got := res.IDs[row]
	for len(got) > len(ids) && got[len(got)-1] == tPad {
		got = got[:len(got)-1]
	}
	if !slices.Equal(got, ids) || math.Abs(res.Scores[row]-score) > 1e-6 {
		t.Errorf("%s: got %v score %.9f, want %v score %.9f", name, res.IDs[row], res.Scores[row], ids, score)
	}
}

// lengthTable: "EOS" now (0.45), "A EOS" (0.55·0.8) or "A B EOS"
// (0.55·0.2·1): length_penalty 0 picks the first, 1 the second, 3 the third.
func lengthTable() *fakeModel {
	return &fakeModel{vocab: fakeVocab, def: map[int]float64{tEOS: 1}, table: map[string]map[int]float64{
		"[]":    {tEOS: 0.45, tA: 0.55},
		"[3]":   {tEOS: 0.8, tB: 0.2},
		"[3 4]": {tEOS: 1},
	}}
}

func TestBeamLengthPenalty(t *testing.T) {
	for _, c := range []struct {
		lp    float64
		ids   []int
		score float64
	}{
		{0, []int{tStart, tEOS}, ln(0.45)},
		{1, []int{tStart, tA, tEOS}, ln(0.55, 0.8) / 2},
		{3, []int{tStart, tA, tB, tEOS}, ln(0.55, 0.2, 1) / 27},
		{-1, []int{tStart, tEOS}, ln(0.45) * 1},
	} {
		res := search(t, lengthTable(), fakeSettings(2, c.lp, StopNever, 10), 1)
		expect(t, fmt.Sprintf("length_penalty %g", c.lp), res, 0, c.ids, c.score)
	}
	// The length counts EOS but not the decoder start token, also for
	// hypotheses cut at max_length (here 3: two generated tokens).
	f := &fakeModel{vocab: fakeVocab, def: map[int]float64{tA: 0.9, tEOS: 0.1}}
	res := search(t, f, fakeSettings(2, 1, StopNever, 3), 1)
	expect(t, "cut at max_length", res, 0, []int{tStart, tA, tA}, ln(0.9, 0.9)/2)
}

func TestBeamEarlyStopping(t *testing.T) {
	// true stops once num_beams (2) hypotheses ended: "EOS" and "A EOS";
	// false's heuristic (best running score at the current length) goes on
	// and finds "A B EOS", which wins with length_penalty 3.
	res := search(t, lengthTable(), fakeSettings(2, 3, StopEarly, 10), 1)
	expect(t, "early_stopping true", res, 0, []int{tStart, tA, tEOS}, ln(0.55, 0.8)/8)
	res = search(t, lengthTable(), fakeSettings(2, 3, StopHeuristic, 10), 1)
	expect(t, "early_stopping false", res, 0, []int{tStart, tA, tB, tEOS}, ln(0.55, 0.2)/27)

	// Two EOS tokens end two hypotheses at once. At step 2 the running "A B"
	// scores ln(0.11·0.95)/2 ≈ -1.13, below both ended ones, so false stops
	// there; "never" bounds it by max_length instead and goes on to find
	// "A B B EOS", whose longer length wins.
	twoEOS := func() *fakeModel {
		return &fakeModel{vocab: fakeVocab, def: map[int]float64{tEOS: 1}, table: map[string]map[int]float64{
			"[]":      {tEOS: 0.45, tEOS2: 0.44, tA: 0.11},
			"[3]":     {tB: 0.95, tEOS: 0.03, tEOS2: 0.02},
			"[3 4]":   {tB: 0.95, tEOS: 0.05},
			"[3 4 4]": {tEOS: 0.99, tB: 0.01},
		}}
	}
	for _, c := range []struct {
		early string
		ids   []int
		score float64
		calls int
	}{
		{StopEarly, []int{tStart, tEOS}, ln(0.45), 1},
		{StopHeuristic, []int{tStart, tEOS}, ln(0.45), 2},
		{StopNever, []int{tStart, tA, tB, tB, tEOS}, ln(0.11, 0.95, 0.95, 0.99) / 4, 5},
	} {
		s := fakeSettings(2, 1, c.early, 8)
		s.EOSTokenIDs = []int{tEOS, tEOS2}
		f := twoEOS()
		res := search(t, f, s, 1)
		expect(t, "early_stopping "+c.early, res, 0, c.ids, c.score)
		if f.calls != c.calls {
			t.Errorf("early_stopping %s: %d decoder steps, want %d", c.early, f.calls, c.calls)
		}
	}
}

func TestBeamNumReturnSequences(t *testing.T) {
	s := fakeSettings(3, 1, StopNever, 10)
	s.numReturn = 3
	res := search(t, lengthTable(), s, 1)
	if len(res.IDs) != 3 {
		t.Fatalf("%d sequences, want 3", len(res.IDs))
	}
	expect(t, "best", res, 0, []int{tStart, tA, tEOS}, ln(0.55, 0.8)/2)
	expect(t, "second", res, 1, []int{tStart, tA, tB, tEOS}, ln(0.55, 0.2)/3)
	expect(t, "third", res, 2, []int{tStart, tEOS}, ln(0.45))
	if !slices.Equal(res.IDs[2], []int{tStart, tEOS, tPad, tPad}) {
		t.Errorf("shorter rows are padded: %v", res.IDs[2])
	}
}

func TestBannedNGram(t *testing.T) {
	for _, c := range []struct {
		ids  []int
		n    int
		want []int
	}{
		{[]int{0, 3, 4, 3}, 2, []int{4}},          // "3 4" seen: after 3, 4 is banned
		{[]int{0, 3, 4, 3, 5, 3}, 2, []int{4, 5}}, // every token that followed 3
		{[]int{0, 3, 4, 3, 4}, 3, []int{3}},       // "3 4 3" seen
		{[]int{0, 3, 4}, 3, nil},                  // "3 4" not seen before
		{[]int{0, 3}, 3, nil},                     // too short for a trigram
		{[]int{0, 3, 3}, 1, []int{0, 3, 3}},       // n = 1: every token seen
		{[]int{0, 3, 3}, 0, nil},
	} {
		if got := bannedNGram(c.ids, c.n); !slices.Equal(got, c.want) {
			t.Errorf("bannedNGram(%v, %d) = %v, want %v", c.ids, c.n, got, c.want)
		}
	}
}

func repeatsNGram(ids []int, n int) bool {
	seen := map[string]bool{}
	for i := 0; i+n <= len(ids); i++ {
		k := fmt.Sprint(ids[i : i+n])
		if seen[k] {
			return true
		}
		seen[k] = true
	}
	return false
}

func TestBeamNoRepeatNGram(t *testing.T) {
	// The model always prefers A: without the rule the best sequence repeats
	// "A A"; with no_repeat_ngram_size 2 no bigram occurs twice, and the
	// score is still the sum of the chosen tokens' log-probabilities.
	p := map[int]float64{tA: 0.6, tB: 0.3, tEOS: 0.1}
	f := &fakeModel{vocab: fakeVocab, def: p}
	s := fakeSettings(2, 1, StopNever, 7)
	res := search(t, f, s, 1)
	if !repeatsNGram(res.IDs[0], 2) {
		t.Fatalf("without no_repeat_ngram_size: %v repeats no bigram; the test proves nothing", res.IDs[0])
	}
	for _, n := range []int{2, 3} {
		s.noRepeat = n
		res = search(t, f, s, 1)
		ids := res.IDs[0]
		for len(ids) > 0 && ids[len(ids)-1] == tPad {
			ids = ids[:len(ids)-1]
		}
		if repeatsNGram(ids, n) {
			t.Errorf("no_repeat_ngram_size %d: %v repeats an n-gram", n, ids)
		}
		sum := 0.0
		for _, tok := range ids[1:] {
			sum += math.Log(p[tok])
		}
		if want := sum / float64(len(ids)-1); math.Abs(res.Scores[0]-want) > 1e-6 {
			t.Errorf("no_repeat_ngram_size %d: %v score %g, want %g", n, ids, res.Scores[0], want)
		}
		t.Logf("no_repeat_ngram_size %d: %v", n, ids)
	}
	// Hand-computed: the model wants "A A A" (score ln(0.9·0.8·0.9)/3);
	// with bigrams banned the second "A A" is out, and "A B A" wins.
	h := &fakeModel{vocab: fakeVocab, def: map[int]float64{tA: 0.9, tB: 0.06, tEOS: 0.04}, table: map[string]map[int]float64{
		"[3]":   {tA: 0.8, tB: 0.15, tEOS: 0.05},
		"[3 4]": {tA: 0.7, tB: 0.2, tEOS: 0.1},
	}}
	s = fakeSettings(2, 1, StopNever, 4)
	expect(t, "no_repeat_ngram_size 0, hand-computed", search(t, h, s, 1), 0, []int{tStart, tA, tA, tA}, ln(0.9, 0.8, 0.9)/3)
	s.noRepeat = 2
	expect(t, "no_repeat_ngram_size 2, hand-computed", search(t, h, s, 1), 0, []int{tStart, tA, tB, tA}, ln(0.9, 0.15, 0.7)/3)
}

func TestBeamMinLength(t *testing.T) {
	f := &fakeModel{vocab: fakeVocab, def: map[int]float64{tEOS: 0.9, tA: 0.07, tB: 0.03}}
	s := fakeSettings(2, 1, StopNever, 6)
	expect(t, "no min_length", search(t, f, s, 1), 0, []int{tStart, tEOS}, ln(0.9))
	// min_length 3 counts the decoder start token: EOS is banned (-inf, not
	// renormalised) while fewer than 3 tokens exist.
	s.MinLength = 3
	expect(t, "min_length 3", search(t, f, s, 1), 0, []int{tStart, tA, tA, tEOS}, ln(0.07, 0.07, 0.9)/3)
}

func TestBeamForcedTokens(t *testing.T) {
	// A forced token scores 0 (Hugging Face sets its log-probability to 0
	// and all others to -inf), and still counts in the length.
	f := &fakeModel{vocab: fakeVocab, def: map[int]float64{tA: 0.6, tB: 0.3, tEOS: 0.1}}
	s := fakeSettings(2, 1, StopNever, 4)
	s.ForcedBOSTokenID, s.ForcedEOSTokenID = tB, tEOS
	expect(t, "forced BOS and EOS", search(t, f, s, 1), 0, []int{tStart, tB, tA, tEOS}, ln(0.6)/3)
	s.ForcedEOSTokenID = -1
	expect(t, "forced BOS only", search(t, f, s, 1), 0, []int{tStart, tB, tA, tA}, ln(0.6, 0.6)/3)
}

// exhaustive is the true optimum: every sequence that ends with EOS or
// reaches maxLen, scored sum(log p) / (generated tokens)^lp.
func exhaustive(logprobs func(ids []int) []float64, start, eos, maxLen int, lp float64) ([]int, float64) {
	var best []int
	bestScore := math.Inf(-1)
	var walk func(ids []int, sum float64)
	walk = func(ids []int, sum float64) {
		l := logprobs(ids)
		for tok, x := range l {
			seq := append(slices.Clip(ids), tok)
			n := len(seq) - 1
			if tok == eos || len(seq) == maxLen {
				if s := (sum + x) / math.Pow(float64(n), lp); s > bestScore {
					best, bestScore = seq, s
				}
				continue
			}
			walk(seq, sum+x)
		}
	}
	walk([]int{start}, 0)
	return best, bestScore
}

// refLogSoftmax is log-softmax written independently of the code under test.
func refLogSoftmax(logits []float32) []float64 {
	out := make([]float64, len(logits))
	var z float64
	for _, x := range logits {
		z += math.Exp(float64(x))
	}
	for i, x := range logits {
		out[i] = float64(x) - math.Log(z)
	}
	return out
}

// wideBeam is a beam wide enough to keep every prefix: the number of
// candidates at the last step.
func wideBeam(vocab, maxLen int) int {
	k := vocab
	for range maxLen - 2 {
		k *= vocab - 1
	}
	return k
}

func TestBeamFindsExhaustiveOptimum(t *testing.T) {
	for _, c := range []struct{ vocab, maxLen int }{{20, 4}, {40, 4}, {16, 5}, {8, 6}} {
		if testing.Short() && c.vocab > 20 {
			continue
		}
		f := &fakeModel{vocab: c.vocab, random: true, seed: uint64(c.vocab*10 + c.maxLen)}
		lps := func(ids []int) []float64 { return refLogSoftmax(f.logits(ids)) }
		for _, lp := range []float64{-1, 0, 0.5, 1, 2} {
			want, wantScore := exhaustive(lps, tStart, tEOS, c.maxLen, lp)
			s := fakeSettings(wideBeam(c.vocab, c.maxLen), lp, StopNever, c.maxLen)
			res := search(t, f, s, 1)
			expect(t, fmt.Sprintf("vocab %d, max_length %d, length_penalty %g", c.vocab, c.maxLen, lp), res, 0, want, wantScore)
			t.Logf("vocab %d max_length %d length_penalty %4g: optimum %v score %.6f, beam of %d found it",
				c.vocab, c.maxLen, lp, want, wantScore, s.numBeams)
			// A narrow beam need not find it, but never beats it.
			narrow := search(t, f, fakeSettings(2, lp, StopNever, c.maxLen), 1)
			if narrow.Scores[0] > wantScore+1e-9 {
				t.Errorf("2 beams scored %g above the optimum %g", narrow.Scores[0], wantScore)
			}
		}
	}
}

func TestBeamBatchRowsIndependent(t *testing.T) {
	// Rows of a batch are searched independently: a fake model that sees
	// the row's input (by seed) gives each row what it gives alone.
	s := fakeSettings(3, 1.5, StopHeuristic, 6)
	s.numReturn = 2
	var alone [][]int
	var scores []float64
	for seed := range 3 {
		f := &fakeModel{vocab: 12, random: true, seed: uint64(seed)}
		res := search(t, f, s, 1)
		alone = append(alone, res.IDs...)
		scores = append(scores, res.Scores...)
	}
	fake := &batchFake{seeds: []uint64{0, 1, 2}, vocab: 12, beams: 3}
	res, err := beamSearch(fake, 3, &s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("decoder rows per step: %v", fake.rows)
	for i := range alone {
		got, want := res.IDs[i], alone[i]
		for len(want) < len(got) {
			want = append(want, tPad)
		}
		if !slices.Equal(got, want) || res.Scores[i] != scores[i] {
			t.Errorf("row %d: batch %v %g, alone %v %g", i, got, res.Scores[i], want, scores[i])
		}
	}
}

// batchFake is a random fakeModel per input (rows i*beams… belong to input
// i at the first step; then each row belongs to its parent's input, as the
// decoder's cache rows follow parent when inputs leave the batch).
type batchFake struct {
	seeds        []uint64
	vocab, beams int
	input        []int // the input of each row of the last step
	rows         []int // rows per step
}

func (b *batchFake) next(ids [][]int, parent []int) ([]float32, error) {
	if b.input == nil {
		for r := range ids {
			b.input = append(b.input, r/b.beams)
		}
	} else {
		in := make([]int, len(parent))
		for r, p := range parent {
			in[r] = b.input[p]
		}
		b.input = in
	}
	if len(ids) != len(b.input) {
		return nil, fmt.Errorf("%d rows, parent %d", len(ids), len(b.input))
	}
	b.rows = append(b.rows, len(ids))
	var out []float32
	for r, row := range ids {
		f := &fakeModel{vocab: b.vocab, random: true, seed: b.seeds[b.input[r]]}
		out = append(out, f.logits(row)...)
	}
	return out, nil
}

func TestResolveBeam(t *testing.T) {
	g := optimum.Generation{MaxLength: 20, EOSTokenIDs: []int{2}}
	folder := beamSettings{numBeams: 4, numReturn: 1, lengthPenalty: 2, early: StopEarly, noRepeat: 3}
	s, err := resolveBeam(g, folder, Options{})
	if err != nil || s.numBeams != 4 || s.lengthPenalty != 2 || s.early != StopEarly || s.noRepeat != 3 {
		t.Errorf("folder settings: %+v %v", s, err)
	}
	lp := 0.5
	s, err = resolveBeam(g, folder, Options{NumBeams: 6, NumReturnSequences: 2, LengthPenalty: &lp, EarlyStopping: "never", NoRepeatNGramSize: 2})
	if err != nil || s.numBeams != 6 || s.numReturn != 2 || s.lengthPenalty != 0.5 || s.early != StopNever || s.noRepeat != 2 {
		t.Errorf("options: %+v %v", s, err)
	}
	for _, o := range []Options{{NumReturnSequences: 5}, {EarlyStopping: "sometimes"}, {MaxLength: 1}} {
		if _, err := resolveBeam(g, folder, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestBeamDoneInputsLeaveBatch: inputs whose search ends early leave the
// decoder's rows (fewer rows per step), and every input still gets what it
// gets alone.
func TestBeamDoneInputsLeaveBatch(t *testing.T) {
	s := fakeSettings(3, 1, StopEarly, 12)
	seeds := []uint64{0, 1, 2, 3, 4, 5}
	fake := &batchFake{seeds: seeds, vocab: 12, beams: 3}
	res, err := beamSearch(fake, len(seeds), &s)
	if err != nil {
		t.Fatal(err)
	}
	for i, seed := range seeds {
		one := search(t, &fakeModel{vocab: 12, random: true, seed: seed}, s, 1)
		trim := func(r []int) []int {
			for len(r) > 1 && r[len(r)-1] == tPad {
				r = r[:len(r)-1]
			}
			return r
		}
		got, want := trim(res.IDs[i]), trim(one.IDs[0])
		if !slices.Equal(got, want) || res.Scores[i] != one.Scores[0] {
			t.Errorf("input %d: batch %v %g, alone %v %g", i, got, res.Scores[i], want, one.Scores[0])
		}
	}
	if fake.rows[0] != 3*len(seeds) || fake.rows[len(fake.rows)-1] >= fake.rows[0] {
		t.Errorf("decoder rows per step %v: want %d first, then fewer as inputs end", fake.rows, 3*len(seeds))
	}
	t.Logf("decoder rows per step: %v", fake.rows)
}
