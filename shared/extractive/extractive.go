// Package extractive is the embedded summariser: it picks the lecture's most
// central, least redundant sentences and returns them as bullets in lecture
// order. Pure Go, no model, milliseconds for a 10k-word lecture.
package extractive

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/text"
)

// DefaultRatio keeps about 30% of the lecture's words: a summary about 70% shorter.
const DefaultRatio = 0.3

// MaxBullets caps a summary whatever its word budget (50 MiB at 30% would be 15 MiB of bullets nobody reads); it also bounds selection's work.
const MaxBullets = 2000

// poolAbove is the sentence count above which MMR considers only the most
// salient candidates (poolFactor times the bullets the budget can hold, at
// least poolMin); at or below it, every sentence is a candidate. Lectures
// are far below it (a three-hour meeting has about 2,500 sentences), so
// their summaries do not depend on the pool.
const (
	poolAbove  = 20000
	poolFactor = 4
	poolMin    = 1000
)

// checkEvery is how many sentences a loop handles between looks at ctx.
const checkEvery = 2048

// selectionWork counts mmr's similarity work (postings visited), for the
// test that the selection's work grows linearly with the input.
var selectionWork atomic.Int64

// stopped returns ctx's error as a lecture error, or nil while ctx is live.
func stopped(ctx context.Context) error {
	err := ctx.Err()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "the summary ran out of time")
	default:
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "the summary was cancelled")
	}
}

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
	w     []float64 // tf-idf weight per distinct term, parallel to ids
	ids   []int32   // distinct term ids, sorted
	norm  float64
	words int
	score float64
}

// Summarize selects sentences up to the word budget of opts. Its time is
// linear in the sentences (n log n in the worst case); it checks ctx as it
// goes and returns its error, code EUNAVAILABLE, soon after ctx ends.
func (s *Summarizer) Summarize(ctx context.Context, sents []lecture.Sentence, opts lecture.SummarizeOptions) (*lecture.Summary, error) {
	if len(sents) == 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "nothing to summarise: the transcript has no sentences")
	}
	if err := stopped(ctx); err != nil {
		return nil, err
	}
	totalWords := 0
	for i, x := range sents {
		if i%checkEvery == 0 {
			if err := stopped(ctx); err != nil {
				return nil, err
			}
		}
		totalWords += text.WordCount(x.Text)
	}
	budget := TargetWords(totalWords, opts)
	ss, nterms, err := s.vectorise(ctx, sents)
	if err != nil {
		return nil, err
	}
	// Bullets are rewritten again for the picked sentences only: keeping
	// them all would hold a second copy of the input.
	for i, x := range sents {
		if i%checkEvery == 0 {
			if err := stopped(ctx); err != nil {
				return nil, err
			}
		}
		ss[i].words = text.WordCount(text.Bullet(x.Text))
	}
	if err := stopped(ctx); err != nil {
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
		if i%checkEvery == 0 {
			if err := stopped(ctx); err != nil {
				return nil, err
			}
		}
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

	picked, err := s.mmr(ctx, ss, nterms, budget)
	if err != nil {
		return nil, err
	}
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
		sum.Bullets = append(sum.Bullets, lecture.Bullet{Text: text.Bullet(sents[i].Text), Span: sents[i].Span})
		sum.OutputWords += ss[i].words
	}
	return sum, nil
}

// mmr picks sentences by salience minus redundancy until the budget is used
// or MaxBullets are picked. It is lazy greedy: a candidate's value only
// falls as sentences are picked, so a stale value is an upper bound, and
// only the top of the heap needs its similarity to the new picks computed.
// Same picks as the plain loop, a fraction of the cosines. The picks are
// indexed by term, so a candidate meets only the picks it shares a term
// with. Above poolAbove sentences the candidates are the most salient few
// (see poolAbove), so the work is bounded by pool × picks whatever the
// input's length.
func (s *Summarizer) mmr(ctx context.Context, ss []sent, nterms, budget int) ([]int, error) {
	h := make(candHeap, 0, len(ss))
	words := 0
	for i, x := range ss {
		if x.score > 0 {
			h = append(h, cand{i: i, v: s.Lambda * x.score})
			words += x.words
		}
	}
	heap.Init(&h)
	if len(ss) > poolAbove && len(h) > 0 {
		// The bullets the budget holds at the candidates' mean length.
		fit := min(MaxBullets, budget/max(1, words/len(h))+1)
		if k := max(poolMin, poolFactor*fit); k < len(h) {
			pool := make(candHeap, 0, k)
			for range k { // popped in heap order, so pool is a heap already
				pool = append(pool, heap.Pop(&h).(cand))
			}
			h = pool
		}
	}
	var (
		picked  []int
		maxSim  = make(map[int]float64) // candidates' similarity to the picks they have seen
		px      = newPickIndex(nterms)
		used, n int
	)
	defer func() { selectionWork.Add(int64(n)) }()
	for it := 0; used < budget && len(picked) < MaxBullets && h.Len() > 0; it++ {
		if it%checkEvery == 0 {
			if err := stopped(ctx); err != nil {
				return nil, err
			}
		}
		c := heap.Pop(&h).(cand)
		x := &ss[c.i]
		// The last bullet may run past the budget only if that ends
		// closer to it than stopping short would; the budget only
		// shrinks, so a sentence that does not fit now never will.
		if over := used + x.words - budget; over > 0 && over >= budget-used {
			continue
		}
		if c.seen < len(picked) {
			sim, visits := px.maxCosine(ss, picked, x, c.seen)
			n += visits
			maxSim[c.i] = max(maxSim[c.i], sim)
			c.seen = len(picked)
			c.v = s.Lambda*x.score - (1-s.Lambda)*maxSim[c.i]
			if h.Len() > 0 && c.v < h[0].v {
				heap.Push(&h, c)
				continue
			}
		}
		px.add(x, len(picked))
		picked = append(picked, c.i)
		used += x.words
	}
	return picked, nil
}

// pickIndex is an inverted index of the picked sentences: for each term,
// the picks that hold it (in pick order) and their weight for it.
type pickIndex struct {
	post [][]posting
	dot  []float64 // per pick, scratch for maxCosine
	hit  []int32   // picks with a non-zero dot
}

type posting struct {
	pick int32
	w    float64
}

func newPickIndex(nterms int) *pickIndex {
	return &pickIndex{post: make([][]posting, nterms)}
}

func (px *pickIndex) add(x *sent, pick int) {
	px.dot = append(px.dot, 0)
	if x.norm == 0 {
		return
	}
	for k, id := range x.ids {
		px.post[id] = append(px.post[id], posting{int32(pick), x.w[k]})
	}
}

// maxCosine is the largest cosine between x and the picks from the
// from-th on, and the postings it visited. Each dot product adds the same
// products in the same (term) order as a merge of the two term lists would,
// so the values are the same to the bit.
func (px *pickIndex) maxCosine(ss []sent, picked []int, x *sent, from int) (float64, int) {
	if x.norm == 0 {
		return 0, 0
	}
	visits := 0
	px.hit = px.hit[:0]
	for k, id := range x.ids {
		list := px.post[id]
		j := sort.Search(len(list), func(j int) bool { return int(list[j].pick) >= from })
		for _, p := range list[j:] {
			if px.dot[p.pick] == 0 {
				px.hit = append(px.hit, p.pick)
			}
			px.dot[p.pick] += p.w * x.w[k]
		}
		visits += len(list) - j + 1
	}
	var best float64
	for _, p := range px.hit {
		a := &ss[picked[p]]
		best = max(best, px.dot[p]/(a.norm*x.norm))
		px.dot[p] = 0
	}
	return best, visits
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

func (s *Summarizer) vectorise(ctx context.Context, sents []lecture.Sentence) ([]sent, int, error) {
	vocab := map[string]int32{}
	isBigram := []bool{}
	ss := make([]sent, len(sents))
	var (
		buf     []string
		sorted  []int32
		idArena []int32
		wArena  []float64
	)
	const arena = 1 << 16
	df := []int{}
	for i, x := range sents {
		if i%checkEvery == 0 {
			if err := stopped(ctx); err != nil {
				return nil, 0, err
			}
		}
		buf = text.AppendTerms(buf[:0], x.Text)
		if s.Bigrams > 0 {
			n := len(buf)
			for k := 1; k < n; k++ {
				buf = append(buf, buf[k-1]+" "+buf[k])
			}
		}
		sorted = sorted[:0]
		for _, t := range buf {
			id, ok := vocab[t]
			if !ok {
				id = int32(len(vocab))
				vocab[t] = id
				df = append(df, 0)
				isBigram = append(isBigram, strings.IndexByte(t, ' ') >= 0)
			}
			sorted = append(sorted, id)
		}
		// distinct ids with counts
		slices.Sort(sorted)
		distinct := 0
		for k, id := range sorted {
			if k == 0 || sorted[k-1] != id {
				distinct++
			}
		}
		if len(idArena)+distinct > cap(idArena) { // one allocation per few thousand sentences
			n := max(distinct, min(arena, 16*(len(sents)-i)))
			idArena = make([]int32, 0, n)
			wArena = make([]float64, 0, n)
		}
		ss[i].ids = idArena[len(idArena) : len(idArena) : len(idArena)+distinct]
		ss[i].w = wArena[len(wArena) : len(wArena) : len(wArena)+distinct]
		idArena = idArena[:len(idArena)+distinct]
		wArena = wArena[:len(wArena)+distinct]
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
	return ss, len(vocab), nil
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
