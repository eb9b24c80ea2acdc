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
