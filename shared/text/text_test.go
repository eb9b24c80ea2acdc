package text

import (
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

func TestClean(t *testing.T) {
	cases := []struct{ in, want string }{
		{"  Hello\u00a0\tworld  ", "Hello world"},
		{"So um the the gradient uh descends.", "So the gradient descends."},
		{"I I I think we we should go", "I think we should go"},
		{"we 're on . Do n't touch it , OK ?", "we're on. Don't touch it, OK?"},
		{"The {disfmarker} the model {vocalsound} works .", "The model works."},
		{"you know you know it works", "you know it works"},
		{"I know that that is true", "I know that that is true"},
		{"ﬁne “quotes” ’tis", "fine \"quotes\" 'tis"}, // NFKC ligature, straight quotes
		{"Um.", ""},
		{"Energy is conserved. Uh. Momentum too.", "Energy is conserved. Momentum too."},
		{"people, when they w when they want to go th the building", "people, when they want to go the building"},
		{"interested in intentionality and a all of it", "interested in intentionality and a all of it"},
		{"the reco- recognizer", "the recognizer"},
	}
	for _, c := range cases {
		if got := Clean(c.in); got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCleanKeepsContentWords(t *testing.T) {
	in := "Entropy um measures uh disorder and the the second law says entropy entropy grows"
	got := Clean(in)
	for _, w := range []string{"Entropy", "measures", "disorder", "second", "law", "says", "entropy", "grows"} {
		if !strings.Contains(got, w) {
			t.Errorf("content word %q lost: %q", w, got)
		}
	}
}

func TestSplitSentences(t *testing.T) {
	got := SplitSentences("Dr. Smith arrived at 3.5 p.m. today. Was it late? Yes! We used e.g. Newton's laws.")
	want := []string{"Dr. Smith arrived at 3.5 p.m. today.", "Was it late?", "Yes!", "We used e.g. Newton's laws."}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestSplitSentencesUnpunctuated(t *testing.T) {
	// 120 words of ASR output with no punctuation at all.
	words := strings.Fields(strings.Repeat("the derivative of the position with respect to time gives velocity so we integrate acceleration to get velocity and ", 6))
	got := SplitSentences(strings.Join(words, " "))
	if len(got) < len(words)/MaxSentenceWords {
		t.Fatalf("expected the run cut into several sentences, got %d", len(got))
	}
	total := 0
	for _, s := range got {
		n := WordCount(s)
		if n > MaxSentenceWords {
			t.Errorf("sentence of %d words exceeds %d", n, MaxSentenceWords)
		}
		total += n
	}
	if total != len(words) {
		t.Errorf("words lost or added: %d != %d", total, len(words))
	}
}

func TestSentencesCarryTime(t *testing.T) {
	tr := &lecture.Transcript{Segments: []lecture.Segment{
		{Start: 10, End: 20, Speaker: "Prof", Text: "First point here. Second point here."},
		{Start: -1, End: -1, Text: "Untimed sentence."},
	}}
	s := Sentences(tr)
	if len(s) != 3 {
		t.Fatalf("got %d sentences", len(s))
	}
	if s[0].Span.Start != 10 || s[1].Span.Start <= 10 || s[1].Span.End != 20 || s[0].Speaker != "Prof" {
		t.Errorf("spans: %+v %+v", s[0], s[1])
	}
	if s[2].Span.Valid() {
		t.Errorf("untimed sentence got a time: %+v", s[2])
	}
}

func TestChunkBounds(t *testing.T) {
	var sents []lecture.Sentence
	for i := 0; i < 300; i++ {
		sents = append(sents, lecture.Sentence{Index: i, Text: "This sentence has exactly eight words in it.", Span: lecture.Span{Start: float64(i), End: float64(i) + 1}})
	}
	// One monster sentence with no punctuation.
	sents = append(sents, lecture.Sentence{Index: 300, Text: strings.Repeat("word ", 2000), Span: lecture.Span{Start: 300, End: 400}})
	chunks := Chunk(sents, 512, Estimate{})
	next := 0
	for _, c := range chunks {
		if c.Tokens > 512 {
			t.Errorf("chunk %d has %d tokens", c.Index, c.Tokens)
		}
		if c.FirstSent < next-1 || c.FirstSent > next {
			t.Errorf("chunk %d starts at sentence %d, expected %d", c.Index, c.FirstSent, next)
		}
		next = c.LastSent + 1
	}
	if next != len(sents) {
		t.Errorf("chunks end at %d, want %d", next, len(sents))
	}
	if chunks[0].Span.Start != 0 || !chunks[len(chunks)-1].Span.Valid() {
		t.Errorf("spans lost: %+v", chunks[0].Span)
	}
}

func TestEstimateIsConservative(t *testing.T) {
	// GPT-2/BART BPE gives 13 tokens for this sentence; the estimate must not be lower.
	if n := (Estimate{}).CountTokens("The quick brown fox jumps over the lazy dog, twice."); n < 13 {
		t.Errorf("estimate %d below the real count 13", n)
	}
}

func TestTerms(t *testing.T) {
	got := strings.Join(Terms("So, um, the Lagrangian's derivatives are running and we computed energies!"), " ")
	want := "lagrangian derivativ run comput energy"
	if got != want {
		t.Errorf("Terms = %q, want %q", got, want)
	}
}

func TestBullet(t *testing.T) {
	cases := []struct{ in, want string }{
		{"And, so the current state of things is good.", "The current state of things is good."},
		{"Yeah, I mean, we need a belief-net.", "We need a belief-net."},
		{"The model, you know, works.", "The model works."},
		{"So.", "So."},
		{"I think the parser is done.", "I think the parser is done."},
	}
	for _, c := range cases {
		if got := Bullet(c.in); got != c.want {
			t.Errorf("Bullet(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
