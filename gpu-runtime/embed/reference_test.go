//go:build cgo

package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/bertgen"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// tinyFolder writes bertgen.Tiny() into a temporary folder.
func tinyFolder(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-bert")
	if err := bertgen.Write(dir, bertgen.Tiny()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t testing.TB, dir string, o Options) *Embedder {
	t.Helper()
	e, err := Load(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// refCase is one pipeline call of tests/reference/embed-features.mjs.
type refCase struct {
	Name          string      `json:"name"`
	Texts         []string    `json:"texts"`
	InputIDs      [][]int     `json:"input_ids"`
	AttentionMask [][]int     `json:"attention_mask"`
	Dims          []int       `json:"dims"`
	Vectors       [][]float32 `json:"vectors"`
	CLSVectors    [][]float32 `json:"cls_vectors"`
}

// transformersJS runs tests/reference/embed-features.mjs on dir.
func transformersJS(t *testing.T, dir string) []refCase {
	t.Helper()
	ref, err := filepath.Abs(filepath.Join("..", "..", "tests", "reference"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ref, "node_modules", "@huggingface", "transformers")); err != nil {
		svctest.Missing(t, "transformers.js is not installed in %s/node_modules; run `make reference`", ref)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		svctest.Missing(t, "node is not on PATH")
	}
	cmd := exec.Command(node, "embed-features.mjs", dir)
	cmd.Dir = ref
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node embed-features.mjs: %v\n%s", err, stderr.String())
	}
	t.Logf("transformers.js took %v", time.Since(start).Round(time.Millisecond))
	var res struct {
		Cases []refCase `json:"cases"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("embed-features.mjs output: %v", err)
	}
	if len(res.Cases) == 0 {
		t.Fatal("embed-features.mjs gave no cases")
	}
	return res.Cases
}

// TestTransformersJS: every component of every vector within 1e-5 of
// transformers.js's feature-extraction pipeline (mean pooling, normalize),
// with the same ids, on one batch per call or with several small batches.
func TestTransformersJS(t *testing.T) {
	orttest.Need(t)
	compareTransformersJS(t, bertgen.Tiny(), []Options{{IntraOpThreads: 1}, {BatchSize: 3}, {BatchSize: 1, Optimization: ort.OptimizeNone}, {Pooling: PoolCLS, BatchSize: 5}})
}

// TestTransformersJSMiniLMShape is the same comparison at all-MiniLM-L6-v2's
// size (hidden 384, 6 layers, 12 heads; a 90 MB folder, where ONNX Runtime's
// larger kernels and fusions run), truncating at 24 tokens.
func TestTransformersJSMiniLMShape(t *testing.T) {
	if testing.Short() {
		t.Skip("90 MB model; not with -short")
	}
	orttest.Need(t)
	c := bertgen.MiniLML6()
	c.MaxLength = 24
	compareTransformersJS(t, c, []Options{{}, {Pooling: PoolCLS}})
}

func compareTransformersJS(t *testing.T, cfg bertgen.Config, opts []Options) {
	dir := filepath.Join(t.TempDir(), "bert")
	if err := bertgen.Write(dir, cfg); err != nil {
		t.Fatal(err)
	}
	cases := transformersJS(t, dir)
	const tol = 1e-5
	for _, o := range opts {
		e := load(t, dir, o)
		if e.Dim() != cfg.Hidden || e.MaxLength() != cfg.MaxLength {
			t.Fatalf("Dim %d MaxLength %d, want %d and %d", e.Dim(), e.MaxLength(), cfg.Hidden, cfg.MaxLength)
		}
		worst, n, truncated := 0.0, 0, 0
		for _, c := range cases {
			// Same ids as transformers.js's tokenizer, padded to the longest.
			seq := len(c.InputIDs[0])
			for i, text := range c.Texts {
				ids := e.Encode(text)
				if len(e.tok.Encode(text)) > e.MaxLength() {
					truncated++
				}
				row := slices.Clone(ids)
				mask := slices.Repeat([]int{1}, len(ids))
				for len(row) < seq {
					row, mask = append(row, 0), append(mask, 0)
				}
				if !slices.Equal(row, c.InputIDs[i]) || !slices.Equal(mask, c.AttentionMask[i]) {
					t.Fatalf("%s text %d %q: ids %v mask %v, transformers.js %v %v", c.Name, i, text, row, mask, c.InputIDs[i], c.AttentionMask[i])
				}
			}
			got, err := e.Embed(context.Background(), c.Texts)
			if err != nil {
				t.Fatal(err)
			}
			want := c.Vectors
			if o.Pooling == PoolCLS {
				want = c.CLSVectors
			}
			if len(got) != len(want) || c.Dims[1] != e.Dim() {
				t.Fatalf("%s: %d vectors, transformers.js %d of dims %v", c.Name, len(got), len(c.Vectors), c.Dims)
			}
			for i := range got {
				n++
				for k := range got[i] {
					d := math.Abs(float64(got[i][k]) - float64(want[i][k]))
					worst = max(worst, d)
					if d > tol {
						t.Errorf("%s text %d %q component %d: %g, transformers.js %g", c.Name, i, c.Texts[i], k, got[i][k], want[i][k])
						break
					}
				}
			}
		}
		if truncated == 0 {
			t.Error("no reference text hit truncation")
		}
		t.Logf("pooling %s, batch size %d, %d threads, optimisation %s: %d texts in %d calls (%d truncated), max abs diff %.3g",
			e.pooling, e.batch, o.IntraOpThreads, o.Optimization, n, len(cases), truncated, worst)
	}
}
