package eval

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/retrieval"
)

func dataDir(t testing.TB) string {
	d := DataDir()
	if _, err := os.Stat(filepath.Join(d, "qmsum")); err != nil {
		if os.Getenv("TRANSCEPT_REQUIRE_SERVICES") == "1" {
			t.Fatalf("evaluation data not found at %s (set TRANSCEPT_EVAL_DATA)", d)
		}
		t.Skipf("evaluation data not found at %s: skipping quality checks", d)
	}
	return d
}

func TestQMSumBeatsLeadAndTextRank(t *testing.T) {
	d := dataDir(t)
	for _, split := range []string{"Academic/val", "ALL/val"} {
		ms, err := LoadQMSum(filepath.Join(d, "qmsum", split))
		if err != nil {
			t.Fatal(err)
		}
		tab, err := QMSum(context.Background(), ms, extractive.New(), "QMSum "+split)
		if err != nil {
			t.Fatal(err)
		}
		tab.Print(os.Stdout)
		ours, _ := tab.Find("extractive")
		lead, _ := tab.Find("lead (same length)")
		if ours.Rouge.R1.F*100 <= 16.27 || ours.Rouge.R2.F*100 <= 2.69 {
			t.Errorf("%s: ROUGE-1/2 %.2f/%.2f not above TextRank's 16.27/2.69", split, 100*ours.Rouge.R1.F, 100*ours.Rouge.R2.F)
		}
		if ours.Rouge.R1.F-lead.Rouge.R1.F < 0.01 {
			t.Errorf("%s: ROUGE-1 %.2f not a point above lead's %.2f", split, 100*ours.Rouge.R1.F, 100*lead.Rouge.R1.F)
		}
		if ours.Rouge.R2.F <= lead.Rouge.R2.F || ours.Rouge.RL.F <= lead.Rouge.RL.F || ours.Rouge.RLsum.F <= lead.Rouge.RLsum.F {
			t.Errorf("%s: some ROUGE figure not above lead: ours %+v lead %+v", split, ours.Rouge, lead.Rouge)
		}
	}
}

func TestSummEvalAtLeastLead3(t *testing.T) {
	d := dataDir(t)
	items, err := LoadSummEval(filepath.Join(d, "summeval", "summeval100.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := SummEval(context.Background(), items, extractive.New(), []string{"M0", "M22"})
	if err != nil {
		t.Fatal(err)
	}
	tab.Print(os.Stdout)
	ours := tab.Rows[0]
	lead, _ := tab.Find("M0 LEAD-3")
	if ours.Rouge.R1.F < lead.Rouge.R1.F {
		t.Errorf("ROUGE-1 %.2f below LEAD-3's %.2f", 100*ours.Rouge.R1.F, 100*lead.Rouge.R1.F)
	}
}

func TestRetrievalRecall(t *testing.T) {
	d := dataDir(t)
	ms, err := LoadQMSum(filepath.Join(d, "qmsum", "ALL", "val"))
	if err != nil {
		t.Fatal(err)
	}
	r := Retrieval(ms, 5)
	t.Logf("BM25 recall@5 over %d queries: turn recall %.3f, hit rate %.3f", r.Queries, r.TurnRecall, r.HitRate)
	if r.HitRate < 0.5 {
		t.Errorf("hit rate %.3f: retrieval finds the relevant turns for under half the queries", r.HitRate)
	}
}

func TestAnswerCoverage(t *testing.T) {
	d := dataDir(t)
	ms, err := LoadQMSum(filepath.Join(d, "qmsum", "ALL", "val"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := AnswerCoverage(context.Background(), ms, retrieval.NewAnswerer())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("QMSum specific queries answered: %d/%d; off-topic answered: %d/%d", c.SpecificCovered, c.Specific, c.OffTopicCovered, c.OffTopic)
	if float64(c.SpecificCovered) < 0.65*float64(c.Specific) {
		t.Errorf("only %d/%d of the meetings' own questions answered", c.SpecificCovered, c.Specific)
	}
	if float64(c.OffTopicCovered) > 0.01*float64(c.OffTopic) {
		t.Errorf("%d/%d off-topic questions answered instead of \"not covered\"", c.OffTopicCovered, c.OffTopic)
	}
}
