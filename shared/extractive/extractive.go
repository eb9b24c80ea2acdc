// Package extractive is the embedded summariser: it picks the lecture's most
// central, least redundant sentences and returns them as bullets in lecture
// order. Pure Go, no model, milliseconds for a 10k-word lecture.
package extractive

import (
	"container/heap"
	"context"
	"math"
	"sort"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/text"
)

// DefaultRatio keeps about 30% of the lecture's words: a summary about 70% shorter.
const DefaultRatio = 0.3

// Summarizer scores sentences by their similarity to the lecture's TF-IDF
// centroid (a sentence that talks about what the whole lecture talks about),
// then selects greedily with maximal marginal relevance so that no two
// bullets say the same thing.
type Summarizer struct {
	// Lambda trades salience against redundancy in MMR (1 = ignore redundancy).
	Lambda float64
	// MinWords drops sentences too short to stand as a bullet ("Yeah, right.").
	MinWords int
	// LeadWeight adds a prior for early sentences; it is applied only to
	// prose (text without speakers or timestamps), where the opening
	// paragraph carries the point, and never to spoken transcripts.
	LeadWeight float64
	// TopTerms is how many of the centroid's strongest terms define the topic.
	TopTerms int
	// LengthPenalty divides a sentence's score by its word count to this
	// power over the cosine's own normalisation (0 = cosine).
	LengthPenalty float64
	// Density scores a sentence by the topic weight of its distinct terms
	// over its length to this power, instead of its cosine to the centroid
	// (0 = cosine). Cosine rewards short sentences that name one topic word;
	// density rewards sentences that tie several together.
	Density float64
	// Questions scales the score of sentences that ask rather than state.
	Questions float64
	// Bigrams adds adjacent content-word pairs as features, weighted by
	// this factor: recurring phrases ("speech recognizer") mark the topic
	// better than their words alone.
	Bigrams float64
}

// New returns the summariser with its tuned defaults.
func New() *Summarizer {
	return &Summarizer{Lambda: 0.7, MinWords: 6, TopTerms: 300, Density: 0.5, Questions: 1, LeadWeight: 3}
}

func (*Summarizer) Name() string  { return "extractive" }
func (*Summarizer) Model() string { return "" }

// TargetWords is the word budget for a summary of n input words.
func TargetWords(n int, opts lecture.SummarizeOptions) int {
	if opts.MaxWords > 0 {
		return opts.MaxWords
	}
	r := opts.Ratio
	if r <= 0 || r > 1 {
		r = DefaultRatio
	}
	return max(1, int(math.Round(float64(n)*r)))
}

type sent struct {
	terms []int32   // term ids
	w     []float64 // tf-idf weight per distinct term, parallel to ids
	ids   []int32   // distinct term ids, sorted
	norm  float64
	words int
	score float64
}

// Summarize selects sentences up to the word budget of opts.
func (s *Summarizer) Summarize(ctx context.Context, sents []lecture.Sentence, opts lecture.SummarizeOptions) (*lecture.Summary, error) {
	if len(sents) == 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "nothing to summarise: the transcript has no sentences")
	}
	totalWords := 0
	for _, x := range sents {
		totalWords += text.WordCount(x.Text)
	}
	budget := TargetWords(totalWords, opts)
	ss, nterms := s.vectorise(sents)
	bullets := make([]string, len(sents))
	for i, x := range sents {
		bullets[i] = text.Bullet(x.Text)
		ss[i].words = text.WordCount(bullets[i])
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Centroid: the sum of sentence vectors, keeping its strongest terms only
	// so that incidental words do not pull the scores.
	centroid := make([]float64, nterms)
	for _, x := range ss {
		for k, id := range x.ids {
			centroid[id] += x.w[k]
		}
	}
	keepTop(centroid, s.TopTerms)
	var cnorm float64
	for _, v := range centroid {
		cnorm += v * v
	}
	cnorm = math.Sqrt(cnorm)

	prose := isProse(sents)
	for i := range ss {
		x := &ss[i]
		if x.norm == 0 || cnorm == 0 || x.words < s.MinWords {
			x.score = -1
			continue
		}
		var dot float64
		for k, id := range x.ids {
			dot += x.w[k] * centroid[id]
		}
		x.score = dot / (x.norm * cnorm)
		if s.Density > 0 {
			var sum float64
			for _, id := range x.ids {
				sum += centroid[id]
			}
			x.score = sum / cnorm / math.Pow(float64(x.words), s.Density)
		}
		if s.LengthPenalty != 0 {
			x.score *= math.Pow(float64(x.words), -s.LengthPenalty)
		}
		if strings.HasSuffix(sents[i].Text, "?") {
			x.score *= s.Questions
		}
		if prose && s.LeadWeight > 0 {
			x.score += s.LeadWeight / float64(i+1)
		}
	}

	picked := s.mmr(ss, budget)
	if len(picked) == 0 { // everything too short: fall back to the longest sentence
		best := 0
		for i, x := range ss {
			if x.words > ss[best].words {
				best = i
			}
		}
		picked = []int{best}
	}
	sort.Ints(picked)
	sum := &lecture.Summary{Engine: s.Name(), InputWords: totalWords}
	for _, i := range picked {
		sum.Bullets = append(sum.Bullets, lecture.Bullet{Text: bullets[i], Span: sents[i].Span})
		sum.OutputWords += ss[i].words
	}
	return sum, nil
}

// mmr picks sentences by salience minus redundancy until the budget is used.
// It is lazy greedy: a candidate's value only falls as sentences are picked,
// so a stale value is an upper bound, and only the top of the heap needs
// its similarity to the new picks computed. Same picks as the plain loop,
// a fraction of the cosines.
func (s *Summarizer) mmr(ss []sent, budget int) []int {
	h := make(candHeap, 0, len(ss))
	for i, x := range ss {
		if x.score > 0 {
			h = append(h, cand{i: i, v: s.Lambda * x.score})
		}
	}
	heap.Init(&h)
	var picked []int
	maxSim := make([]float64, len(ss))
	used := 0
	for used < budget && h.Len() > 0 {
		c := heap.Pop(&h).(cand)
		x := &ss[c.i]
		// The last bullet may run past the budget only if that ends
		// closer to it than stopping short would; the budget only
		// shrinks, so a sentence that does not fit now never will.
		if over := used + x.words - budget; over > 0 && over >= budget-used {
			continue
		}
		if c.seen < len(picked) {
			for _, p := range picked[c.seen:] {
				maxSim[c.i] = max(maxSim[c.i], cosine(&ss[p], x))
			}
			c.seen = len(picked)
			c.v = s.Lambda*x.score - (1-s.Lambda)*maxSim[c.i]
			if h.Len() > 0 && c.v < h[0].v {
				heap.Push(&h, c)
				continue
			}
		}
		picked = append(picked, c.i)
		used += x.words
	}
	return picked
}

type cand struct {
	i    int
	v    float64
	seen int // picks its value accounts for
}

type candHeap []cand

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(a, b int) bool {
	if h[a].v != h[b].v {
		return h[a].v > h[b].v
	}
	return h[a].i < h[b].i
}
func (h candHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *candHeap) Push(x any)   { *h = append(*h, x.(cand)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (s *Summarizer) vectorise(sents []lecture.Sentence) ([]sent, int) {
	vocab := map[string]int32{}
	isBigram := []bool{}
	ss := make([]sent, len(sents))
	var buf []string
	df := []int{}
	for i, x := range sents {
		buf = text.AppendTerms(buf[:0], x.Text)
		ss[i].words = text.WordCount(x.Text)
		if s.Bigrams > 0 {
			n := len(buf)
			for k := 1; k < n; k++ {
				buf = append(buf, buf[k-1]+" "+buf[k])
			}
		}
		ids := make([]int32, len(buf))
		for k, t := range buf {
			id, ok := vocab[t]
			if !ok {
				id = int32(len(vocab))
				vocab[t] = id
				df = append(df, 0)
				isBigram = append(isBigram, strings.IndexByte(t, ' ') >= 0)
			}
			ids[k] = id
		}
		ss[i].terms = ids
		// distinct ids with counts
		sorted := append([]int32(nil), ids...)
		sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
		for k, id := range sorted {
			if k == 0 || sorted[k-1] != id {
				ss[i].ids = append(ss[i].ids, id)
				ss[i].w = append(ss[i].w, 1)
				df[id]++
			} else {
				ss[i].w[len(ss[i].w)-1]++
			}
		}
	}
	n := float64(len(sents))
	for i := range ss {
		x := &ss[i]
		var sq float64
		for k, id := range x.ids {
			idf := math.Log((n + 1) / (float64(df[id]) + 0.5))
			x.w[k] = (1 + math.Log(x.w[k])) * idf
			if isBigram[id] {
				x.w[k] *= s.Bigrams
			}
			sq += x.w[k] * x.w[k]
		}
		x.norm = math.Sqrt(sq)
	}
	return ss, len(vocab)
}

func cosine(a, b *sent) float64 {
	if a.norm == 0 || b.norm == 0 {
		return 0
	}
	var dot float64
	i, j := 0, 0
	for i < len(a.ids) && j < len(b.ids) {
		switch {
		case a.ids[i] == b.ids[j]:
			dot += a.w[i] * b.w[j]
			i++
			j++
		case a.ids[i] < b.ids[j]:
			i++
		default:
			j++
		}
	}
	return dot / (a.norm * b.norm)
}

// keepTop zeroes all but the k largest entries of v.
func keepTop(v []float64, k int) {
	if len(v) <= k {
		return
	}
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	th := c[len(c)-k]
	for i := range v {
		if v[i] < th {
			v[i] = 0
		}
	}
}

// isProse reports whether the sentences come from written text rather than
// a spoken transcript (no speakers, no timestamps).
func isProse(sents []lecture.Sentence) bool {
	for _, s := range sents {
		if s.Speaker != "" || s.Span.Valid() {
			return false
		}
	}
	return true
}
