package retrieval

import (
	"context"
	"sort"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/text"
)

// NotCovered is what the answerer says when the lecture does not cover the question.
const NotCovered = "This lecture does not cover that."

// MaxQuestionBytes bounds a question; longer ones are rejected as invalid.
const MaxQuestionBytes = 2000

// Answerer is the embedded extractive answerer.
type Answerer struct {
	// A question is covered when the best passage holds MinCoverage of the
	// question's term weight (idf), or PartialCoverage of it spread over at
	// least two distinct question terms: one shared word is chance, two
	// in one passage are a topic. Tuned on QMSum's questions against
	// off-topic ones (transcept eval qa).
	MinCoverage, PartialCoverage float64
	// Passages and Sentences bound how much evidence an answer quotes.
	Passages, Sentences int
	// MaxWords bounds the answer's length.
	MaxWords int
	// Embedder, when set and the index has its vectors, adds embedding
	// ranking to BM25 by reciprocal rank fusion.
	Embedder Embedder
}

// NewAnswerer returns the answerer with its tuned defaults.
func NewAnswerer() *Answerer {
	return &Answerer{MinCoverage: 0.6, PartialCoverage: 0.2, Passages: 3, Sentences: 3, MaxWords: 90}
}

// Name is the engine's name.
func (*Answerer) Name() string { return "extractive" }

// ValidateQuestion rejects empty and oversized questions with a clear message.
func ValidateQuestion(q string) error {
	q = strings.TrimSpace(q)
	switch {
	case q == "":
		return lecture.Errorf(lecture.EINVALID, "question is empty: ask something about the lecture")
	case len(q) > MaxQuestionBytes:
		return lecture.Errorf(lecture.ETOOLARGE, "question is %d bytes; the limit is %d: ask a shorter question", len(q), MaxQuestionBytes)
	}
	return nil
}

// Answer quotes the sentences of the lecture that best answer the question,
// with citations, or says that the lecture does not cover it.
func (a *Answerer) Answer(ctx context.Context, ix *Index, question string) (*lecture.Answer, error) {
	if err := ValidateQuestion(question); err != nil {
		return nil, err
	}
	question = strings.TrimSpace(question)
	ans := &lecture.Answer{Question: question, Engine: a.Name(), Citations: []lecture.Citation{}}
	ids, unknown := ix.query(question)
	hits, err := ix.HybridSearch(ctx, question, a.Passages, a.Embedder)
	if err != nil {
		return nil, err
	}
	if len(hits) == 0 || !a.covers(ix, ids, unknown, hits[0].Passage) {
		ans.Text = NotCovered
		return ans, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Score the sentences of the retrieved passages by the idf of the question
	// terms they contain, weighted by their passage's rank.
	qset := map[int32]float64{}
	for _, id := range ids {
		qset[id] = ix.idf(id)
	}
	type cand struct {
		sent    int
		passage int
		score   float64
	}
	var cands []cand
	top := hits[0].Score
	for _, h := range hits {
		p := ix.Passages[h.Passage]
		for si := p.FirstSent; si <= p.LastSent; si++ {
			var s float64
			seen := map[int32]bool{}
			for _, id := range ix.sentTerm[si] {
				if w, ok := qset[id]; ok && !seen[id] {
					s += w
					seen[id] = true
				}
			}
			if s > 0 {
				cands = append(cands, cand{si, h.Passage, s * (0.5 + 0.5*h.Score/top)})
			}
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].score != cands[j].score {
			return cands[i].score > cands[j].score
		}
		return cands[i].sent < cands[j].sent
	})
	var picked []cand
	words := 0
	for _, c := range cands {
		if len(picked) == a.Sentences || c.score < 0.5*cands[0].score {
			break
		}
		n := text.WordCount(ix.Sentences[c.sent].Text)
		if len(picked) > 0 && words+n > a.MaxWords {
			continue
		}
		picked = append(picked, c)
		words += n
	}
	sort.Slice(picked, func(i, j int) bool { return picked[i].sent < picked[j].sent })
	parts := make([]string, len(picked))
	for i, c := range picked {
		s := ix.Sentences[c.sent]
		parts[i] = text.Bullet(s.Text)
		ans.Citations = append(ans.Citations, lecture.Citation{Chunk: c.passage, Span: s.Span, Quote: s.Text, Score: lecture.CitationScore(c.score)})
	}
	ans.Text = strings.Join(parts, " ")
	ans.Covered = true
	return ans, nil
}

func (a *Answerer) covers(ix *Index, ids []int32, unknown float64, p int) bool {
	c := a.coverage(ix, ids, unknown, p)
	return c >= a.MinCoverage || c >= a.PartialCoverage && ix.matched(ids, p) >= 2
}

// Signals reports the coverage of the question by its best passage and how
// many distinct question terms that passage holds (for tuning and tests).
func (a *Answerer) Signals(ix *Index, q string) (coverage float64, matched int) {
	ids, unknown := ix.query(q)
	hits := ix.search(ids, 1)
	if len(hits) == 0 {
		return 0, 0
	}
	return a.coverage(ix, ids, unknown, hits[0].Passage), ix.matched(ids, hits[0].Passage)
}

// matched counts the distinct question terms in passage p.
func (ix *Index) matched(ids []int32, p int) int {
	n := 0
	ps := ix.Passages[p]
	for _, id := range ids {
	found:
		for si := ps.FirstSent; si <= ps.LastSent; si++ {
			for _, t := range ix.sentTerm[si] {
				if t == id {
					n++
					break found
				}
			}
		}
	}
	return n
}

// coverage is the share of the question's idf mass found in passage p.
func (a *Answerer) coverage(ix *Index, ids []int32, unknown float64, p int) float64 {
	var have, total float64
	total = unknown
	in := map[int32]bool{}
	ps := ix.Passages[p]
	for si := ps.FirstSent; si <= ps.LastSent; si++ {
		for _, id := range ix.sentTerm[si] {
			in[id] = true
		}
	}
	for _, id := range ids {
		w := ix.idf(id)
		total += w
		if in[id] {
			have += w
		}
	}
	if total == 0 {
		return 0
	}
	return have / total
}
