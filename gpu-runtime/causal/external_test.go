//go:build cgo

package causal

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// TestExternalDataFolder: the same weights in onnx/model.onnx_data (ONNX
// external data, the layout of large onnx-community exports) load and give
// the same logits and tokens as the single-file folder; a missing or
// truncated data file is a clear error naming it.
func TestExternalDataFolder(t *testing.T) {
	needORT(t)
	c := testmodels.TinyQwen()
	c.ExternalData = true
	dir := t.TempDir()
	if err := testmodels.WriteQwen2(dir, c); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "onnx", "model.onnx_data"))
	if err != nil {
		t.Fatal(err)
	}
	small, _ := os.Stat(filepath.Join(dir, "onnx", "model.onnx"))
	if small.Size() > st.Size()/4 {
		t.Errorf("model.onnx %d bytes, model.onnx_data %d: the weights should be outside", small.Size(), st.Size())
	}
	ext, err := Load(dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	inline := loadTiny(t, false)
	prompts := [][]int{inline.Tokenizer.EncodePlain("the cat sat on the mat"), inline.Tokenizer.EncodePlain("ok")}
	a, err := Generate(context.Background(), ext, prompts, Options{MaxNewTokens: 16, RepetitionPenalty: 1.3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(context.Background(), inline, prompts, Options{MaxNewTokens: 16, RepetitionPenalty: 1.3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range prompts {
		if !slices.Equal(a.Tokens[i], b.Tokens[i]) || !slices.Equal(a.FirstLogits[i], b.FirstLogits[i]) {
			t.Errorf("row %d: external data gives %v, single file %v", i, a.Tokens[i], b.Tokens[i])
		}
	}

	data := filepath.Join(dir, "onnx", "model.onnx_data")
	os.Truncate(data, st.Size()/2)
	if _, _, err := Check(dir); lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), data) {
		t.Errorf("truncated data file: %v", err)
	}
	os.Remove(data)
	if _, _, err := Check(dir); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(err.Error(), data) {
		t.Errorf("missing data file: %v", err)
	}
}

// TestLastLogitsModes: the session with the lm_head on the last position
// only (in a temporary folder with hard links, or beside the model when
// the temporary folder cannot be made) and the model as it is give the
// same tokens and first-step logits, and no copy is left behind.
func TestLastLogitsModes(t *testing.T) {
	needORT(t)
	c := testmodels.TinyQwen()
	c.ExternalData = true
	dir := t.TempDir()
	if err := testmodels.WriteQwen2(dir, c); err != nil {
		t.Fatal(err)
	}
	prompts := [][]int{{1, 2, 3, 4, 5, 6, 7, 8}, {9, 10}}
	run := func(mode string, noCache bool) *Result {
		m, err := Load(dir, ort.Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		defer m.Close()
		if want := mode != "as is"; m.lastOnly != want {
			t.Errorf("%s: lastOnly %v, want %v", mode, m.lastOnly, want)
		}
		if want := map[bool]int{true: 2 * c.Layers}[mode != "as is"]; m.grouped != want {
			t.Errorf("%s: %d attention products regrouped, want %d", mode, m.grouped, want)
		}
		res, err := Generate(context.Background(), m, prompts, Options{MaxNewTokens: 12, NoCache: noCache})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		return res
	}
	linked := run("linked", false)
	results := map[string]*Result{"linked, no cache": run("linked", true)}
	lastLogits = false
	results["as is"] = run("as is", false)
	lastLogits = true
	t.Setenv("TMPDIR", filepath.Join(dir, "no-such-dir"))
	results["beside"] = run("beside", false)
	entries, _ := os.ReadDir(filepath.Join(dir, "onnx"))
	if len(entries) != 2 {
		t.Errorf("onnx/ holds %d files after loading, want model.onnx and model.onnx_data (the copy removed)", len(entries))
	}
	for name, r := range results {
		for i := range prompts {
			if !slices.Equal(r.Tokens[i], linked.Tokens[i]) {
				t.Errorf("%s row %d: tokens %v, linked copy %v", name, i, r.Tokens[i], linked.Tokens[i])
			}
			for j := range r.FirstLogits[i] {
				if d := r.FirstLogits[i][j] - linked.FirstLogits[i][j]; d > 1e-5 || d < -1e-5 {
					t.Fatalf("%s row %d: first logits differ by %g", name, i, d)
				}
			}
		}
	}
}

// TestGroupedAttention: the copy that multiplies each group of query heads
// by its key head and each query head by its value head without repeating
// them gives the same tokens as the graph that repeats them, for rows of different lengths (padding in the mask),
// with and without the cache, and first-step logits equal to float32
// rounding: the same dot products of the same numbers.
func TestGroupedAttention(t *testing.T) {
	needORT(t)
	for _, c := range []testmodels.QwenConfig{testmodels.TinyQwen(), func() testmodels.QwenConfig {
		c := testmodels.TinyQwen()
		c.Heads, c.KVHeads = 8, 2 // 4 query heads a group
		return c
	}()} {
		dir := t.TempDir()
		if err := testmodels.WriteQwen2(dir, c); err != nil {
			t.Fatal(err)
		}
		prompts := [][]int{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {12, 13}, {14}}
		run := func(grouped, noCache bool) *Result {
			groupedAttention = grouped
			defer func() { groupedAttention = true }()
			m, err := Load(dir, ort.Options{IntraOpThreads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if want := map[bool]int{true: 2 * c.Layers}[grouped]; m.grouped != want {
				t.Fatalf("heads %d/%d: %d products regrouped, want %d", c.Heads, c.KVHeads, m.grouped, want)
			}
			res, err := Generate(context.Background(), m, prompts, Options{MaxNewTokens: 24, NoCache: noCache})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		want := run(false, false)
		for _, noCache := range []bool{false, true} {
			got := run(true, noCache)
			for i := range prompts {
				if !slices.Equal(got.Tokens[i], want.Tokens[i]) {
					t.Errorf("heads %d/%d, no cache %v, row %d: tokens %v, repeated cache %v", c.Heads, c.KVHeads, noCache, i, got.Tokens[i], want.Tokens[i])
				}
				worst := 0.0
				for j := range got.FirstLogits[i] {
					worst = max(worst, math.Abs(float64(got.FirstLogits[i][j]-want.FirstLogits[i][j])))
				}
				if worst > 1e-5 {
					t.Errorf("heads %d/%d, no cache %v, row %d: first logits differ by up to %g", c.Heads, c.KVHeads, noCache, i, worst)
				}
			}
		}
	}
}

// TestKeptCopy: with an optimised-model cache folder the rewritten copy is
// kept there (hard links to the data files, the marker last), taken as it
// is by the next load, written again when the source changes (the old copy
// removed), and the tokens are those of a load without the folder.
func TestKeptCopy(t *testing.T) {
	needORT(t)
	c := testmodels.TinyQwen()
	c.ExternalData = true
	dir, cache := t.TempDir(), t.TempDir()
	if err := testmodels.WriteQwen2(dir, c); err != nil {
		t.Fatal(err)
	}
	prompts := [][]int{{1, 2, 3, 4, 5, 6, 7, 8}, {9, 10}}
	generate := func(cacheDir string) (*Result, *Model) {
		m, err := Load(dir, ort.Options{IntraOpThreads: 1, OptimizedCacheDir: cacheDir})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		res, err := Generate(context.Background(), m, prompts, Options{MaxNewTokens: 12})
		if err != nil {
			t.Fatal(err)
		}
		return res, m
	}
	kept := func() (string, os.FileInfo) {
		t.Helper()
		dirs, _ := filepath.Glob(filepath.Join(cache, "causal-*"))
		if len(dirs) != 1 {
			t.Fatalf("%d kept copies %v, want 1", len(dirs), dirs)
		}
		st, err := os.Stat(filepath.Join(dirs[0], keptMarker))
		if err != nil {
			t.Fatal(err)
		}
		return dirs[0], st
	}
	want, _ := generate("")
	got, m := generate(cache)
	first, st1 := kept()
	if !m.lastOnly || m.grouped != 2*c.Layers {
		t.Errorf("kept copy: lastOnly %v, %d products regrouped", m.lastOnly, m.grouped)
	}
	src, _ := os.Stat(filepath.Join(dir, "onnx", "model.onnx_data"))
	if link, err := os.Stat(filepath.Join(first, "model.onnx_data")); err != nil || !os.SameFile(src, link) {
		t.Errorf("data file in the kept copy is not a hard link to the model's: %v", err)
	}
	again, m2 := generate(cache)
	second, st2 := kept()
	if second != first || !st2.ModTime().Equal(st1.ModTime()) || m2.grouped != 2*c.Layers {
		t.Errorf("second load wrote the copy again (%s, %v → %v)", second, st1.ModTime(), st2.ModTime())
	}
	// a kept copy whose model file went missing is written again
	os.Remove(filepath.Join(first, "model.onnx"))
	if r, _ := generate(cache); !slices.Equal(r.Tokens[0], want.Tokens[0]) {
		t.Errorf("after the kept model file went missing: tokens %v", r.Tokens[0])
	}
	if d, _ := kept(); d != first {
		t.Errorf("rewritten copy in %s, want %s", d, first)
	}
	orts := func() []string { p, _ := filepath.Glob(filepath.Join(cache, "*.ort")); return p }
	if len(orts()) != 1 {
		t.Errorf("ONNX Runtime's cache files %v, want the kept copy's", orts())
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(dir, "onnx", "model.onnx"), later, later)
	changed, _ := generate(cache)
	third, _ := kept()
	if third == first {
		t.Errorf("changed source: still the old copy %s", third)
	}
	if o := orts(); len(o) != 1 {
		t.Errorf("ONNX Runtime's cache files %v after the change, want the new copy's only", o)
	}
	// a replaced data file (the graph file as it was) gets a new copy too:
	// the kept one links the old data
	data := filepath.Join(dir, "onnx", "model.onnx_data")
	b, _ := os.ReadFile(data)
	os.Remove(data)
	os.WriteFile(data, b, 0o644)
	generate(cache)
	if fourth, _ := kept(); fourth == third {
		t.Errorf("replaced data file: still the copy %s linking the old one", fourth)
	}
	if tmp, _ := filepath.Glob(filepath.Join(cache, ".causal-*")); len(tmp) != 0 {
		t.Errorf("temporary folders left: %v", tmp)
	}
	for name, r := range map[string]*Result{"kept": got, "kept again": again, "after a change": changed} {
		for i := range prompts {
			if !slices.Equal(r.Tokens[i], want.Tokens[i]) {
				t.Errorf("%s row %d: tokens %v, without the cache %v", name, i, r.Tokens[i], want.Tokens[i])
			}
		}
	}
}
