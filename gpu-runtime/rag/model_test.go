//go:build cgo

package rag

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/causal"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/retrieval"
)

func needORT(t testing.TB) {
	t.Helper()
	if _, err := ort.Init(); err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%v (%s=1 requires it)", err, requireEnv)
		}
		t.Skipf("%v (or set %s=1 to fail instead of skipping)", err, requireEnv)
	}
}

// TestRandomModelAnswers runs the whole answerer on a random-weight Qwen2
// folder: its text is arbitrary, so the test checks structure — one model
// call, streamed pieces that join to the answer, citations that name
// passages of the prompt, reproducible greedy and seeded sampling, and no
// model call for an uncovered question.
func TestRandomModelAnswers(t *testing.T) {
	needORT(t)
	a, err := Load(tinyFolder(t), ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.MaxNewTokens = 24
	var calls atomic.Int32
	var prompt []int
	a.Generate = func(ctx context.Context, m *causal.Model, p [][]int, o causal.Options) (*causal.Result, error) {
		calls.Add(1)
		prompt = p[0]
		return causal.Generate(ctx, m, p, o)
	}
	ix := lectureIndex()
	ctx := context.Background()

	var pieces []string
	ans, err := a.Answer(ctx, ix, question, func(s string) { pieces = append(pieces, s) })
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d model calls, want 1", calls.Load())
	}
	raw := a.Model.Tokenizer.DecodeRaw(prompt)
	all, best := labels(ix, question)
	for _, l := range all {
		if !strings.Contains(raw, "<passage>\n"+l+" ") {
			t.Errorf("prompt lacks passage %s", l)
		}
	}
	if !strings.Contains(raw, "Question: "+question) {
		t.Error("prompt lacks the question")
	}
	streamed := strings.Join(pieces, "")
	t.Logf("random model answered %q in %d pieces; citations %d", streamed, len(pieces), len(ans.Citations))
	switch {
	case streamed == "" || strings.TrimSpace(streamed) == "":
		// nothing generated: the extractive answer stands in
		if ext, _ := retrieval.NewAnswerer().Answer(ctx, ix, question); ans.Text != ext.Text {
			t.Errorf("empty generation: answer %q, want the extractive %q", ans.Text, ext.Text)
		}
	default:
		if want, _ := Cite(streamed, Passages(ix, ix.Search(question, 3))); ans.Text != want {
			t.Errorf("answer %q is not the streamed text %q", ans.Text, streamed)
		}
		if !ans.Covered || len(ans.Citations) == 0 {
			t.Errorf("answer %+v has no citation", ans)
		}
		for _, c := range ans.Citations {
			if !slices.Contains(all, c.Span.Label()) {
				t.Errorf("citation %s is not a passage of the prompt %v", c.Span.Label(), all)
			}
		}
		if len(ans.Citations) == 1 && ans.Citations[0].Span.Label() != best && !strings.Contains(ans.Text, ans.Citations[0].Span.Label()) {
			t.Errorf("uncited answer should cite the best passage %s, cites %s", best, ans.Citations[0].Span.Label())
		}
	}

	// greedy is deterministic; seeded sampling reproducible
	again, _ := a.Answer(ctx, ix, question, nil)
	if again.Text != ans.Text {
		t.Errorf("greedy answers differ: %q vs %q", again.Text, ans.Text)
	}
	a.Sample = &causal.Sampling{Temperature: 0.7, TopP: 0.8, Seed: 5}
	s1, err := a.Answer(ctx, ix, question, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := a.Answer(ctx, ix, question, nil)
	if s1.Text != s2.Text {
		t.Errorf("seeded sampling differs: %q vs %q", s1.Text, s2.Text)
	}

	// generation settings reach the model; a bad one is the caller's error
	a.Sample = nil
	var seen causal.Options
	a.Generate = func(ctx context.Context, m *causal.Model, p [][]int, o causal.Options) (*causal.Result, error) {
		calls.Add(1)
		seen = o
		return causal.Generate(ctx, m, p, o)
	}
	a.RepetitionPenalty, a.NoRepeatNGramSize = 1.3, 3
	if _, err := a.Answer(ctx, ix, question, nil); err != nil || seen.RepetitionPenalty != 1.3 || seen.NoRepeatNGramSize != 3 {
		t.Errorf("penalties: %v, options %+v", err, seen)
	}
	a.RepetitionPenalty = -1
	if _, err := a.Answer(ctx, ix, question, nil); lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), "repetition_penalty") {
		t.Errorf("negative repetition_penalty: %v", err)
	}
	a.RepetitionPenalty = 0

	n := calls.Load()
	nc, err := a.Answer(ctx, ix, "Who won the 1998 football world cup?", func(string) { t.Error("streamed for an uncovered question") })
	if err != nil || nc.Covered || nc.Text != retrieval.NotCovered || calls.Load() != n {
		t.Errorf("uncovered: %+v %v, model calls %d → %d", nc, err, n, calls.Load())
	}
}
