//go:build cgo

package seq2seq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/svctest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
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

func loadTiny(t *testing.T, split bool) *optimum.Seq2Seq {
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

func loadFolder(t *testing.T, dir string, o ort.Options) *optimum.Seq2Seq {
	t.Helper()
	m, err := optimum.LoadSeq2Seq(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// tinyLoad is a loaded folder; exact says its logits must equal the
// "source" load's to the bit (same machine, same optimised graph).
type tinyLoad struct {
	name  string
	m     *optimum.Seq2Seq
	exact bool
}

// tinyLoads are the ways a Tiny() folder (returned too) is loaded for
// comparing with transformers.js: from the .onnx files first, then through
// the optimised-model cache twice (the first load writes it, the second
// runs from it), and from the cache without prepacked weights.
func tinyLoads(t *testing.T, split bool) (string, []tinyLoad) {
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
	return dir, []tinyLoad{{"source", loadFolder(t, dir, plain), true}, {"building cache", building, true},
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

// logitTol bounds first-step logits against the committed reference, which
// another machine computed: they are float32 sums of ≤ 64 products through
// 2+2 layers, and other kernels (AVX2 or AVX-512, prepacked or not) round
// them differently by a few ulp (7.63e-6 seen at |logit| ≈ 16); 1e-4 +
// 1e-4·|logit| is over 10× that, and a wrong mask, position or cache moves
// logits by far more.
var logitTol = orttest.Tol{Abs: 1e-4, Rel: 1e-4}

func parseReference(t *testing.T, b []byte) reference {
	t.Helper()
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestGreedyMatchesTransformersJS: every load gives transformers.js's ids
// exactly and its first-step logits within logitTol of the committed
// reference; the cache loads give the source load's logits bit for bit;
// and the source loads give those of transformers.js run here, on the same
// ONNX Runtime library and CPU, bit for bit.
func TestGreedyMatchesTransformersJS(t *testing.T) {
	orttest.Need(t)
	b, err := os.ReadFile("testdata/greedy-tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	committed := parseReference(t, b)
	var jsDir string
	var sources []*optimum.Seq2Seq
	for _, split := range []bool{false, true} {
		dir, loads := tinyLoads(t, split)
		if !split {
			jsDir = dir // transformers.js reads the merged decoder only; the weights are the same
		}
		var source [][]float32
		for _, load := range loads {
			label := fmt.Sprintf("split decoder=%v, %s", split, load.name)
			logits := compareWithReference(t, load.m, committed, label, logitTol)
			if source == nil {
				source, sources = logits, append(sources, load.m)
				continue
			}
			if !load.exact {
				continue
			}
			// the cache holds the same optimised graph, on the same machine: not a bit may change
			worst := 0.0
			for i := range logits {
				worst = max(worst, orttest.Compare(t, label+" vs source load", logits[i], source[i], orttest.Tol{}))
			}
			t.Logf("%s: max |first-step logit diff| from the source load = %g (want 0)", label, worst)
		}
	}
	t.Run("transformers.js here", func(t *testing.T) {
		here := parseReference(t, transformersJS(t, jsDir))
		for i, m := range sources {
			compareWithReference(t, m, here, fmt.Sprintf("split decoder=%v, source, vs transformers.js here", i == 1), orttest.Tol{})
		}
	})
}

// transformersJS runs tests/reference/seq2seq-greedy.mjs (what wrote
// testdata/greedy-tiny.json) on dir, on this machine.
func transformersJS(t *testing.T, dir string) []byte {
	t.Helper()
	ref, err := filepath.Abs(filepath.Join("..", "..", "tests", "reference"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ref, "node_modules", "@huggingface", "transformers")); err != nil {
		svctest.Missing(t, "transformers.js is not installed in %s/node_modules; run `make reference`", ref)
	}
	node, err := osexec.LookPath("node")
	if err != nil {
		svctest.Missing(t, "node is not on PATH")
	}
	cmd := osexec.Command(node, "seq2seq-greedy.mjs", dir)
	cmd.Dir = ref
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node seq2seq-greedy.mjs: %v\n%s", err, stderr.String())
	}
	return out
}

// compareWithReference requires ref's inputs and ids exactly and its
// first-step logits within tol, and returns our first-step logits (per
// case, without and with the cache, per row).
func compareWithReference(t *testing.T, m *optimum.Seq2Seq, ref reference, label string, tol orttest.Tol) [][]float32 {
	t.Helper()
	if m.Vocab != ref.VocabSize {
		t.Fatalf("model vocab %d, reference %d: regenerate testdata", m.Vocab, ref.VocabSize)
	}
	var worst float64
	var logits [][]float32
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
				worst = max(worst, orttest.Compare(t, fmt.Sprintf("%s %s noCache=%v row %d first-step logits", c.Name, label, noCache, i),
					res.FirstLogits[i], c.FirstLogits[i*v:(i+1)*v], tol))
				logits = append(logits, res.FirstLogits[i])
				rows++
			}
			if len(res.IDs[0]) != longest {
				t.Errorf("%s: generated %d tokens, want %d (stop when every row has ended)", c.Name, len(res.IDs[0]), longest)
			}
		}
	}
	t.Logf("%s: %d rows × (cache, no cache), ids compared exactly; max |first-step logit diff| = %.3g (tolerance %g + %g·|logit|)",
		label, rows/2, worst, tol.Abs, tol.Rel)
	return logits
}
