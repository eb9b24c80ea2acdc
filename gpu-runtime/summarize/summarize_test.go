package summarize

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/lora"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/testmodels"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/text"
)

const requireEnv = "TRANSCEPT_REQUIRE_SERVICES"

func needORT(t *testing.T) {
	t.Helper()
	if _, err := ort.Init(); err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%v (%s=1 requires it)", err, requireEnv)
		}
		t.Skipf("%v (or set %s=1 to fail instead of skipping)", err, requireEnv)
	}
}

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
	needORT(t)
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
}

func TestMapOverWindows(t *testing.T) {
	s := load(t, Options{BatchSize: 3})
	sents := lectureSentences(30) // about 20 tokens each: many 64-token windows
	sum, passes, err := s.summarize(context.Background(), sents, lecture.SummarizeOptions{Ratio: 1})
	if err != nil {
		t.Fatal(err)
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
	needORT(t)
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

func TestAdapter(t *testing.T) {
	needORT(t)
	dir := tinyFolder(t)
	bad := filepath.Join(t.TempDir(), "bad.onnx_adapter")
	os.WriteFile(bad, []byte("not an adapter"), 0o644)
	if _, err := Load(dir, Options{Adapter: bad}); lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(lecture.ErrorMessage(err), "bad.onnx_adapter") {
		t.Errorf("corrupt adapter: %v", err)
	}
	if _, err := Load(dir, Options{Adapter: filepath.Join(t.TempDir(), "missing.onnx_adapter")}); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(lecture.ErrorMessage(err), "missing.onnx_adapter") {
		t.Errorf("missing adapter: %v", err)
	}
	// A well-formed adapter file (written by our lora package).
	good := filepath.Join(t.TempDir(), "good.onnx_adapter")
	ad := &lora.Adapter{Params: []lora.Param{lora.Float32("lora_a", []int64{4, 1}, []float32{3, 4, 5, 6}), lora.Float32("lora_b", []int64{1, 4}, []float32{7, 8, 9, 10})}}
	if err := ad.WriteFile(good); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir, Options{Adapter: good})
	if !runOptionsSupported {
		if lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(lecture.ErrorMessage(err), "good.onnx_adapter") {
			t.Errorf("adapter without run options in seq2seq: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, _ := fileIdentity(good, "adapter")
	if !strings.HasSuffix(s.Model(), "+"+id) {
		t.Errorf("Model %q does not name the adapter %q", s.Model(), id)
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
