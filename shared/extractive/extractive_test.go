package extractive

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/text"
)

// lectureSentences builds a timed lecture: a topic (entropy) repeated in
// different words, plus filler chatter, plus one duplicated sentence.
func lectureSentences() []lecture.Sentence {
	lines := []string{
		"Okay, can everyone hear me at the back of the room?",
		"Today we study entropy and the second law of thermodynamics in isolated systems.",
		"Entropy measures how many microscopic states are compatible with the macroscopic state.",
		"Let me just find the right slide here, one moment please.",
		"The second law says that the entropy of an isolated system never decreases over time.",
		"The second law says that the entropy of an isolated system never decreases over time.",
		"A heat engine turns heat into work but always rejects some heat to a cold reservoir.",
		"The Carnot efficiency bounds every heat engine and depends only on the reservoir temperatures.",
		"Yeah, so, anyway, that is what the textbook says about it.",
		"Living systems keep their internal order by exporting entropy to their surroundings.",
		"Statistical mechanics explains entropy as the logarithm of the number of microstates.",
		"Please remember the homework is due on Friday before noon.",
	}
	var out []lecture.Sentence
	for i, l := range lines {
		out = append(out, lecture.Sentence{Index: i, Text: l, Span: lecture.Span{Start: float64(10 * i), End: float64(10*i + 9)}, Speaker: "Prof"})
	}
	return out
}

func TestSummarizeOrderLengthRedundancy(t *testing.T) {
	sents := lectureSentences()
	sum, err := New().Summarize(context.Background(), sents, lecture.SummarizeOptions{Ratio: 0.35})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Engine != "extractive" || len(sum.Bullets) < 2 {
		t.Fatalf("summary: %+v", sum)
	}
	last := -1.0
	seen := map[string]bool{}
	for _, b := range sum.Bullets {
		if b.Span.Start <= last {
			t.Errorf("bullets out of lecture order: %+v", sum.Bullets)
		}
		last = b.Span.Start
		if seen[b.Text] {
			t.Errorf("duplicate bullet %q", b.Text)
		}
		seen[b.Text] = true
		if strings.Contains(b.Text, "slide") || strings.Contains(b.Text, "homework") || strings.Contains(b.Text, "hear me") {
			t.Errorf("chatter selected: %q", b.Text)
		}
	}
	if r := float64(sum.OutputWords) / float64(sum.InputWords); r < 0.2 || r > 0.5 {
		t.Errorf("kept %.2f of the words, asked for 0.35", r)
	}
	if md := sum.Markdown(); !strings.HasPrefix(md, "- [00:") {
		t.Errorf("markdown bullets lack [mm:ss]: %q", md)
	}
}

func TestDefaultRatioIsAboutSeventyPercentShorter(t *testing.T) {
	var sents []lecture.Sentence
	topics := []string{"entropy", "energy", "momentum", "temperature", "pressure", "volume", "work", "heat"}
	for i := range 400 {
		a, b := topics[i%len(topics)], topics[(i*3+1)%len(topics)]
		sents = append(sents, lecture.Sentence{Index: i, Text: fmt.Sprintf("In example %d the %s of the gas changes how its %s behaves under load.", i, a, b), Span: lecture.Span{Start: float64(i), End: float64(i) + 1}})
	}
	sum, err := New().Summarize(context.Background(), sents, lecture.SummarizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := float64(sum.OutputWords) / float64(sum.InputWords)
	if r < 0.27 || r > 0.33 {
		t.Errorf("default summary keeps %.3f of the words; want about 0.30", r)
	}
}

func TestMaxWords(t *testing.T) {
	sum, err := New().Summarize(context.Background(), lectureSentences(), lecture.SummarizeOptions{MaxWords: 30})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range sum.Bullets {
		n += text.WordCount(b.Text)
	}
	if n > 45 || n < 10 {
		t.Errorf("asked for 30 words, got %d: %+v", n, sum.Bullets)
	}
}

func TestEmptyInput(t *testing.T) {
	_, err := New().Summarize(context.Background(), nil, lecture.SummarizeOptions{})
	if lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("want EINVALID, got %v", err)
	}
}

func TestOnlyShortSentencesStillSummarised(t *testing.T) {
	sents := []lecture.Sentence{{Text: "Yes.", Span: lecture.Span{Start: -1}}, {Text: "Entropy grows.", Span: lecture.Span{Start: -1}}}
	sum, err := New().Summarize(context.Background(), sents, lecture.SummarizeOptions{})
	if err != nil || len(sum.Bullets) != 1 || sum.Bullets[0].Text != "Entropy grows." {
		t.Errorf("got %+v, %v", sum, err)
	}
}
