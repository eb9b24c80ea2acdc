//go:build cgo

package causal

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

func TestGenerateStreamsAndSamples(t *testing.T) {
	needORT(t)
	m := loadTiny(t, false)
	ctx := context.Background()
	prompt := m.Tokenizer.EncodePlain("<|im_start|>user\nWhat is entropy?<|im_end|>\n<|im_start|>assistant\n")

	// streaming: one call per token, pieces join to the decoded text
	var ids []int
	var text strings.Builder
	res, err := Generate(ctx, m, [][]int{prompt}, Options{MaxNewTokens: 24, OnToken: func(id int, s string) {
		if id >= 0 {
			ids = append(ids, id)
		}
		text.WriteString(s)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, res.Tokens[0]) {
		t.Errorf("streamed ids %v, generated %v", ids, res.Tokens[0])
	}
	if want := m.Tokenizer.Decode(res.Tokens[0]); text.String() != want {
		t.Errorf("streamed %q, decoded %q", text.String(), want)
	}

	// sampling: the same seed gives the same tokens, with and without the cache
	s := &Sampling{Temperature: 0.8, TopP: 0.9, TopK: 40, Seed: 3}
	a, err := Generate(ctx, m, [][]int{prompt}, Options{MaxNewTokens: 16, Sample: s})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(ctx, m, [][]int{prompt}, Options{MaxNewTokens: 16, Sample: s, NoCache: true})
	if !slices.Equal(a.Tokens[0], b.Tokens[0]) {
		t.Errorf("seeded sampling not reproducible: %v vs %v", a.Tokens[0], b.Tokens[0])
	}
	differ := false
	for seed := uint64(4); seed < 8 && !differ; seed++ {
		c, _ := Generate(ctx, m, [][]int{prompt}, Options{MaxNewTokens: 16, Sample: &Sampling{Temperature: 1.5, Seed: seed}})
		differ = !slices.Equal(c.Tokens[0], res.Tokens[0][:min(16, len(res.Tokens[0]))])
	}
	if !differ {
		t.Error("hot sampling always equals greedy decoding")
	}
	if a.TimeToFirstToken <= 0 || a.Elapsed < a.TimeToFirstToken {
		t.Errorf("timings %v %v", a.TimeToFirstToken, a.Elapsed)
	}
}

func TestGenerateBadInput(t *testing.T) {
	needORT(t)
	m := loadTiny(t, false)
	ctx := context.Background()
	for name, c := range map[string]struct {
		prompts [][]int
		o       Options
		code    string
	}{
		"no prompt":       {nil, Options{}, lecture.EINVALID},
		"empty prompt":    {[][]int{{}}, Options{}, lecture.EINVALID},
		"id out of vocab": {[][]int{{1, 99999}}, Options{}, lecture.EINVALID},
		"negative id":     {[][]int{{-1}}, Options{}, lecture.EINVALID},
		"stream a batch":  {[][]int{{1}, {2}}, Options{OnToken: func(int, string) {}}, lecture.EINVALID},
		"bad sampling":    {[][]int{{1}}, Options{Sample: &Sampling{Temperature: 0}}, lecture.EINVALID},
		"penalty 0 is the config's, negative an error": {[][]int{{1}}, Options{RepetitionPenalty: -1.3}, lecture.EINVALID},
		"penalty NaN":      {[][]int{{1}}, Options{RepetitionPenalty: math.NaN()}, lecture.EINVALID},
		"penalty Inf":      {[][]int{{1}}, Options{RepetitionPenalty: math.Inf(1)}, lecture.EINVALID},
		"negative n-gram":  {[][]int{{1}}, Options{NoRepeatNGramSize: -1}, lecture.EINVALID},
		"negative min new": {[][]int{{1}}, Options{MinNewTokens: -1}, lecture.EINVALID},
		"prompt too large": {[][]int{make([]int, m.Config.MaxPositions)}, Options{}, lecture.ETOOLARGE},
	} {
		if _, err := Generate(ctx, m, c.prompts, c.o); lecture.ErrorCode(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
	// the token limit shrinks to the positions left
	res, err := Generate(ctx, m, [][]int{make([]int, m.Config.MaxPositions-3)}, Options{MaxNewTokens: 50, EOS: []int{}})
	if err != nil || len(res.Tokens[0]) != 3 {
		t.Errorf("near max positions: %v, %d tokens", err, len(res.Tokens[0]))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Generate(cctx, m, [][]int{{1, 2}}, Options{}); err == nil {
		t.Error("cancelled context: generation ran")
	}
}

// BenchmarkGreedy times greedy generation of 32 tokens from a 40-token
// prompt on the tiny model (one intra-op thread): the generation loop's own
// overhead, cache hand-over included. Reports time to first token and
// tokens/s.
func BenchmarkGreedy(b *testing.B) {
	needORT(b)
	m := loadTiny(b, false)
	prompt := m.Tokenizer.EncodePlain(strings.Repeat("the cat sat on the mat and ", 6))[:40]
	var ttft, total float64
	var tokens int
	b.ResetTimer()
	for b.Loop() {
		res, err := Generate(context.Background(), m, [][]int{prompt}, Options{MaxNewTokens: 32, EOS: []int{}})
		if err != nil {
			b.Fatal(err)
		}
		ttft += res.TimeToFirstToken.Seconds()
		total += res.Elapsed.Seconds()
		tokens += len(res.Tokens[0])
	}
	b.ReportMetric(ttft/float64(b.N)*1e3, "ms-ttft")
	b.ReportMetric(float64(tokens)/total, "tok/s")
}
