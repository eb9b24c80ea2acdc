package eval

import (
	"slices"
	"sync"
)

// Score is one ROUGE variant: precision, recall and F1 (rouge_score's
// precision, recall, fmeasure).
type Score struct{ Precision, Recall, F float64 }

// Rouge holds the four ROUGE variants rouge_score reports as rouge1, rouge2,
// rougeL and rougeLsum.
type Rouge struct{ R1, R2, RL, RLsum Score }

// ROUGE scores candidate against reference exactly as
// rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"],
// use_stemmer=True).score(reference, candidate) does:
//
//   - tokens as Tokenize;
//   - ROUGE-N: clipped n-gram count overlap; precision and recall divide by
//     max(count, 1), so an empty side gives zeros rather than NaN;
//   - ROUGE-L: longest common subsequence of the two token sequences;
//   - ROUGE-Lsum: both texts split on "\n" into sentences; for each reference
//     sentence the union of one LCS (rouge_score's table backtrack, whose
//     tie-breaking decides which tokens are chosen) with every candidate
//     sentence, with hits capped by token counts over the whole texts so no
//     token is counted twice (ROUGE-1.5.5 behaviour).
//
// F is 2PR/(P+R), or 0 when P+R is 0. ROUGE is safe for concurrent use.
func ROUGE(reference, candidate string) Rouge {
	s := scorerPool.Get().(*scorer)
	r := s.score(reference, candidate)
	scorerPool.Put(s)
	return r
}

// MeanRouge is the plain per-field mean of per-item scores (F, P and R
// each averaged over items; F is not recomputed from the mean P and R).
// rouge_score's BootstrapAggregator reports as "mid" the median of 1000
// bootstrap means, which is within sampling noise of this mean; we report
// the mean itself so results are deterministic. An empty slice gives zeros.
func MeanRouge(scores []Rouge) Rouge {
	var m Rouge
	if len(scores) == 0 {
		return m
	}
	add := func(a *Score, b Score) {
		a.Precision += b.Precision
		a.Recall += b.Recall
		a.F += b.F
	}
	for _, s := range scores {
		add(&m.R1, s.R1)
		add(&m.R2, s.R2)
		add(&m.RL, s.RL)
		add(&m.RLsum, s.RLsum)
	}
	n := float64(len(scores))
	for _, a := range []*Score{&m.R1, &m.R2, &m.RL, &m.RLsum} {
		a.Precision /= n
		a.Recall /= n
		a.F /= n
	}
	return m
}

func makeScore(hits, predCount, targetCount int) Score {
	p := float64(hits) / float64(max(predCount, 1))
	r := float64(hits) / float64(max(targetCount, 1))
	return Score{Precision: p, Recall: r, F: fmeasure(p, r)}
}

// fmeasure evaluates 2*p*r/(p+r) in the same order as rouge_score so the
// result is bit-identical.
func fmeasure(p, r float64) float64 {
	if p+r > 0 {
		return 2 * p * r / (p + r)
	}
	return 0
}

// The stem cache is shared by all scorers: stemming dominates tokenisation
// and a corpus reuses a few thousand distinct words. It stops growing at
// stemCacheMax entries.
const stemCacheMax = 1 << 17

var (
	stemCacheMu sync.RWMutex
	stemCache   = make(map[string]string)
)

// cachedStem stems a lowercase ASCII token (longer than three bytes) held in
// a scratch buffer, which it may overwrite; the result must not be retained.
func cachedStem(tok []byte) []byte {
	stemCacheMu.RLock()
	st, ok := stemCache[string(tok)]
	stemCacheMu.RUnlock()
	if ok {
		return append(tok[:0], st...)
	}
	key := string(tok)
	out := stemToken(tok)
	stemCacheMu.Lock()
	if len(stemCache) < stemCacheMax {
		stemCache[key] = string(out)
	}
	stemCacheMu.Unlock()
	return out
}

var scorerPool = sync.Pool{New: func() any { return newScorer() }}

// textTokens is a tokenised text: stem ids, and the token offset at which
// each '\n'-separated line ends.
type textTokens struct {
	ids   []int32
	lines []int
}

// scorer holds the reusable scratch state of one ROUGE computation. Tokens
// are interned to small integer ids per call so that every later loop works
// on int32 slices rather than strings or maps.
type scorer struct {
	raw   map[string]int32 // lowercase surface token -> stem id (stem cache)
	stems map[string]int32 // stem -> id
	n     int32            // ids handed out in this call

	buf       []byte
	ref, cand textTokens
	cntA      []int32
	cntB      []int32
	bigA      []uint64
	bigB      []uint64
	row       []int32
	table     []int32
	sel       []bool
	cur       *textTokens
	emitFn    func([]byte)
	newlineFn func()
}

func newScorer() *scorer {
	s := &scorer{raw: make(map[string]int32), stems: make(map[string]int32)}
	s.emitFn = s.emit
	s.newlineFn = s.newline
	return s
}

func (s *scorer) emit(tok []byte) {
	id, ok := s.raw[string(tok)]
	if !ok {
		key := string(tok)
		st := tok
		if len(st) > 3 {
			st = cachedStem(st)
		}
		id, ok = s.stems[string(st)]
		if !ok {
			id = s.n
			s.n++
			s.stems[string(st)] = id
		}
		s.raw[key] = id
	}
	s.cur.ids = append(s.cur.ids, id)
}

func (s *scorer) newline() { s.cur.lines = append(s.cur.lines, len(s.cur.ids)) }

func (s *scorer) tokenize(text string, t *textTokens) {
	t.ids = t.ids[:0]
	t.lines = t.lines[:0]
	s.cur = t
	s.buf = scanTokens(text, s.buf, s.emitFn, s.newlineFn)
	t.lines = append(t.lines, len(t.ids))
	s.cur = nil
}

// zeroed returns buf resized to n and cleared.
func zeroed[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

func (s *scorer) score(reference, candidate string) Rouge {
	if len(s.raw) > 1<<16 { // don't let one huge call pin memory forever
		s.raw = make(map[string]int32)
		s.stems = make(map[string]int32)
	} else {
		clear(s.raw)
		clear(s.stems)
	}
	s.n = 0
	s.tokenize(reference, &s.ref)
	s.tokenize(candidate, &s.cand)
	ref, cand := s.ref.ids, s.cand.ids
	var out Rouge
	out.R1 = s.rouge1(ref, cand)
	out.R2 = s.rouge2(ref, cand)
	var lcs int
	out.RLsum, lcs = s.rougeLsum()
	if lcs >= 0 { // one line each: Lsum's table already holds the LCS
		out.RL = makeScore(lcs, len(cand), len(ref))
	} else {
		out.RL = s.rougeL(ref, cand)
	}
	return out
}

func (s *scorer) rouge1(ref, cand []int32) Score {
	cnt := zeroed(s.cntA, int(s.n))
	s.cntA = cnt
	for _, id := range ref {
		cnt[id]++
	}
	hits := 0
	for _, id := range cand {
		if cnt[id] > 0 {
			cnt[id]--
			hits++
		}
	}
	return makeScore(hits, len(cand), len(ref))
}

func bigrams(ids []int32, buf []uint64) []uint64 {
	buf = buf[:0]
	for i := 1; i < len(ids); i++ {
		buf = append(buf, uint64(uint32(ids[i-1]))<<32|uint64(uint32(ids[i])))
	}
	slices.Sort(buf)
	return buf
}

func (s *scorer) rouge2(ref, cand []int32) Score {
	a := bigrams(ref, s.bigA)
	b := bigrams(cand, s.bigB)
	s.bigA, s.bigB = a, b
	// Clipped overlap of two sorted multisets: sum of min counts.
	hits := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			hits++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return makeScore(hits, len(b), len(a))
}

// lcsLength is the LCS length of a and b using one row of min(len) + 1 cells.
func lcsLength(a, b []int32, row []int32) (int, []int32) {
	if len(b) > len(a) {
		a, b = b, a
	}
	row = zeroed(row, len(b))
	row = row[:len(b)]
	for _, x := range a {
		diag, left := int32(0), int32(0) // cells (i-1, j-1) and (i, j-1)
		for j, y := range b {
			up := row[j]
			v := left
			if x == y {
				v = diag + 1
			} else if up > v {
				v = up
			}
			row[j] = v
			diag, left = up, v
		}
	}
	return int(row[len(b)-1]), row
}

func (s *scorer) rougeL(ref, cand []int32) Score {
	if len(ref) == 0 || len(cand) == 0 {
		return Score{}
	}
	l, row := lcsLength(ref, cand, s.row)
	s.row = row
	return makeScore(l, len(cand), len(ref))
}

// markLCS fills the full LCS table of r (rows) against c (columns) and walks
// it back from the end as rouge_score's _backtrack_norec does: take a match
// diagonally, else move left if that cell is strictly larger than the one
// above, else move up. The reference positions taken are set in sel.
func (s *scorer) markLCS(r, c []int32, sel []bool) {
	w := len(c) + 1
	t := zeroed(s.table, (len(r)+1)*w)
	s.table = t
	for i, x := range r {
		prev := t[i*w : (i+1)*w]
		cur := t[(i+1)*w : (i+2)*w]
		prev, cur = prev[:len(c)+1], cur[:len(c)+1]
		left := int32(0)
		for j, y := range c {
			v := left
			if x == y {
				v = prev[j] + 1
			} else if up := prev[j+1]; up > v {
				v = up
			}
			cur[j+1] = v
			left = v
		}
	}
	i, j := len(r), len(c)
	for i > 0 && j > 0 {
		switch {
		case r[i-1] == c[j-1]:
			sel[i-1] = true
			i--
			j--
		case t[i*w+j-1] > t[(i-1)*w+j]:
			j--
		default:
			i--
		}
	}
}

// sentences yields the non-empty token ranges of a text's lines.
func sentences(t *textTokens, yield func(lo, hi int)) {
	lo := 0
	for _, hi := range t.lines {
		if hi > lo {
			yield(lo, hi)
		}
		lo = hi
	}
}

// rougeLsum returns the summary-level LCS score and, when each text has a
// single line with tokens (so that line is the whole token sequence), the
// plain LCS length of the two texts; otherwise -1.
func (s *scorer) rougeLsum() (Score, int) {
	ref, cand := s.ref.ids, s.cand.ids
	// rouge_score returns zeros when either side has no sentence or no
	// token; lines without tokens never contribute, so only the totals
	// matter here.
	if len(ref) == 0 || len(cand) == 0 {
		return Score{}, -1
	}
	cntR := zeroed(s.cntA, int(s.n))
	cntC := zeroed(s.cntB, int(s.n))
	s.cntA, s.cntB = cntR, cntC
	for _, id := range ref {
		cntR[id]++
	}
	for _, id := range cand {
		cntC[id]++
	}
	hits, pairs := 0, 0
	sentences(&s.ref, func(rlo, rhi int) {
		r := ref[rlo:rhi]
		sel := zeroed(s.sel, len(r))
		s.sel = sel
		sentences(&s.cand, func(clo, chi int) {
			s.markLCS(r, cand[clo:chi], sel)
			pairs++
		})
		for i, ok := range sel {
			if !ok {
				continue
			}
			if t := r[i]; cntC[t] > 0 && cntR[t] > 0 {
				hits++
				cntC[t]--
				cntR[t]--
			}
		}
	})
	lcs := -1
	if pairs == 1 {
		lcs = int(s.table[len(s.table)-1])
	}
	return makeScore(hits, len(cand), len(ref)), lcs
}
