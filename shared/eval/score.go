package eval

// The runners: the engines over the evaluation data, scored with the same
// ROUGE code as the published systems they are compared with.

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/retrieval"
	"github.com/transcept/transcept/shared/text"
	"github.com/transcept/transcept/shared/transcript"
)

// Row is one system's mean scores.
type Row struct {
	System string
	Words  float64 // mean summary length
	N      int
	Rouge  Rouge
}

// Table is a side-by-side comparison.
type Table struct {
	Title string
	Rows  []Row
	Notes []string
}

// Print writes the table with ROUGE F-measures ×100.
func (t *Table) Print(w io.Writer) {
	fmt.Fprintf(w, "%s\n", t.Title)
	fmt.Fprintf(w, "| %-28s | %5s | %6s | %7s | %7s | %7s | %7s |\n", "system", "n", "words", "ROUGE-1", "ROUGE-2", "ROUGE-L", "R-Lsum")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 30), strings.Repeat("-", 7), strings.Repeat("-", 8), strings.Repeat("-", 9), strings.Repeat("-", 9), strings.Repeat("-", 9), strings.Repeat("-", 9))
	for _, r := range t.Rows {
		fmt.Fprintf(w, "| %-28s | %5d | %6.1f | %7.2f | %7.2f | %7.2f | %7.2f |\n", r.System, r.N, r.Words,
			100*r.Rouge.R1.F, 100*r.Rouge.R2.F, 100*r.Rouge.RL.F, 100*r.Rouge.RLsum.F)
	}
	for _, n := range t.Notes {
		fmt.Fprintf(w, "%s\n", n)
	}
}

// Find returns the row of a system.
func (t *Table) Find(system string) (Row, bool) {
	for _, r := range t.Rows {
		if r.System == system {
			return r, true
		}
	}
	return Row{}, false
}

// lines puts one sentence a line, as ROUGE-Lsum expects.
func lines(s string) string {
	return strings.Join(text.SplitSentences(text.Normalize(s)), "\n")
}

func bulletLines(s *lecture.Summary) string {
	parts := make([]string, len(s.Bullets))
	for i, b := range s.Bullets {
		parts[i] = b.Text
	}
	return strings.Join(parts, "\n")
}

type acc struct {
	scores []Rouge
	words  int
}

func (a *acc) add(ref, cand string) {
	a.scores = append(a.scores, ROUGE(ref, cand))
	a.words += text.WordCount(cand)
}

func (a *acc) row(name string) Row {
	return Row{System: name, N: len(a.scores), Words: float64(a.words) / float64(max(1, len(a.scores))), Rouge: MeanRouge(a.scores)}
}

// SummEval scores our summariser on SummEval-100 against the original
// highlights, beside the systems in the file (M0 = LEAD-3, M22 =
// BART-large-CNN). Ours is given LEAD-3's length, article by article, so
// both pick the same number of words.
func SummEval(ctx context.Context, items []SummEvalItem, sm lecture.Summarizer, systems []string) (*Table, error) {
	ours, ratio := &acc{}, &acc{}
	sys := map[string]*acc{}
	for _, it := range items {
		ref := lines(it.Highlights)
		tr, err := transcript.Parse([]byte(it.Source), transcript.Text)
		if err != nil {
			return nil, fmt.Errorf("summeval %s: %w", it.ID, err)
		}
		sents := text.Sentences(tr)
		lead := it.Systems["M0"]
		sum, err := sm.Summarize(ctx, sents, lecture.SummarizeOptions{MaxWords: max(1, text.WordCount(lead))})
		if err != nil {
			return nil, fmt.Errorf("summeval %s: %w", it.ID, err)
		}
		ours.add(ref, bulletLines(sum))
		sum, err = sm.Summarize(ctx, sents, lecture.SummarizeOptions{})
		if err != nil {
			return nil, err
		}
		ratio.add(ref, bulletLines(sum))
		for _, name := range systems {
			if out, ok := it.Systems[name]; ok {
				if sys[name] == nil {
					sys[name] = &acc{}
				}
				sys[name].add(ref, lines(out))
			}
		}
	}
	t := &Table{Title: fmt.Sprintf("SummEval-100 (CNN/DailyMail), reference = original highlights, %d articles", len(items))}
	t.Rows = append(t.Rows, ours.row(sm.Name()+" (LEAD-3 length)"), ratio.row(sm.Name()+" (default 30%)"))
	for _, name := range systems {
		if a := sys[name]; a != nil {
			label := name
			switch name {
			case "M0":
				label = "M0 LEAD-3"
			case "M22":
				label = "M22 BART-large-CNN"
			case "M23":
				label = "M23 Pegasus"
			case "M17":
				label = "M17 T5"
			}
			t.Rows = append(t.Rows, a.row(label))
		}
	}
	return t, nil
}

// QMSumTranscript turns a meeting into a transcript of speaker turns, one
// segment per turn (so segment i is turn i).
func QMSumTranscript(m QMSumMeeting) *lecture.Transcript {
	turns := make([]transcript.Turn, len(m.Turns))
	for i, t := range m.Turns {
		turns[i] = transcript.Turn{Speaker: t.Speaker, Text: t.Content}
	}
	return transcript.FromTurns(turns)
}

// QMSum scores our summariser on the first general query ("Summarize the
// whole meeting") of each meeting, at the reference's length, beside a lead
// baseline of the same length (the meeting's first cleaned sentences).
func QMSum(ctx context.Context, meetings []QMSumMeeting, sm lecture.Summarizer, title string) (*Table, error) {
	ours, lead := &acc{}, &acc{}
	for _, m := range meetings {
		if len(m.General) == 0 {
			continue
		}
		ref := m.General[0].Answer
		n := text.WordCount(ref)
		sents := text.Sentences(QMSumTranscript(m))
		sum, err := sm.Summarize(ctx, sents, lecture.SummarizeOptions{MaxWords: n})
		if err != nil {
			return nil, fmt.Errorf("qmsum %s: %w", m.Name, err)
		}
		refLines := lines(ref)
		ours.add(refLines, bulletLines(sum))
		lead.add(refLines, leadWords(sents, n))
	}
	t := &Table{Title: title}
	t.Rows = append(t.Rows, ours.row(sm.Name()), lead.row("lead (same length)"))
	t.Notes = append(t.Notes, "published TextRank on QMSum (all queries): ROUGE-1 16.27, ROUGE-2 2.69, ROUGE-L 15.41")
	return t, nil
}

// leadWords is the lead baseline: the first sentences up to n words.
func leadWords(sents []lecture.Sentence, n int) string {
	var out []string
	used := 0
	for _, s := range sents {
		if used >= n {
			break
		}
		out = append(out, s.Text)
		used += text.WordCount(s.Text)
	}
	return strings.Join(out, "\n")
}

// Recall is retrieval quality on QMSum's specific queries.
type Recall struct {
	Queries    int
	K          int
	TurnRecall float64 // mean share of relevant turns inside the top-k passages
	HitRate    float64 // share of queries with a relevant turn in the top-k
}

// Retrieval measures BM25 recall@k of the relevant_text_span turns.
func Retrieval(meetings []QMSumMeeting, k int) Recall {
	r, _ := RetrievalWith(context.Background(), meetings, k, nil, "bm25")
	return r
}

// RetrievalWith measures recall@k ranking by mode: bm25, vector (the
// embedder alone) or hybrid (both, fused by reciprocal rank).
func RetrievalWith(ctx context.Context, meetings []QMSumMeeting, k int, e retrieval.Embedder, mode string) (Recall, error) {
	var r Recall
	r.K = k
	for _, m := range meetings {
		ix := retrieval.NewIndex("", text.Sentences(QMSumTranscript(m)))
		if mode != "bm25" {
			if err := ix.Embed(ctx, e); err != nil {
				return r, err
			}
		}
		for _, q := range m.Specific {
			relevant := map[int]bool{}
			for _, sp := range q.Spans {
				for t := sp[0]; t <= sp[1]; t++ {
					relevant[t] = true
				}
			}
			if len(relevant) == 0 {
				continue
			}
			var hits []retrieval.Hit
			var err error
			switch mode {
			case "vector":
				hits, err = ix.VectorSearch(ctx, q.Query, k, e)
			case "hybrid":
				hits, err = ix.HybridSearch(ctx, q.Query, k, e)
			default:
				hits = ix.Search(q.Query, k)
			}
			if err != nil {
				return r, err
			}
			covered := map[int]bool{}
			for _, h := range hits {
				p := ix.Passages[h.Passage]
				for si := p.FirstSent; si <= p.LastSent; si++ {
					if seg := ix.Sentences[si].Segment; relevant[seg] {
						covered[seg] = true
					}
				}
			}
			r.Queries++
			r.TurnRecall += float64(len(covered)) / float64(len(relevant))
			if len(covered) > 0 {
				r.HitRate++
			}
		}
	}
	if r.Queries > 0 {
		r.TurnRecall /= float64(r.Queries)
		r.HitRate /= float64(r.Queries)
	}
	return r, nil
}

// OffTopic are questions no lecture in the evaluation data covers.
var OffTopic = []string{
	"What is the boiling point of liquid nitrogen?",
	"Who won the football world cup in 1998?",
	"How do I bake sourdough bread?",
	"What is the capital of Australia?",
	"Explain the causes of the French Revolution.",
	"What is the airspeed velocity of an unladen swallow?",
	"How many moons does Jupiter have?",
	"Who wrote Pride and Prejudice?",
	"What is the recommended dose of ibuprofen for adults?",
	"How does photosynthesis convert sunlight into sugar?",
	"What are the rules of cricket?",
	"Which vaccines are required for travel to Brazil?",
	"Summarize the plot of Hamlet.",
	"What is the tallest mountain in Africa?",
	"How do volcanoes form?",
	"What did the group decide about the wedding venue?",
	"What is the exchange rate between yen and euro?",
	"How do you change a car tyre?",
	"What is the chemical formula of table salt?",
	"Who painted the Mona Lisa?",
}

// Coverage is how the answerer separates questions a lecture covers from
// questions it does not.
type Coverage struct {
	Specific, SpecificCovered int // QMSum specific queries, on their own meeting
	OffTopic, OffTopicCovered int // OffTopic questions, on every meeting
}

// AnswerCoverage asks every meeting its own specific queries and the off-topic list.
func AnswerCoverage(ctx context.Context, meetings []QMSumMeeting, a *retrieval.Answerer) (Coverage, error) {
	var c Coverage
	for _, m := range meetings {
		ix := retrieval.NewIndex("", text.Sentences(QMSumTranscript(m)))
		for _, q := range m.Specific {
			ans, err := a.Answer(ctx, ix, q.Query)
			if err != nil {
				return c, err
			}
			c.Specific++
			if ans.Covered {
				c.SpecificCovered++
			}
		}
		for _, q := range OffTopic {
			ans, err := a.Answer(ctx, ix, q)
			if err != nil {
				return c, err
			}
			c.OffTopic++
			if ans.Covered {
				c.OffTopicCovered++
			}
		}
	}
	return c, nil
}
