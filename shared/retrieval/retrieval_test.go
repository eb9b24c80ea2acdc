package retrieval

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

func physicsIndex() *Index {
	lines := []string{
		"Today we cover thermodynamics.",
		"The first law is conservation of energy: heat added equals work done plus the change in internal energy.",
		"The second law says the entropy of an isolated system never decreases.",
		"The Carnot efficiency depends only on the temperatures of the hot and cold reservoirs.",
		"Next week we start electromagnetism with Maxwell's equations.",
	}
	var sents []lecture.Sentence
	for i, l := range lines {
		sents = append(sents, lecture.Sentence{Index: i, Text: l, Span: lecture.Span{Start: float64(60 * i), End: float64(60*i + 30)}})
	}
	return NewIndex("phys-1", sents)
}

func TestAnswerCitesTheSupportingSentence(t *testing.T) {
	a, err := NewAnswerer().Answer(context.Background(), physicsIndex(), "What does the Carnot efficiency depend on?")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Covered || len(a.Citations) == 0 {
		t.Fatalf("not answered: %+v", a)
	}
	c := a.Citations[0]
	if !strings.Contains(c.Quote, "Carnot efficiency depends only on the temperatures") || c.Span.Start != 180 {
		t.Errorf("citation %+v", c)
	}
	if !strings.Contains(a.Markdown(), "[03:00]") {
		t.Errorf("markdown lacks the time label: %q", a.Markdown())
	}
}

func TestNotCovered(t *testing.T) {
	for _, q := range []string{"Who won the 1998 football world cup?", "How do I bake bread?", "What?"} {
		a, err := NewAnswerer().Answer(context.Background(), physicsIndex(), q)
		if err != nil {
			t.Fatal(err)
		}
		if a.Covered || a.Text != NotCovered || len(a.Citations) != 0 {
			t.Errorf("%q: %+v", q, a)
		}
	}
}

func TestQuestionValidation(t *testing.T) {
	ix := physicsIndex()
	if _, err := NewAnswerer().Answer(context.Background(), ix, "  "); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("empty question: %v", err)
	}
	if _, err := NewAnswerer().Answer(context.Background(), ix, strings.Repeat("entropy ", 2000)); lecture.ErrorCode(err) != lecture.ETOOLARGE {
		t.Errorf("10 kB question: %v", err)
	}
}

func TestIndexSurvivesJSON(t *testing.T) {
	ix := physicsIndex()
	b, err := json.Marshal(ix)
	if err != nil {
		t.Fatal(err)
	}
	var back Index
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Build()
	q := "entropy of an isolated system"
	h1, h2 := ix.Search(q, 3), back.Search(q, 3)
	if len(h1) == 0 || len(h1) != len(h2) || h1[0] != h2[0] {
		t.Errorf("search differs after a JSON round trip: %v vs %v", h1, h2)
	}
}

func TestSearchRanksTheRightPassage(t *testing.T) {
	var sents []lecture.Sentence
	for i := range 200 {
		sents = append(sents, lecture.Sentence{Index: i, Text: "We talk about general matters of the course and its organisation.", Span: lecture.Span{Start: float64(i), End: float64(i)}})
	}
	sents[150].Text = "Maxwell's equations unify electricity and magnetism into one field theory."
	ix := NewIndex("", sents)
	hits := ix.Search("How do Maxwell's equations relate electricity and magnetism?", 1)
	if len(hits) != 1 {
		t.Fatal("no hit")
	}
	p := ix.Passages[hits[0].Passage]
	if p.FirstSent > 150 || p.LastSent < 150 {
		t.Errorf("top passage %d-%d misses sentence 150", p.FirstSent, p.LastSent)
	}
}

// hashEmbedder is a deterministic bag-of-words embedding: enough to test
// the fusion mechanics without a model.
type hashEmbedder struct{ calls int }

func (h *hashEmbedder) Model() string { return "hash-64" }
func (h *hashEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	h.calls++
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, 64)
		for _, w := range strings.Fields(strings.ToLower(t)) {
			w = strings.Trim(w, ".,?!'")
			if len(w) < 4 {
				continue
			}
			var x uint32 = 2166136261
			for _, c := range []byte(w[:4]) { // a crude stem: synonyms by prefix
				x = (x ^ uint32(c)) * 16777619
			}
			v[x%64]++
		}
		Normalize(v)
		out[i] = v
	}
	return out, nil
}

func TestReciprocalRankFusion(t *testing.T) {
	got := fuse(3, []Hit{{0, 9}, {1, 5}, {2, 1}}, []Hit{{2, .9}, {1, .8}, {3, .1}})
	// passage 2: 1/63+1/61 = 0.032266; 1: 1/62+1/62 = 0.032258; 0: 1/61; 3: 1/63
	if len(got) != 3 || got[0].Passage != 2 || got[1].Passage != 1 || got[2].Passage != 0 {
		t.Errorf("fused %v", got)
	}
}

func TestHybridFindsParaphrase(t *testing.T) {
	ix := physicsIndex()
	e := &hashEmbedder{}
	if err := ix.Embed(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if !ix.HasVectors(e) || len(ix.Vectors) != len(ix.Passages) {
		t.Fatal("vectors not stored")
	}
	// Survives the stored form.
	b, _ := json.Marshal(ix)
	var back Index
	_ = json.Unmarshal(b, &back)
	back.Build()
	hits, err := back.HybridSearch(context.Background(), "temperatures of reservoirs", 2, e)
	if err != nil || len(hits) == 0 {
		t.Fatalf("hybrid: %v %v", hits, err)
	}
	a := NewAnswerer()
	a.Embedder = e
	ans, err := a.Answer(context.Background(), &back, "What does the Carnot efficiency depend on?")
	if err != nil || !ans.Covered || !strings.Contains(ans.Text, "Carnot") {
		t.Errorf("answer with embeddings: %+v %v", ans, err)
	}
	// An index built with another model is searched by BM25 alone.
	other := &hashEmbedder{}
	ix.EmbedModel = "other"
	if ix.HasVectors(other) {
		t.Error("vectors of another model used")
	}
}
