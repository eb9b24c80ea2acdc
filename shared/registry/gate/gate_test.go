package gate

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/retrieval"
)

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if p.Version != 1 || p.RougeLMaxDrop == nil || *p.RougeLMaxDrop != 0.5 || p.WERMaxRise == nil || *p.WERMaxRise != 1 ||
		p.P95MaxRise == nil || *p.P95MaxRise != 0.2 {
		t.Fatalf("default policy %+v: want ROUGE-L -0.5 point, WER +1 point, p95 +20%%", p)
	}
	if _, err := ParsePolicy([]byte(`{"version": 2}`)); err == nil {
		t.Error("a policy of an unknown version was accepted")
	}
	if _, err := ParsePolicy([]byte(`{"version": 1, "rouge_l_max_drop": 3}`)); err == nil {
		t.Error("a misspelt threshold was accepted")
	}
}

func f(x float64) *float64 { return &x }

func TestCompare(t *testing.T) {
	p := Policy{Version: 1, RougeLMaxDrop: f(0.5), WERMaxRise: f(1), P95MaxRise: f(0.2), P95MinRiseMS: 50}
	base := Metrics{RougeL: 30, P95MS: 1000, WER: 5}
	for _, c := range []struct {
		task string
		cand Metrics
		fail []string
	}{
		{Summarize, Metrics{RougeL: 29.6, P95MS: 1190}, nil},
		{Summarize, Metrics{RougeL: 29.4, P95MS: 1000}, []string{"rouge_l"}},
		{Summarize, Metrics{RougeL: 31, P95MS: 1300}, []string{"latency_p95_ms"}},
		{Transcribe, Metrics{WER: 5.9, P95MS: 900}, nil},
		{Transcribe, Metrics{WER: 6.2, P95MS: 900}, []string{"wer"}},
	} {
		r := &Report{Task: c.task, Policy: p, Baseline: Subject{Metrics: base}, Candidate: Subject{Metrics: c.cand}}
		Compare(r)
		var failed []string
		for _, ch := range r.Failed() {
			failed = append(failed, ch.Metric)
		}
		if len(failed) != len(c.fail) || (len(failed) > 0 && failed[0] != c.fail[0]) || r.Pass != (len(c.fail) == 0) {
			t.Errorf("%s %+v: failed %v (pass %v), want %v", c.task, c.cand, failed, r.Pass, c.fail)
		}
	}
	// Timer noise on fast engines: +100% but 2 ms is no regression.
	r := &Report{Task: Summarize, Policy: p, Baseline: Subject{Metrics: Metrics{RougeL: 30, P95MS: 2}}, Candidate: Subject{Metrics: Metrics{RougeL: 30, P95MS: 4}}}
	if Compare(r); !r.Pass {
		t.Errorf("a 2 ms p95 rise failed the gate: %+v", r.Checks)
	}
}

func dataDir(t *testing.T) string {
	d := eval.DataDir()
	if d == "" {
		t.Skip("evaluation data (../shared/data) not found; set TRANSCEPT_EVAL_DATA")
	}
	return d
}

// A gutted extractive engine fails the ROUGE-L check; the same engine
// passes against itself.
func TestSummarizeGate(t *testing.T) {
	p := DefaultPolicy()
	docs, err := SummaryDocs(dataDir(t), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != p.SummEvalItems+p.QMSumMeetings {
		t.Fatalf("%d documents, want %d", len(docs), p.SummEvalItems+p.QMSumMeetings)
	}
	ctx := context.Background()
	run := func(ratio float64) Metrics {
		m, err := EvalSummarize(ctx, WithRatio(extractive.New(), ratio), docs)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	champion, gutted, same := run(0.3), run(0.05), run(0.3)
	if champion.RougeL < 10 || champion.P95MS <= 0 || champion.PeakRSSBytes == 0 || champion.PeakHeapBytes == 0 {
		t.Fatalf("champion metrics %+v", champion)
	}
	bad := &Report{Task: Summarize, Policy: p, Baseline: Subject{Metrics: champion}, Candidate: Subject{Metrics: gutted}}
	Compare(bad)
	if bad.Pass || bad.Failed()[0].Metric != "rouge_l" {
		b, _ := json.MarshalIndent(bad.Checks, "", " ")
		t.Errorf("the gutted engine passed or failed for another reason: %s", b)
	}
	good := &Report{Task: Summarize, Policy: p, Baseline: Subject{Metrics: champion}, Candidate: Subject{Metrics: same}}
	if Compare(good); !good.Pass {
		b, _ := json.MarshalIndent(good.Checks, "", " ")
		t.Errorf("the identical engine failed: %s", b)
	}
	t.Logf("champion ROUGE-L %.2f p95 %.1f ms; gutted ROUGE-L %.2f (%.0f words)", champion.RougeL, champion.P95MS, gutted.RougeL, gutted.Words)
}

func TestQAGate(t *testing.T) {
	p := DefaultPolicy()
	ms, err := QAMeetings(dataDir(t), p)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func(minCoverage float64) Metrics {
		a := retrieval.NewAnswerer()
		a.MinCoverage = minCoverage
		m, err := EvalQA(ctx, a, nil, ms)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	champion, lax := run(0.6), run(0.0)
	if champion.Coverage <= 0 || champion.Decline <= 0 {
		t.Fatalf("champion %+v", champion)
	}
	r := &Report{Task: QA, Policy: p, Baseline: Subject{Metrics: champion}, Candidate: Subject{Metrics: lax}}
	if Compare(r); r.Pass {
		t.Errorf("an answerer that never declines passed: %+v", r.Checks)
	}
	t.Logf("champion coverage %.1f%% decline %.1f%%; lax coverage %.1f%% decline %.1f%%", champion.Coverage, champion.Decline, lax.Coverage, lax.Decline)
}
