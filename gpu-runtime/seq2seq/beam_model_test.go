//go:build cgo

package seq2seq

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// loadSmallVocab writes a BART folder whose vocabulary is n tokens (a
// WordPiece tokenizer.json of n entries: <s> <pad> </s> <unk> and letters),
// so that every output sequence can be enumerated.
func loadSmallVocab(t *testing.T, n int, eosBias float32) *optimum.Seq2Seq {
	t.Helper()
	tokDir := t.TempDir()
	vocab := map[string]int{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
	for i := 4; i < n; i++ {
		vocab[fmt.Sprintf("w%d", i)] = i
	}
	tj, _ := json.Marshal(map[string]any{"version": "1.0", "model": map[string]any{
		"type": "WordPiece", "vocab": vocab, "unk_token": "<unk>", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100}})
	cj, _ := json.Marshal(map[string]any{"tokenizer_class": "BertTokenizer"})
	if err := os.WriteFile(filepath.Join(tokDir, "tokenizer.json"), tj, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tokDir, "tokenizer_config.json"), cj, 0o644); err != nil {
		t.Fatal(err)
	}
	c := testmodels.Tiny()
	c.Tokenizer, c.ForcedEOS, c.EOSBias, c.Seed = tokDir, nil, eosBias, 7
	dir := t.TempDir()
	if err := testmodels.WriteBART(dir, c); err != nil {
		t.Fatal(err)
	}
	m, err := optimum.LoadSeq2Seq(dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if m.Vocab != n {
		t.Fatalf("vocabulary %d, want %d", m.Vocab, n)
	}
	return m
}

func TestBeamModelFindsExhaustiveOptimum(t *testing.T) {
	orttest.Need(t)
	const vocab, maxLen = 20, 4
	const bias = 5 // EOS competes: the optimum changes with length_penalty
	m := loadSmallVocab(t, vocab, bias)
	input := [][]int{{0, 5, 9, 7, 12, 2}}
	mask := [][]int{{1, 1, 1, 1, 1, 1}}
	// The reference evaluates every prefix on its own (batch 1, no cache).
	r := newRun(m, 1, &Options{})
	defer r.close()
	if err := r.encode(flat(input), flat(mask), 1, len(input[0]), 1); err != nil {
		t.Fatal(err)
	}
	ref := &modelStepper{r: r, noCache: true}
	memo := map[string][]float64{}
	lps := func(ids []int) []float64 {
		k := fmt.Sprint(ids)
		if v, ok := memo[k]; ok {
			return v
		}
		logits, err := ref.next([][]int{ids}, nil)
		if err != nil {
			t.Fatal(err)
		}
		memo[k] = refLogSoftmax(logits)
		return memo[k]
	}
	eos := m.Generation.EOSTokenIDs[0]
	off := -1
	for _, lp := range []float64{-1, 0, 1, 2} {
		want, wantScore := exhaustive(lps, m.Generation.DecoderStartTokenID, eos, maxLen, lp)
		res, err := Beam(m, input, mask, Options{NumBeams: wideBeam(vocab, maxLen), MaxLength: maxLen, LengthPenalty: &lp,
			EarlyStopping: StopNever, ForcedEOS: &off})
		if err != nil {
			t.Fatal(err)
		}
		got := res.IDs[0]
		for len(got) > len(want) && got[len(got)-1] == m.Generation.PadTokenID {
			got = got[:len(got)-1]
		}
		// ONNX Runtime's float32 logits differ by ~1e-7 between this batch of
		// thousands of cached rows and the reference's single uncached rows,
		// so the sums of log-probabilities are compared to 1e-6 (the score
		// is the sum times len^-length_penalty).
		scale := math.Pow(float64(len(want)-1), -lp)
		if !slices.Equal(got, want) || math.Abs(res.Scores[0]-wantScore)/scale > 1e-6 {
			t.Errorf("length_penalty %g: beam %v %.9f, exhaustive %v %.9f", lp, res.IDs[0], res.Scores[0], want, wantScore)
		}
		t.Logf("length_penalty %2g: optimum of %d sequences %v score %.6f; beam of %d: |Δscore| = %.2g, |Δsum| = %.2g",
			lp, len(memo)*vocab, want, wantScore, wideBeam(vocab, maxLen), math.Abs(res.Scores[0]-wantScore), math.Abs(res.Scores[0]-wantScore)/scale)
	}
}

func trimPad(row []int, pad int) []int {
	for len(row) > 2 && row[len(row)-1] == pad {
		row = row[:len(row)-1]
	}
	return row
}

func TestBeamOneBeamEqualsGreedy(t *testing.T) {
	orttest.Need(t)
	m := loadTiny(t, false)
	var enc [][]int
	for _, s := range []string{"the lecture starts", "a much longer input about entropy and heat", "hi"} {
		enc = append(enc, m.Tokenizer.Encode(s))
	}
	ids, mask := Pad(enc, m.Generation.PadTokenID)
	for _, o := range []Options{{}, {MaxLength: 7}, {MinLength: 5}} {
		g, err := Greedy(m, ids, mask, o)
		if err != nil {
			t.Fatal(err)
		}
		o.NumBeams = 1
		b, err := Beam(m, ids, mask, o)
		if err != nil {
			t.Fatal(err)
		}
		gen, err := Generate(m, ids, mask, o)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ids {
			want := trimPad(g.IDs[i], m.Generation.PadTokenID)
			if got := trimPad(b.IDs[i], m.Generation.PadTokenID); !slices.Equal(got, want) {
				t.Errorf("%+v row %d: one beam %v, greedy %v", o, i, got, want)
			}
			if !slices.Equal(gen.IDs[i], g.IDs[i]) {
				t.Errorf("Generate with num_beams 1 is not Greedy: %v vs %v", gen.IDs[i], g.IDs[i])
			}
		}
		t.Logf("%+v: greedy = 1 beam: %v", o, g.IDs)
	}
}

func TestBeamBatchPaddingCacheAndSplitDecoder(t *testing.T) {
	orttest.Need(t)
	texts := []string{"the lecture starts", "a much longer input about entropy and heat", "hi", "rivers carry sediment"}
	lp := 1.5
	o := Options{NumBeams: 4, NumReturnSequences: 2, NoRepeatNGramSize: 3, LengthPenalty: &lp, MaxLength: 12}
	var first *Result
	for _, split := range []bool{false, true} {
		m := loadTiny(t, split)
		var enc [][]int
		for _, s := range texts {
			enc = append(enc, m.Tokenizer.Encode(s))
		}
		ids, mask := Pad(enc, m.Generation.PadTokenID)
		pad := m.Generation.PadTokenID
		for _, noCache := range []bool{false, true} {
			o.NoCache = noCache
			res, err := Beam(m, ids, mask, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.IDs) != len(texts)*2 {
				t.Fatalf("%d rows, want %d", len(res.IDs), len(texts)*2)
			}
			for i, e := range enc {
				one, err := Beam(m, [][]int{e}, [][]int{slices.Repeat([]int{1}, len(e))}, o)
				if err != nil {
					t.Fatal(err)
				}
				for j := range 2 {
					got, want := trimPad(res.IDs[2*i+j], pad), trimPad(one.IDs[j], pad)
					if !slices.Equal(got, want) || math.Abs(res.Scores[2*i+j]-one.Scores[j]) > 1e-5 {
						t.Errorf("split=%v noCache=%v input %d hyp %d: batch %v %g, alone %v %g", split, noCache, i, j, got, res.Scores[2*i+j], want, one.Scores[j])
					}
					if repeatsNGram(got, 3) {
						t.Errorf("%v repeats a trigram", got)
					}
				}
			}
			if first == nil {
				first = res
				t.Logf("4 beams, 2 returned, no_repeat_ngram_size 3, length_penalty 1.5: %v scores %.4f", res.IDs, res.Scores)
				continue
			}
			for i := range res.IDs {
				if !slices.Equal(res.IDs[i], first.IDs[i]) || math.Abs(res.Scores[i]-first.Scores[i]) > 1e-5 {
					t.Errorf("split=%v noCache=%v row %d: %v %g, merged decoder with cache %v %g", split, noCache, i, res.IDs[i], res.Scores[i], first.IDs[i], first.Scores[i])
				}
			}
		}
	}
}

func TestBeamReadsGenerationConfig(t *testing.T) {
	orttest.Need(t)
	m := loadTiny(t, false)
	gc := filepath.Join(m.Dir, "generation_config.json")
	b, _ := os.ReadFile(gc)
	var j map[string]any
	json.Unmarshal(b, &j)
	j["num_beams"], j["length_penalty"], j["early_stopping"], j["no_repeat_ngram_size"] = 3, 2.0, "never", 2
	b, _ = json.Marshal(j)
	os.WriteFile(gc, b, 0o644)
	s, err := readBeam(m.Dir)
	if err != nil || s.numBeams != 3 || s.lengthPenalty != 2 || s.early != StopNever || s.noRepeat != 2 {
		t.Fatalf("%+v %v", s, err)
	}
	ids := [][]int{m.Tokenizer.Encode("generation config")}
	mask := [][]int{slices.Repeat([]int{1}, len(ids[0]))}
	two, lp, one := 2, 2.0, 1
	viaFolder, err := Generate(m, ids, mask, Options{})
	if err != nil {
		t.Fatal(err)
	}
	explicit, err := Beam(m, ids, mask, Options{NumBeams: 3, NoRepeatNGramSize: two, LengthPenalty: &lp, EarlyStopping: "never"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(viaFolder.IDs[0], explicit.IDs[0]) || viaFolder.Scores == nil {
		t.Errorf("folder settings %v, explicit %v", viaFolder.IDs, explicit.IDs)
	}
	greedy, err := Generate(m, ids, mask, Options{NumBeams: one})
	if err != nil || greedy.Scores != nil {
		t.Errorf("num_beams 1 should be greedy: %v", err)
	}
}
