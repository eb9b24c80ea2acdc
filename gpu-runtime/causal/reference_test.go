//go:build cgo

package causal

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

const requireEnv = "TRANSCEPT_REQUIRE_SERVICES"

func needORT(t testing.TB) {
	t.Helper()
	if _, err := ort.Init(); err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%v (%s=1 requires it)", err, requireEnv)
		}
		t.Skipf("%v (or set %s=1 to fail instead of skipping)", err, requireEnv)
	}
}

// reference is tests/reference/causal-greedy.mjs's output for a TinyQwen
// folder (regenerate with tests/reference/causal-refs.sh).
type reference struct {
	VocabSize int `json:"vocab_size"`
	Cases     []struct {
		Name    string   `json:"name"`
		Texts   []string `json:"texts"`
		Options struct {
			MaxNewTokens      int     `json:"max_new_tokens"`
			EOS               []int   `json:"eos_token_id"`
			RepetitionPenalty float64 `json:"repetition_penalty"`
			NoRepeatNGramSize int     `json:"no_repeat_ngram_size"`
			MinNewTokens      int     `json:"min_new_tokens"`
		} `json:"options"`
		InputIDs      [][]int     `json:"input_ids"`
		AttentionMask [][]int     `json:"attention_mask"`
		OutputIDs     [][]int     `json:"output_ids"`
		FirstLogits   [][]float32 `json:"first_logits"`
	} `json:"cases"`
	Sampling []struct {
		Temperature   float64     `json:"temperature"`
		TopK          int         `json:"top_k"`
		TopP          float64     `json:"top_p"`
		Distributions [][]float64 `json:"distributions"`
	} `json:"sampling"`
}

func readReference(t testing.TB, path string) *reference {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return &ref
}

func loadTiny(t testing.TB, tied bool) *Model {
	t.Helper()
	c := testmodels.TinyQwen()
	c.Tied = tied
	dir := t.TempDir()
	if err := testmodels.WriteQwen2(dir, c); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// untilEOS is a generated row up to and including its first EOS:
// transformers.js keeps generating for rows that have ended while others
// have not (and stops only when every row's last token is an EOS at once);
// Hugging Face and this package stop a row at its EOS.
func untilEOS(row []int, eos []int) []int {
	for i, id := range row {
		if slices.Contains(eos, id) {
			return row[:i+1]
		}
	}
	return row
}

// logitTol bounds first-step logits against the committed references, which
// another machine computed: float32 sums of ≤ 128 products through 2
// layers, which other kernels (AVX2 or AVX-512, prepacked or not) round
// differently by a few ulp (an ulp is 1.9e-6 at |logit| = 16); 1e-4 +
// 1e-4·|logit| is over 10× that, and a wrong mask, position or cache moves
// logits by far more. Token ids are compared exactly.
var logitTol = orttest.Tol{Abs: 1e-4, Rel: 1e-4}

func TestGreedyMatchesTransformersJS(t *testing.T) {
	needORT(t)
	for _, tc := range []struct {
		file string
		tied bool
	}{{"testdata/greedy-tiny.json", false}, {"testdata/greedy-tiny-tied.json", true}} {
		ref := readReference(t, tc.file)
		m := loadTiny(t, tc.tied)
		if m.Vocab != ref.VocabSize {
			t.Fatalf("model vocab %d, reference %d: regenerate testdata", m.Vocab, ref.VocabSize)
		}
		var worst float64
		rows, prompts, processed := 0, 0, 0
		for _, c := range ref.Cases {
			// our tokenizer and left padding give the reference's inputs
			var enc [][]int
			for _, s := range c.Texts {
				enc = append(enc, m.Tokenizer.EncodePlain(s))
			}
			ids, mask := LeftPad(enc, m.Generation.PadTokenID)
			if !slices.EqualFunc(ids, c.InputIDs, slices.Equal) || !slices.EqualFunc(mask, c.AttentionMask, slices.Equal) {
				t.Errorf("%s: tokenizer and padding give %v / %v, transformers.js %v / %v", c.Name, ids, mask, c.InputIDs, c.AttentionMask)
			}
			eos := m.Generation.EOSTokenIDs
			if c.Options.EOS != nil {
				eos = c.Options.EOS
			}
			for _, noCache := range []bool{false, true} {
				o := Options{MaxNewTokens: c.Options.MaxNewTokens, EOS: c.Options.EOS, NoCache: noCache,
					RepetitionPenalty: c.Options.RepetitionPenalty, NoRepeatNGramSize: c.Options.NoRepeatNGramSize,
					MinNewTokens: c.Options.MinNewTokens}
				res, err := Generate(context.Background(), m, enc, o)
				if err != nil {
					t.Fatalf("%s noCache=%v: %v", c.Name, noCache, err)
				}
				longest := 0
				for i, full := range c.OutputIDs {
					want := untilEOS(full[len(c.InputIDs[i]):], eos)
					longest = max(longest, len(want))
					if got := res.Tokens[i]; !slices.Equal(got, want) {
						t.Errorf("%s noCache=%v row %d:\n got %v\nwant %v", c.Name, noCache, i, got, want)
					}
					if fin := slices.Contains(eos, want[len(want)-1]); res.Finished[i] != fin {
						t.Errorf("%s row %d: finished %v, want %v", c.Name, i, res.Finished[i], fin)
					}
					worst = max(worst, orttest.Compare(t, fmt.Sprintf("tied=%v %s noCache=%v row %d first-step logits", tc.tied, c.Name, noCache, i),
						res.FirstLogits[i], c.FirstLogits[i], logitTol))
					if !noCache {
						rows++
					}
				}
				if res.Steps != longest {
					t.Errorf("%s: ran %d steps, want %d (stop when every row has ended)", c.Name, res.Steps, longest)
				}
			}
			prompts++
			if c.Options.RepetitionPenalty != 0 || c.Options.NoRepeatNGramSize != 0 || c.Options.MinNewTokens != 0 {
				processed++
			}
		}
		t.Logf("tied=%v: %d cases (%d with repetition_penalty / no_repeat_ngram_size / min_new_tokens), %d rows (with and without the cache), ids compared exactly; max |first-step logit diff| = %.3g (tolerance %g + %g·|logit|)",
			tc.tied, prompts, processed, rows, worst, logitTol.Abs, logitTol.Rel)
		if processed < 12 {
			t.Errorf("reference has %d repetition_penalty / no_repeat_ngram_size cases, want 12: regenerate testdata", processed)
		}
	}
}

func TestDistributionMatchesReference(t *testing.T) {
	// pure arithmetic on the reference's logits: no ONNX Runtime needed
	for _, file := range []string{"testdata/greedy-tiny.json", "testdata/greedy-tiny-tied.json"} {
		ref := readReference(t, file)
		var logits [][]float32
		for _, c := range ref.Cases {
			if c.Name == "batch4-left-padded" {
				logits = c.FirstLogits
			}
		}
		if logits == nil {
			t.Fatal("reference has no batch4-left-padded case")
		}
		var worst float64
		n := 0
		for _, s := range ref.Sampling {
			sm, err := NewSampler(Sampling{Temperature: s.Temperature, TopK: s.TopK, TopP: s.TopP})
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range s.Distributions {
				got := sm.Distribution(logits[i])
				kept, wantKept := 0, 0
				for j := range got {
					worst = max(worst, math.Abs(got[j]-want[j]))
					if got[j] > 0 {
						kept++
					}
					if want[j] > 0 {
						wantKept++
					}
				}
				if kept != wantKept {
					t.Errorf("%s T=%g k=%d p=%g row %d: %d tokens kept, reference %d", file, s.Temperature, s.TopK, s.TopP, i, kept, wantKept)
				}
				n++
			}
		}
		t.Logf("%s: %d distributions after temperature/top-k/top-p; max |p diff| = %.3g", file, n, worst)
		// float64 arithmetic on the committed logits: only math.Exp's last bit
		// may vary between CPUs (FMA or not), ~1e-16, so 1e-6 holds anywhere,
		// and top-p keeps the same tokens unless a cumulative sum is that close to p.
		if worst > 1e-6 {
			t.Errorf("distributions differ by %g > 1e-6", worst)
		}
	}
}
