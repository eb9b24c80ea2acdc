//go:build cgo

package seq2seq

import (
	"encoding/json"
	"fmt"
	"github.com/transcept/transcept/gpu-runtime/ort/orttest"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/model"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/testmodels"
)

// reference is tests/reference/seq2seq-greedy.mjs's output for the Tiny()
// folder (regenerate with tests/reference/seq2seq-refs.sh).
type reference struct {
	VocabSize int `json:"vocab_size"`
	Cases     []struct {
		Name          string         `json:"name"`
		Texts         []string       `json:"texts"`
		Options       map[string]int `json:"options"`
		InputIDs      [][]int        `json:"input_ids"`
		AttentionMask [][]int        `json:"attention_mask"`
		OutputIDs     [][]int        `json:"output_ids"`
		FirstLogits   []float32      `json:"first_logits"`
		Batch         int            `json:"batch"`
	} `json:"cases"`
}

func loadTiny(t *testing.T, split bool) *model.Seq2Seq {
	t.Helper()
	return loadFolder(t, writeTiny(t, split), ort.Options{IntraOpThreads: 1})
}

func writeTiny(t *testing.T, split bool) string {
	t.Helper()
	c := testmodels.Tiny()
	c.SplitDecoder, c.NoMerged = split, split
	dir := t.TempDir()
	if err := testmodels.WriteBART(dir, c); err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadFolder(t *testing.T, dir string, o ort.Options) *model.Seq2Seq {
	t.Helper()
	m, err := model.LoadSeq2Seq(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// tinyLoad is a loaded folder; exact says its logits must equal
// transformers.js's to the bit.
type tinyLoad struct {
	name  string
	m     *model.Seq2Seq
	exact bool
}

// tinyLoads are the ways a Tiny() folder is loaded for comparing with
// transformers.js: from the .onnx files, and through the optimised-model
// cache twice (the first load writes it, the second runs from it), and
// from the cache without prepacked weights.
func tinyLoads(t *testing.T, split bool) []tinyLoad {
	dir, cache := writeTiny(t, split), t.TempDir()
	plain := ort.Options{IntraOpThreads: 1}
	cached := ort.Options{IntraOpThreads: 1, OptimizedCacheDir: cache}
	noPrepack := cached
	noPrepack.NoPrepack = true
	building := loadFolder(t, dir, cached)
	fromCache := loadFolder(t, dir, cached)
	if building.Decoder.Cached() || !fromCache.Decoder.Cached() || !fromCache.Encoder.Cached() {
		t.Fatalf("cache not used: first load cached=%v, second load cached=%v/%v",
			building.Decoder.Cached(), fromCache.Encoder.Cached(), fromCache.Decoder.Cached())
	}
	return []tinyLoad{{"source", loadFolder(t, dir, plain), true}, {"building cache", building, true},
		{"from cache", fromCache, true}, {"from cache, no prepacking", loadFolder(t, dir, noPrepack), false}}
}

func options(o map[string]int) Options {
	var opt Options
	for k, v := range o {
		v := v
		switch k {
		case "max_length":
			opt.MaxLength = v
		case "min_length":
			opt.MinLength = v
		case "forced_bos_token_id":
			opt.ForcedBOS = &v
		case "forced_eos_token_id":
			opt.ForcedEOS = &v
		}
	}
	return opt
}

// untilEOS is a row up to and including its first EOS (transformers.js
// keeps generating for rows that are done while others are not; Hugging
// Face pads them, and so do we).
func untilEOS(row []int, eos int) []int {
	if i := slices.Index(row[1:], eos); i >= 0 {
		return row[:i+2]
	}
	return row
}

func TestGreedyMatchesTransformersJS(t *testing.T) {
	orttest.Need(t)
	b, err := os.ReadFile("testdata/greedy-tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	for _, split := range []bool{false, true} {
		for _, load := range tinyLoads(t, split) {
			worst := compareWithReference(t, load.m, ref, fmt.Sprintf("split decoder=%v, %s", split, load.name))
			// the cache holds the same optimised graph: not a bit may change
			if load.exact && worst != 0 {
				t.Errorf("split decoder=%v, %s: first-step logits differ by %g, want bit-identical", split, load.name, worst)
			}
		}
	}
}

func compareWithReference(t *testing.T, m *model.Seq2Seq, ref reference, label string) float64 {
	t.Helper()
	if m.Vocab != ref.VocabSize {
		t.Fatalf("model vocab %d, reference %d: regenerate testdata", m.Vocab, ref.VocabSize)
	}
	var worst float64
	rows := 0
	for _, c := range ref.Cases {
		// our tokenizer gives the reference's padded inputs
		var enc [][]int
		for _, s := range c.Texts {
			enc = append(enc, m.Tokenizer.Encode(s))
		}
		ids, mask := Pad(enc, m.Generation.PadTokenID)
		if !slices.EqualFunc(ids, c.InputIDs, slices.Equal) || !slices.EqualFunc(mask, c.AttentionMask, slices.Equal) {
			t.Errorf("%s: tokenizer gives %v / %v, transformers.js %v / %v", c.Name, ids, mask, c.InputIDs, c.AttentionMask)
		}
		for _, noCache := range []bool{false, true} {
			o := options(c.Options)
			o.NoCache = noCache
			res, err := Greedy(m, c.InputIDs, c.AttentionMask, o)
			if err != nil {
				t.Fatalf("%s %s noCache=%v: %v", c.Name, label, noCache, err)
			}
			longest := 0
			for i, want := range c.OutputIDs {
				want = untilEOS(want, 2)
				longest = max(longest, len(want))
				got := res.IDs[i]
				if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
					t.Errorf("%s %s noCache=%v row %d:\n got %v\nwant %v", c.Name, label, noCache, i, got, want)
					continue
				}
				for _, p := range got[len(want):] {
					if p != m.Generation.PadTokenID {
						t.Errorf("%s row %d: %v continues after EOS with %d, want padding", c.Name, i, got, p)
						break
					}
				}
				v := ref.VocabSize
				for j, x := range res.FirstLogits[i] {
					worst = max(worst, math.Abs(float64(x-c.FirstLogits[i*v+j])))
				}
				rows++
			}
			if len(res.IDs[0]) != longest {
				t.Errorf("%s: generated %d tokens, want %d (stop when every row has ended)", c.Name, len(res.IDs[0]), longest)
			}
		}
	}
	t.Logf("%s: %d rows × (cache, no cache) identical to transformers.js; max |first-step logit diff| = %.3g", label, rows/2, worst)
	if worst > 1e-4 {
		t.Errorf("first-step logits differ by %g > 1e-4", worst)
	}
	return worst
}
