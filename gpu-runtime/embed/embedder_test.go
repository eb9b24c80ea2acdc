//go:build cgo

package embed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/tokenizer"
	"github.com/transcept/transcept/shared/text"
	"github.com/transcept/transcept/tests/testkit/bertgen"
	"github.com/transcept/transcept/tests/testkit/orttest"
)

var _ text.TokenCounter = (*tokenizer.Tokenizer)(nil) // what Embedder.Tokenizer gives

func TestEmbedBasics(t *testing.T) {
	orttest.Need(t)
	dir := tinyFolder(t)
	e := load(t, dir, Options{IntraOpThreads: 1, BatchSize: 2})
	if got, err := e.Embed(context.Background(), nil); err != nil || len(got) != 0 {
		t.Fatalf("no texts: %v %v", got, err)
	}
	texts := []string{"a short one", "", "a much longer sentence about thermodynamics and entropy", "a short one"}
	vs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if len(v) != e.Dim() {
			t.Fatalf("vector %d has %d components", i, len(v))
		}
		n := 0.0
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Errorf("vector %d has squared norm %g", i, n)
		}
	}
	if !slices.Equal(vs[0], vs[3]) {
		t.Error("the same text in two batches gives different vectors")
	}
	if slices.Equal(vs[0], vs[2]) {
		t.Error("different texts give the same vector")
	}
	// Order is kept although batches are sorted by length.
	one, _ := e.Embed(context.Background(), texts[2:3])
	if d := maxDiff(one[0], vs[2]); d > 1e-6 {
		t.Errorf("alone vs in a batch: differ by %g", d)
	}
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func TestModelIdentity(t *testing.T) {
	orttest.Need(t)
	dir := tinyFolder(t)
	e := load(t, dir, Options{})
	if !strings.HasPrefix(e.Model(), "tiny-bert@") || len(e.Model()) != len("tiny-bert@")+12 {
		t.Fatalf("Model() = %q", e.Model())
	}
	if again := load(t, dir, Options{}); again.Model() != e.Model() {
		t.Errorf("same folder, two identities: %s %s", e.Model(), again.Model())
	}
	// Another seed's weights: same config and size, another file time.
	c := bertgen.Tiny()
	c.Seed = 7
	other := filepath.Join(t.TempDir(), "tiny-bert")
	if err := bertgen.Write(other, c); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(other, "onnx", "model.onnx"), later, later)
	if o := load(t, other, Options{}); o.Model() == e.Model() {
		t.Errorf("different weights, same identity %s", o.Model())
	}
	// Another truncation length: another identity.
	c = bertgen.Tiny()
	c.MaxLength = 32
	third := filepath.Join(t.TempDir(), "tiny-bert")
	if err := bertgen.Write(third, c); err != nil {
		t.Fatal(err)
	}
	if o := load(t, third, Options{}); o.Model() == e.Model() || o.MaxLength() != 32 {
		t.Errorf("other tokenizer config: identity %s, max length %d", o.Model(), o.MaxLength())
	}
	if o := load(t, dir, Options{MaxLength: 8}); o.MaxLength() != 8 || len(o.Encode(strings.Repeat("word ", 50))) != 8 {
		t.Errorf("MaxLength option: %d", o.MaxLength())
	}
}

func TestEmbedCancelled(t *testing.T) {
	orttest.Need(t)
	e := load(t, tinyFolder(t), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Embed(ctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestEmbedConcurrent(t *testing.T) {
	orttest.Need(t)
	e := load(t, tinyFolder(t), Options{BatchSize: 3})
	texts := make([]string, 20)
	for i := range texts {
		texts[i] = fmt.Sprintf("sentence number %d about %s", i, strings.Repeat("lectures ", i%7))
	}
	want, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := e.Embed(context.Background(), texts[g:])
			if err != nil {
				errs <- err
				return
			}
			for i := range got {
				if d := maxDiff(got[i], want[g+i]); d > 1e-6 {
					errs <- fmt.Errorf("goroutine %d text %d differs by %g", g, g+i, d)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// benchSentences are 32 lecture-like sentences of varied length.
func benchSentences() []string {
	base := []string{
		"Today we continue with the second law of thermodynamics.",
		"Entropy measures the number of microstates compatible with a macrostate.",
		"Any questions so far?",
		"Let us write down the partition function for an ideal gas and take its logarithm carefully.",
		"The exam covers chapters three to seven, including the problem sets.",
		"Quicksort runs in n log n time on average but quadratic time in the worst case.",
		"Remember that the derivative of the free energy with respect to temperature gives minus the entropy.",
		"OK.",
	}
	out := make([]string, 32)
	for i := range out {
		out[i] = base[i%len(base)]
		if i >= len(base) {
			out[i] += fmt.Sprintf(" (part %d)", i/len(base))
		}
	}
	return out
}

// BenchmarkEmbed embeds a batch of 32 sentences. TRANSCEPT_EMBED_MODEL
// names a real model folder (e.g. all-MiniLM-L6-v2 from `make models`);
// otherwise bertgen writes a random-weight folder of all-MiniLM-L6-v2's
// shape (about 90 MB, a few seconds).
func BenchmarkEmbed(b *testing.B) {
	orttest.Need(b)
	dir := os.Getenv("TRANSCEPT_EMBED_MODEL")
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "minilm-l6-shape")
		if err := bertgen.Write(dir, bertgen.MiniLML6()); err != nil {
			b.Fatal(err)
		}
	}
	for _, threads := range []int{1, 0} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			e := load(b, dir, Options{IntraOpThreads: threads})
			texts := benchSentences()
			tokens := 0
			for _, s := range texts {
				tokens += len(e.Encode(s))
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.Embed(context.Background(), texts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/batch")
			b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
