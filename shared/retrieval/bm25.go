// Package retrieval finds the passages of a lecture that bear on a question
// (BM25 over passage chunks) and builds the embedded extractive answerer on
// top of it: the best supporting sentences, cited with their time spans.
package retrieval

import (
	"context"
	"math"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/text"
)

// BM25 parameters (the usual Robertson/Lucene values).
const (
	k1 = 1.2
	b  = 0.75
)

// PassageTokens is the size of a retrieval passage: small enough that a hit
// points at one moment of the lecture, large enough to hold its context.
const PassageTokens = 128

// Index is the per-lecture retrieval index. Its stored form is the
// passages and sentences; term statistics are rebuilt on load in well under
// a millisecond per thousand passages.
type Index struct {
	LectureID string             `json:"lecture_id,omitempty"`
	Sentences []lecture.Sentence `json:"sentences"`
	Passages  []lecture.Chunk    `json:"passages"`
	// Vectors are the passages' embeddings from EmbedModel (empty without one).
	Vectors    [][]float32 `json:"vectors,omitempty"`
	EmbedModel string      `json:"embed_model,omitempty"`

	vocab    map[string]int32
	postings [][]posting // term id -> passages containing it
	plen     []float64   // passage length in terms
	avglen   float64
	sentTerm [][]int32 // sentence -> term ids (query-time sentence scoring)
}

type posting struct {
	doc int32
	tf  float32
}

// Hit is a scored passage.
type Hit struct {
	Passage int
	Score   float64
}

// NewIndex cuts the sentences into passages and indexes them.
func NewIndex(lectureID string, sents []lecture.Sentence) *Index {
	ix, _ := NewIndexContext(context.Background(), lectureID, sents)
	return ix
}

// NewIndexContext is NewIndex that stops when ctx ends, with ctx's error as
// a lecture error, code EUNAVAILABLE. Its time is linear in the sentences.
func NewIndexContext(ctx context.Context, lectureID string, sents []lecture.Sentence) (*Index, error) {
	passages, err := text.ChunkContext(ctx, sents, PassageTokens, text.Estimate{})
	if err != nil {
		return nil, err
	}
	ix := &Index{LectureID: lectureID, Sentences: sents, Passages: passages}
	if err := ix.BuildContext(ctx); err != nil {
		return nil, err
	}
	return ix, nil
}

// checkEvery is how many sentences or passages BuildContext indexes
// between looks at ctx.
const checkEvery = 2048

// Build (re)computes the term statistics from Sentences and Passages.
func (ix *Index) Build() {
	_ = ix.BuildContext(context.Background())
}

// BuildContext is Build that stops when ctx ends, with ctx's error as a
// lecture error, code EUNAVAILABLE; the index is then unusable until a
// Build completes.
func (ix *Index) BuildContext(ctx context.Context) error {
	stopped := func(i int) error {
		if i%checkEvery != 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "indexing the lecture stopped")
		}
		return nil
	}
	ix.vocab = map[string]int32{}
	ix.postings = nil
	ix.plen = make([]float64, len(ix.Passages))
	ix.sentTerm = make([][]int32, len(ix.Sentences))
	var buf []string
	for si, s := range ix.Sentences {
		if err := stopped(si); err != nil {
			return err
		}
		buf = text.AppendTerms(buf[:0], s.Text)
		ids := make([]int32, len(buf))
		for k, t := range buf {
			id, ok := ix.vocab[t]
			if !ok {
				id = int32(len(ix.vocab))
				ix.vocab[t] = id
				ix.postings = append(ix.postings, nil)
			}
			ids[k] = id
		}
		ix.sentTerm[si] = ids
	}
	var total float64
	tf := map[int32]float32{}
	for pi, p := range ix.Passages {
		if err := stopped(pi); err != nil {
			return err
		}
		clear(tf)
		n := 0
		for si := p.FirstSent; si <= p.LastSent && si < len(ix.sentTerm); si++ {
			for _, id := range ix.sentTerm[si] {
				tf[id]++
				n++
			}
		}
		for id, c := range tf {
			ix.postings[id] = append(ix.postings[id], posting{int32(pi), c})
		}
		ix.plen[pi] = float64(n)
		total += float64(n)
	}
	if len(ix.Passages) > 0 {
		ix.avglen = total / float64(len(ix.Passages))
	}
	return nil
}

// idf is BM25's inverse document frequency, floored at a small positive value.
func (ix *Index) idf(id int32) float64 {
	n := float64(len(ix.Passages))
	df := float64(len(ix.postings[id]))
	return math.Max(math.Log(1+(n-df+0.5)/(df+0.5)), 0.01)
}

// questionWords ask about a lecture rather than name its content
// ("Summarize the discussion about X", "What did the group decide on Y?").
var questionWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`summarize summarise summary discussion discuss discussed talk talked say said mention mentioned
		describe description explain explained think thought opinion conclude concluded conclusion agree agreed decide decided
		decision group meeting lecture class general please tell happen happened idea ideas point points view views
		contribute contributed propose proposed suggest suggested according reason reasons`) {
		m[text.Stem(w)] = true
	}
	return m
}()

// query maps question text to known term ids, and reports the idf mass of
// the terms the lecture never uses (they count against coverage).
func (ix *Index) query(q string) (ids []int32, unknownMass float64) {
	seen := map[string]bool{}
	maxIDF := math.Log(1 + (float64(len(ix.Passages))+0.5)/0.5)
	for _, t := range text.Terms(q) {
		if seen[t] || questionWords[t] {
			continue
		}
		seen[t] = true
		if id, ok := ix.vocab[t]; ok {
			ids = append(ids, id)
		} else {
			unknownMass += maxIDF
		}
	}
	return ids, unknownMass
}

// Search returns the k best passages for the question, best first.
func (ix *Index) Search(question string, k int) []Hit {
	ids, _ := ix.query(question)
	return ix.search(ids, k)
}

func (ix *Index) search(ids []int32, k int) []Hit {
	scores := make([]float64, len(ix.Passages))
	for _, id := range ids {
		idf := ix.idf(id)
		for _, p := range ix.postings[id] {
			tf := float64(p.tf)
			norm := k1 * (1 - b + b*ix.plen[p.doc]/ix.avglen)
			scores[p.doc] += idf * tf * (k1 + 1) / (tf + norm)
		}
	}
	hits := make([]Hit, 0, len(scores))
	for i, s := range scores {
		if s > 0 {
			hits = append(hits, Hit{i, s})
		}
	}
	sortHits(hits)
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}
