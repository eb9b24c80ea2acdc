package bart

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/lora"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/text"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

var (
	folderOnce sync.Once
	folderDir  string
	folderErr  error
)

// tinyFolder is a random-weight BART folder (64 positions, so windows of
// 64 tokens) that does not favour EOS, written once per test binary.
func tinyFolder(t *testing.T) string {
	t.Helper()
	folderOnce.Do(func() {
		folderDir, folderErr = os.MkdirTemp("", "summarize-tiny-")
		if folderErr == nil {
			c := testmodels.Tiny()
			c.EOSBias = 0
			folderErr = testmodels.WriteBART(filepath.Join(folderDir, "tiny-bart"), c)
		}
	})
	if folderErr != nil {
		t.Fatal(folderErr)
	}
	return filepath.Join(folderDir, "tiny-bart")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if folderDir != "" {
		os.RemoveAll(folderDir)
	}
	os.Exit(code)
}

// lectureSentences is n timestamped sentences, 10 seconds each.
func lectureSentences(n int) []lecture.Sentence {
	topics := []string{"entropy", "heat engines", "the Carnot cycle", "free energy", "phase transitions"}
	var out []lecture.Sentence
	for i := range n {
		out = append(out, lecture.Sentence{Index: i, Segment: i,
			Text: fmt.Sprintf("In part %d we discuss %s and why it matters for the second law.", i, topics[i%len(topics)]),
			Span: lecture.Span{Start: float64(10 * i), End: float64(10*i + 9)}})
	}
	return out
}

func load(t *testing.T, o Options) *Summarizer {
	t.Helper()
	orttest.Need(t)
	if o.MinLength == 0 {
		o.MinLength = 8 // random weights: make every window say something
	}
	s, err := Load(tinyFolder(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestIdentityAndWindow(t *testing.T) {
	s := load(t, Options{})
	if s.Name() != "bart" {
		t.Errorf("Name = %q", s.Name())
	}
	if !strings.HasPrefix(s.Model(), "tiny-bart@") || len(s.Model()) != len("tiny-bart@")+12 {
		t.Errorf("Model = %q, want tiny-bart@<12 hex>", s.Model())
	}
	if s.WindowTokens() != 64 {
		t.Errorf("window = %d, want the model's 64 positions", s.WindowTokens())
	}
	// Another folder with other generation settings has another identity.
	dir := filepath.Join(t.TempDir(), "tiny-bart")
	c := testmodels.Tiny()
	c.EOSBias, c.MaxLength = 0, 18
	if err := testmodels.WriteBART(dir, c); err != nil {
		t.Fatal(err)
	}
	s2, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Model() == s.Model() {
		t.Errorf("different generation_config.json, same identity %q", s.Model())
	}
	// A copy has the same identity; with an adapter merged in (same file
	// sizes, a merge record) another one.
	cp := filepath.Join(t.TempDir(), "tiny-bart")
	if err := os.CopyFS(cp, os.DirFS(tinyFolder(t))); err != nil {
		t.Fatal(err)
	}
	s3, err := Load(cp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	os.WriteFile(filepath.Join(cp, lora.MergeRecordFile), []byte(`{"adapter": "x"}`), 0o644)
	s4, err := Load(cp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s4.Close()
	if s3.Model() != s.Model() || s4.Model() == s.Model() {
		t.Errorf("identity of the folder %q, a copy %q, the copy with a merge record %q", s.Model(), s3.Model(), s4.Model())
	}
}

func TestMapOverWindows(t *testing.T) {
	s := load(t, Options{BatchSize: 3})
	sents := lectureSentences(30) // about 20 tokens each: many 64-token windows
	ctx, tokens := lecture.WithTokenCount(context.Background())
	sum, passes, err := s.summarize(ctx, sents, lecture.SummarizeOptions{Ratio: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Every window generated at least one token and at most the model's
	// max_length (20): what the tokens-per-second metric counts.
	if n, w := tokens.Load(), int64(len(passes[0].windows)); n < w || n > 20*w {
		t.Errorf("%d generated tokens counted over %d windows", n, w)
	}
	if len(passes) != 1 {
		t.Fatalf("%d passes with a budget of every input word, want 1", len(passes))
	}
	p := passes[0]
	if len(p.windows) < 5 {
		t.Fatalf("%d windows for 30 sentences of 64-token windows, want several (more than one batch)", len(p.windows))
	}
	for i, w := range p.windows {
		if n := len(s.m.Tokenizer.Encode(w.Text)); n > s.WindowTokens() {
			t.Errorf("window %d has %d tokens, over %d", i, n, s.WindowTokens())
		}
		if strings.TrimSpace(p.outputs[i]) == "" {
			t.Errorf("window %d (%q) was not summarised", i, w.Text)
		}
		if i > 0 && w.Span.Start < p.windows[i-1].Span.End {
			t.Errorf("window %d span %v overlaps %v", i, w.Span, p.windows[i-1].Span)
		}
	}
	if sum.Engine != "bart" || sum.Model != s.Model() || sum.InputWords != totalWords(sents) || len(sum.Bullets) == 0 {
		t.Fatalf("summary %+v", sum)
	}
	// Bullets in time order, each carrying the span of a window.
	spans := map[lecture.Span]bool{}
	for _, w := range p.windows {
		spans[w.Span] = true
	}
	seen := map[string]bool{}
	words := 0
	for i, b := range sum.Bullets {
		if !spans[b.Span] {
			t.Errorf("bullet %d span %v is no window's", i, b.Span)
		}
		if i > 0 && b.Span.Start < sum.Bullets[i-1].Span.Start {
			t.Errorf("bullet %d at %v before bullet %d at %v", i, b.Span, i-1, sum.Bullets[i-1].Span)
		}
		if strings.TrimSpace(b.Text) == "" || seen[b.Text] {
			t.Errorf("bullet %d %q empty or repeated", i, b.Text)
		}
		seen[b.Text] = true
		words += text.WordCount(b.Text)
	}
	if sum.OutputWords != words {
		t.Errorf("OutputWords %d, bullets hold %d", sum.OutputWords, words)
	}
	// Batching does not change the result: one window per batch gives the same.
	one := load(t, Options{BatchSize: 1})
	_, passes1, err := one.summarize(context.Background(), sents, lecture.SummarizeOptions{Ratio: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.outputs {
		if passes1[0].outputs[i] != p.outputs[i] {
			t.Errorf("window %d: batch of 3 gave %q, alone %q", i, p.outputs[i], passes1[0].outputs[i])
		}
	}
}

func TestSecondPassAndBudget(t *testing.T) {
	s := load(t, Options{})
	sents := lectureSentences(30)
	sum, passes, err := s.summarize(context.Background(), sents, lecture.SummarizeOptions{MaxWords: 6})
	if err != nil {
		t.Fatal(err)
	}
	if len(passes) != 2 {
		t.Fatalf("%d passes, want the second pass (first pass gave %d words for a budget of 6)", len(passes), passes[0].words)
	}
	if passes[0].words <= 6 {
		t.Fatalf("first pass gave only %d words", passes[0].words)
	}
	// The second pass reads the first pass's bullets, so its windows span
	// the lecture's time, from the first window's start.
	if got, want := passes[1].windows[0].Span.Start, passes[0].windows[0].Span.Start; got != want {
		t.Errorf("second pass starts at %g, first at %g", got, want)
	}
	if sum.OutputWords > 6+1 || len(sum.Bullets) == 0 {
		t.Errorf("summary of %d words in %d bullets, budget 6", sum.OutputWords, len(sum.Bullets))
	}
	for _, b := range sum.Bullets {
		if !b.Span.Valid() {
			t.Errorf("bullet %q has no span", b.Text)
		}
	}
}

func TestLongSentenceAndUntimed(t *testing.T) {
	s := load(t, Options{})
	long := strings.Repeat("the lecture keeps talking about thermodynamics without any full stop ", 30)
	sum, passes, err := s.summarize(context.Background(), []lecture.Sentence{{Text: long, Span: lecture.Span{Start: -1, End: -1}}},
		lecture.SummarizeOptions{Ratio: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(passes[0].windows) < 2 {
		t.Errorf("a sentence longer than a window gave %d windows", len(passes[0].windows))
	}
	if len(sum.Bullets) == 0 || sum.Bullets[0].Span.Valid() {
		t.Errorf("bullets %+v: want some, without timestamps", sum.Bullets)
	}
}

func TestEmptyInput(t *testing.T) {
	s := load(t, Options{})
	for _, in := range [][]lecture.Sentence{nil, {{Text: "   "}}} {
		_, err := s.Summarize(context.Background(), in, lecture.SummarizeOptions{})
		if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), "nothing to summarise") {
			t.Errorf("input %v: %v", in, err)
		}
	}
}

func TestCancelled(t *testing.T) {
	s := load(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Summarize(ctx, lectureSentences(5), lecture.SummarizeOptions{}); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestBrokenFolders(t *testing.T) {
	orttest.Need(t)
	good := tinyFolder(t)
	copyFolder := func(t *testing.T) string {
		dst := filepath.Join(t.TempDir(), "m")
		if err := os.CopyFS(dst, os.DirFS(good)); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	cases := []struct {
		name  string
		make  func(t *testing.T) string
		code  string
		names string
	}{
		{"none-given", func(t *testing.T) string { return "" }, lecture.EINVALID, "needs a model folder"},
		{"missing-folder", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, lecture.ENOTFOUND, "nope does not exist"},
		{"no-config", func(t *testing.T) string {
			d := copyFolder(t)
			os.Remove(filepath.Join(d, "config.json"))
			return d
		}, lecture.ENOTFOUND, "config.json"},
		{"corrupt-encoder", func(t *testing.T) string {
			d := copyFolder(t)
			os.WriteFile(filepath.Join(d, "onnx", "encoder_model.onnx"), []byte("not a model"), 0o644)
			return d
		}, lecture.EINVALID, "encoder_model.onnx"},
		{"no-decoder", func(t *testing.T) string {
			d := copyFolder(t)
			os.Remove(filepath.Join(d, "onnx", "decoder_model_merged.onnx"))
			return d
		}, lecture.ENOTFOUND, "decoder_model_merged.onnx"},
		{"bad-tokenizer", func(t *testing.T) string {
			d := copyFolder(t)
			os.WriteFile(filepath.Join(d, "tokenizer.json"), []byte("{"), 0o644)
			return d
		}, lecture.EINVALID, "tokenizer.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Load(c.make(t), Options{})
			if err == nil {
				s.Close()
				t.Fatal("loaded")
			}
			if lecture.ErrorCode(err) != c.code || !strings.Contains(lecture.ErrorMessage(err), c.names) {
				t.Errorf("error %q (%s), want %s naming %q", lecture.ErrorMessage(err), lecture.ErrorCode(err), c.code, c.names)
			}
		})
	}
}

// loraFolders writes a LoRA BART folder over tinyFolder's base weights
// (same config and seed), its adapter and the merged-weights twin.
func loraFolders(t *testing.T, l testmodels.LoRA, mutate func(*testmodels.Config)) (dir, adapter, merged string) {
	t.Helper()
	c := testmodels.Tiny()
	c.EOSBias = 0
	if mutate != nil {
		mutate(&c)
	}
	root := t.TempDir()
	dir, adapter, merged = filepath.Join(root, "lora-bart"), filepath.Join(root, "lecture-style.onnx_adapter"), filepath.Join(root, "merged-bart")
	if err := testmodels.WriteBARTLoRA(dir, adapter, merged, c, l); err != nil {
		t.Fatal(err)
	}
	return dir, adapter, merged
}

// TestAdapter summarises with a LoRA adapter end to end: the summary is the
// merged-weights twin's, window by window, and not the base model's.
func TestAdapter(t *testing.T) {
	orttest.Need(t)
	dir, adapter, merged := loraFolders(t, testmodels.TinyLoRA(), nil)
	loadDir := func(dir, adapter string) *Summarizer {
		t.Helper()
		s, err := Load(dir, Options{Adapter: adapter, MinLength: 8, BatchSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	adapted, twin, plain, base := loadDir(dir, adapter), loadDir(merged, ""), loadDir(dir, ""), loadDir(tinyFolder(t), "")
	sents := lectureSentences(12)
	run := func(s *Summarizer) ([]string, *lecture.Summary) {
		t.Helper()
		sum, passes, err := s.summarize(context.Background(), sents, lecture.SummarizeOptions{MaxWords: 20})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range passes {
			out = append(out, p.outputs...)
		}
		return out, sum
	}
	got, sum := run(adapted)
	want, wantSum := run(twin)
	if !slices.Equal(got, want) {
		t.Errorf("with the adapter the windows' summaries differ from the merged twin's:\n%q\n%q", got, want)
	}
	if fmt.Sprint(sum.Bullets) != fmt.Sprint(wantSum.Bullets) {
		t.Errorf("bullets %v, merged twin %v", sum.Bullets, wantSum.Bullets)
	}
	baseOut, _ := run(base)
	if slices.Equal(got, baseOut) {
		t.Errorf("the adapter does not change the summaries: %q", got)
	}
	if plainOut, _ := run(plain); !slices.Equal(plainOut, baseOut) {
		t.Errorf("the LoRA folder without an adapter is not the base model:\n%q\n%q", plainOut, baseOut)
	}
	t.Logf("window 0: base %q, adapter %q", baseOut[0], got[0])

	// The adapter is part of the identity (the summary cache keys).
	id, _ := fileIdentity(adapter, "adapter")
	if !strings.HasPrefix(adapted.Model(), "lora-bart@") || !strings.HasSuffix(adapted.Model(), "+"+id) || sum.Model != adapted.Model() {
		t.Errorf("Model %q (summary %q) does not name the folder and the adapter %q", adapted.Model(), sum.Model, id)
	}
	if plain.Model() == adapted.Model() || !strings.HasPrefix(adapted.Model(), plain.Model()+"+") {
		t.Errorf("identity with the adapter %q, without %q", adapted.Model(), plain.Model())
	}

	// Requests in parallel share the loaded adapter.
	var wg sync.WaitGroup
	outs := make([][]string, 3)
	for i := range outs {
		wg.Go(func() {
			_, passes, err := adapted.summarize(context.Background(), sents, lecture.SummarizeOptions{Ratio: 1})
			if err == nil {
				outs[i] = passes[0].outputs
			}
		})
	}
	wg.Wait()
	for i := range outs {
		if !slices.Equal(outs[i], got[:len(outs[i])]) || len(outs[i]) == 0 {
			t.Errorf("parallel request %d: %q", i, outs[i])
		}
	}
}

// TestAdapterRefused: missing, corrupt and other models' adapters fail at
// load with a message naming the adapter (and the model files).
func TestAdapterRefused(t *testing.T) {
	orttest.Need(t)
	dir, adapter, _ := loraFolders(t, testmodels.TinyLoRA(), nil)
	bad := filepath.Join(t.TempDir(), "bad.onnx_adapter")
	os.WriteFile(bad, []byte("TORT but not an adapter"), 0o644)
	if _, err := Load(dir, Options{Adapter: bad}); lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(lecture.ErrorMessage(err), "bad.onnx_adapter is corrupt") {
		t.Errorf("corrupt adapter: %v", err)
	}
	if _, err := Load(dir, Options{Adapter: filepath.Join(t.TempDir(), "missing.onnx_adapter")}); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(lecture.ErrorMessage(err), "missing.onnx_adapter") {
		t.Errorf("missing adapter: %v", err)
	}
	_, widerAdapter, _ := loraFolders(t, testmodels.TinyLoRA(), func(c *testmodels.Config) { c.DModel = 48 })
	enc := filepath.Join(dir, "onnx", "encoder_model.onnx")
	for _, c := range []struct {
		name, dir, adapter string
		want               []string
	}{
		// an export without LoRA inputs takes no adapter
		{"plain-export", tinyFolder(t), adapter, []string{`no model file has an input "model.encoder.layers.0.self_attn.q_proj.lora_A.weight"`, "(24 in all)",
			"the model files declare no inputs with defaults at all (an export without LoRA inputs)",
			filepath.Join(tinyFolder(t), "onnx", "encoder_model.onnx"), filepath.Join(tinyFolder(t), "onnx", "decoder_model_merged.onnx")}},
		{"wider-model", dir, widerAdapter, []string{enc + `: "model.encoder.layers.0.self_attn.q_proj.lora_A.weight" has shape [48 4] in the adapter, [32 lora_r] in the model`}},
	} {
		s, err := Load(c.dir, Options{Adapter: c.adapter})
		if err == nil {
			s.Close()
			t.Errorf("%s: loaded", c.name)
			continue
		}
		msg := lecture.ErrorMessage(err)
		if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(msg, c.adapter) || !strings.Contains(msg, "an adapter for another model") {
			t.Errorf("%s: %v", c.name, err)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %s\nlacks %q", c.name, msg, w)
			}
		}
		t.Logf("%s: %s", c.name, msg)
	}

	// The older decoder pair takes one decoder share: an adapter on the
	// cross-attention v_proj (which only decoder_model.onnx computes) is
	// refused with the reason; one on q_proj serves.
	pair := func(c *testmodels.Config) { c.SplitDecoder, c.NoMerged = true, true }
	pdir, padapter, _ := loraFolders(t, testmodels.TinyLoRA(), pair)
	_, err := Load(pdir, Options{Adapter: padapter})
	t.Logf("pair: %v", err)
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(lecture.ErrorMessage(err), "decoder_model_merged.onnx") ||
		!strings.Contains(lecture.ErrorMessage(err), "decoder_with_past_model.onnx") || !strings.Contains(lecture.ErrorMessage(err), padapter) {
		t.Errorf("pair with cross-attention v_proj: %v", err)
	}
	qdir, qadapter, qmerged := loraFolders(t, testmodels.LoRA{Rank: 4, Seed: 3, Targets: []string{"q_proj"}}, pair)
	s, err := Load(qdir, Options{Adapter: qadapter, MinLength: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	twin, err := Load(qmerged, Options{MinLength: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer twin.Close()
	a, err := s.Summarize(context.Background(), lectureSentences(4), lecture.SummarizeOptions{Ratio: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := twin.Summarize(context.Background(), lectureSentences(4), lecture.SummarizeOptions{Ratio: 1})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Bullets) != fmt.Sprint(b.Bullets) {
		t.Errorf("decoder pair: adapter %v, merged twin %v", a.Bullets, b.Bullets)
	}
}

func TestTrim(t *testing.T) {
	bs := []lecture.Bullet{{Text: "one two three"}, {Text: "four five six seven eight"}, {Text: "nine"}}
	got := trim(bs, 8)
	if len(got) != 2 || got[1].Text != "four five six seven eight" {
		t.Errorf("budget 8: %+v", got)
	}
	got = trim(bs, 7)
	if len(got) != 2 || got[1].Text != "four five six seven…" {
		t.Errorf("budget 7: %+v", got)
	}
	got = trim(bs, 4)
	if len(got) != 1 {
		t.Errorf("budget 4: %+v", got)
	}
	got = trim([]lecture.Bullet{{Text: "a b c d e f"}}, 2)
	if len(got) != 1 || got[0].Text != "a b…" {
		t.Errorf("first bullet over budget: %+v", got)
	}
}

func TestBulletsSplitAndDedupe(t *testing.T) {
	seen := map[string]bool{}
	got := bullets("Entropy grows.  Heat flows from hot to cold! ... entropy grows", seen)
	if len(got) != 2 || got[0] != "Entropy grows." || got[1] != "Heat flows from hot to cold!" {
		t.Errorf("bullets %q", got)
	}
	if again := bullets("Heat flows from hot to cold.", seen); len(again) != 0 {
		t.Errorf("repeat across windows kept: %q", again)
	}
}

func totalWords(s []lecture.Sentence) int {
	n := 0
	for _, x := range s {
		n += text.WordCount(x.Text)
	}
	return n
}

func TestConcurrent(t *testing.T) {
	s := load(t, Options{})
	sents := lectureSentences(12)
	want, err := s.Summarize(context.Background(), sents, lecture.SummarizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			got, err := s.Summarize(context.Background(), sents, lecture.SummarizeOptions{})
			if err != nil {
				errs <- err.Error()
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				errs <- fmt.Sprintf("%v != %v", got, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
