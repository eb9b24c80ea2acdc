package retrieval

import (
	"context"
	"math"
	"sort"

	"github.com/transcept/transcept/shared/lecture"
)

// Embedder turns texts into L2-normalised vectors (a sentence-embedding model).
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Model() string
}

// rrfK is reciprocal rank fusion's constant (Cormack et al. use 60).
const rrfK = 60

// candidates is how deep each ranking goes before fusion.
const candidates = 50

// Embed computes the passages' vectors with e and records its model.
func (ix *Index) Embed(ctx context.Context, e Embedder) error {
	texts := make([]string, len(ix.Passages))
	for i, p := range ix.Passages {
		texts[i] = p.Text
	}
	vs, err := e.Embed(ctx, texts)
	if err != nil {
		return err
	}
	if len(vs) != len(texts) {
		return lecture.Errorf(lecture.EINTERNAL, "embedder %s returned %d vectors for %d passages", e.Model(), len(vs), len(texts))
	}
	ix.Vectors, ix.EmbedModel = vs, e.Model()
	return nil
}

// HasVectors reports whether the index can rank by embeddings from e.
func (ix *Index) HasVectors(e Embedder) bool {
	return e != nil && len(ix.Vectors) == len(ix.Passages) && len(ix.Vectors) > 0 && ix.EmbedModel == e.Model()
}

// vectorSearch ranks passages by cosine similarity to the query vector
// (dot product: both sides are normalised).
func (ix *Index) vectorSearch(q []float32, k int) []Hit {
	hits := make([]Hit, len(ix.Vectors))
	for i, v := range ix.Vectors {
		var dot float64
		for j := range min(len(v), len(q)) {
			dot += float64(v[j]) * float64(q[j])
		}
		hits[i] = Hit{i, dot}
	}
	sortHits(hits)
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

// HybridSearch fuses the BM25 and the embedding rankings by reciprocal rank
// fusion; without vectors from e it is BM25 alone.
func (ix *Index) HybridSearch(ctx context.Context, question string, k int, e Embedder) ([]Hit, error) {
	ids, _ := ix.query(question)
	if !ix.HasVectors(e) {
		return ix.search(ids, k), nil
	}
	qv, err := e.Embed(ctx, []string{question})
	if err != nil {
		return nil, err
	}
	return fuse(k, ix.search(ids, candidates), ix.vectorSearch(qv[0], candidates)), nil
}

// VectorSearch ranks by embeddings alone (for evaluation).
func (ix *Index) VectorSearch(ctx context.Context, question string, k int, e Embedder) ([]Hit, error) {
	if !ix.HasVectors(e) {
		return nil, lecture.Errorf(lecture.EINVALID, "the index has no vectors from %s", e.Model())
	}
	qv, err := e.Embed(ctx, []string{question})
	if err != nil {
		return nil, err
	}
	return ix.vectorSearch(qv[0], k), nil
}

// fuse scores each passage by the sum of 1/(rrfK + rank) over the rankings.
func fuse(k int, rankings ...[]Hit) []Hit {
	score := map[int]float64{}
	for _, r := range rankings {
		for rank, h := range r {
			score[h.Passage] += 1 / float64(rrfK+rank+1)
		}
	}
	hits := make([]Hit, 0, len(score))
	for p, s := range score {
		hits = append(hits, Hit{p, s})
	}
	sortHits(hits)
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

func sortHits(hits []Hit) {
	sort.Slice(hits, func(a, b int) bool {
		if hits[a].Score != hits[b].Score {
			return hits[a].Score > hits[b].Score
		}
		return hits[a].Passage < hits[b].Passage
	})
}

// Normalize scales v to unit length in place (for embedders that do not).
func Normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	n := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= n
	}
}
