package wire

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/evalset"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/registry/gate"
	"github.com/transcept/transcept/shared/transcript"
)

// newEvalSuite wires a suite on a fresh filesystem store seeded with sel.
func newEvalSuite(t *testing.T, sel evalset.Selection, extra map[string]string) *Suite {
	t.Helper()
	data := eval.DataDir()
	if data == "" {
		t.Skip("../shared/data not found (TRANSCEPT_EVAL_DATA)")
	}
	t.Setenv("TRANSCEPT_EVAL_DATA", "")
	dir := t.TempDir()
	m := map[string]string{"TRANSCEPT_STORE_DIR": dir, "TRANSCEPT_EVAL_CACHE_DIR": filepath.Join(dir, "eval-cache")}
	for k, v := range extra {
		m[k] = v
	}
	c, err := config.FromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := New(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, _, err := evalset.Seed(ctx, s.Service.Store, data, sel, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	return s
}

// process runs an upload through the transcribe and segment stages (the
// segment stage measures the input).
func process(t *testing.T, s *Suite, name, body string) string {
	t.Helper()
	ctx := context.Background()
	l, ev, err := s.Service.CreateLecture(ctx, pipeline.Upload{Name: name, Data: []byte(body), Format: transcript.Auto})
	if err != nil {
		t.Fatal(err)
	}
	next, err := s.Service.HandleUploaded(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Service.HandleTranscript(ctx, next[0]); err != nil {
		t.Fatal(err)
	}
	return l.ID
}

// An uploaded lecture's drift measures: its words in the histogram's
// bucket, its out-of-vocabulary share against the eval set's vocabulary
// counted by hand, its no-speech share from the timestamps.
func TestInputMeasures(t *testing.T) {
	s := newEvalSuite(t, evalset.Selection{SummEvalItems: 20, QMSumMeetings: -1, QAMeetings: -1, NoAudio: true}, nil)
	ctx := context.Background()
	set, err := evalset.Current(ctx, s.Service.Store)
	if err != nil {
		t.Fatal(err)
	}
	vocab, err := evalset.Vocabulary(ctx, s.Service.Store, set)
	if err != nil {
		t.Fatal(err)
	}
	known := []string{"the", "said", "police", "year"}
	unknown := []string{"zyxwvut", "qwrtpsd"}
	for _, w := range known {
		if !vocab[w] {
			t.Fatalf("%q is not in the vocabulary of 20 news articles", w)
		}
	}
	for _, w := range unknown {
		if vocab[w] {
			t.Fatalf("%q is in the vocabulary", w)
		}
	}
	// 3 cues: 0-4 s, 6-10 s, 12-20 s: 4 s of 20 without speech. Words: 8
	// known and 2 unknown tokens, and a number (a word, not a token).
	srt := "1\n00:00:00,000 --> 00:00:04,000\nThe police said the year.\n\n" +
		"2\n00:00:06,000 --> 00:00:10,000\nThe police zyxwvut.\n\n" +
		"3\n00:00:12,000 --> 00:00:20,000\nSaid qwrtpsd 1999.\n"
	process(t, s, "crafted.srt", srt)
	m := s.Metrics
	n, sum, buckets := m.HistogramOf("transcept_input_words", evalset.DriftStage)
	if n != 1 || sum != 11 || buckets[250] != 1 {
		t.Fatalf("words: count %d sum %g buckets %v, want one lecture of 11 words in the <=250 bucket", n, sum, buckets)
	}
	n, sum, buckets = m.HistogramOf("transcept_input_oov_ratio", evalset.DriftStage)
	if want := 2.0 / 10; n != 1 || math.Abs(sum-want) > 1e-12 || buckets[0.2] != 1 || buckets[0.1] != 0 {
		t.Fatalf("oov: count %d sum %g buckets %v, want one share of %g", n, sum, buckets, want)
	}
	n, sum, _ = m.HistogramOf("transcept_input_no_speech_ratio", evalset.DriftStage)
	if n != 1 || math.Abs(sum-0.2) > 1e-12 {
		t.Fatalf("no-speech: count %d sum %g, want 0.2", n, sum)
	}
	if got := m.QualityValue("transcept_input_language_total", evalset.DriftStage, "unknown"); got != 1 {
		t.Fatalf("language unknown counted %g, want 1 (an SRT names none)", got)
	}
}

// Lectures unlike the eval set (short, full of words it never uses) make
// the nightly run request retraining; news articles it has not seen, like
// the ones it holds, do not. Both runs export the drift scores.
func TestNightlyDrift(t *testing.T) {
	sel := evalset.Selection{SummEvalItems: 20, QMSumMeetings: -1, QAMeetings: -1, NoAudio: true}
	items, err := eval.LoadSummEval(filepath.Join(eval.DataDir(), "summeval", "summeval100.jsonl"))
	if err != nil {
		t.Skip(err)
	}
	cases := []struct {
		name    string
		lecture func(i int) string
		retrain bool
	}{
		{"unseen articles", func(i int) string { return items[40+i].Source }, false},
		{"unlike", func(i int) string {
			return fmt.Sprintf("Xq%dzzt blorvik quantrel ymmoth sprazzle. Vintorq blemmish %d gralt ozzivan trell.", i, i)
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newEvalSuite(t, sel, map[string]string{"TRANSCEPT_DRIFT_MIN_LECTURES": "20"})
			for i := range 20 {
				process(t, s, fmt.Sprintf("l%d.txt", i), tc.lecture(i))
			}
			n, err := s.RunNightly(context.Background(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The set has no QA meetings: summarize runs, qa is not attempted.
			if len(n.Reports) != 1 || n.Reports[0].Task != gate.Summarize || s.Metrics.QualityValue("transcept_eval_runs_total", gate.Summarize, "ok") != 1 || len(n.Failed) != 0 {
				t.Errorf("reports %+v, failed %v", n.Reports, n.Failed)
			}
			if n.Drift == nil || n.Drift.Lectures != 20 {
				t.Fatalf("drift %+v, want a score over 20 lectures", n.Drift)
			}
			t.Logf("drift scores %v", n.Drift.Scores)
			for _, f := range []string{evalset.FeatureWords, evalset.FeatureOOV} {
				if g := s.Metrics.QualityValue("transcept_drift_score", evalset.DriftStage, f); g != n.Drift.Scores[f] {
					t.Errorf("transcept_drift_score{feature=%s} = %g, result %g", f, g, n.Drift.Scores[f])
				}
			}
			var retrain []string
			for _, ce := range n.Events {
				if ce.Type() == lecture.RetrainRequested {
					retrain = append(retrain, string(ce.Data()))
				}
			}
			if got := s.Metrics.QualityValue("transcept_retrain_requests_total", "drift"); (got == 1) != tc.retrain || len(retrain) != int(got) {
				t.Fatalf("retrain requests %g, events %v; want retraining requested: %v (scores %v)", got, retrain, tc.retrain, n.Drift.Scores)
			}
			if tc.retrain && !strings.Contains(retrain[0], `"exceeded":["words","oov"]`) {
				t.Errorf("retrain event data %s: want both features exceeded", retrain[0])
			}
		})
	}
}
