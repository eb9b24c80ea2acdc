package seq2seq

import (
	"cmp"
	"container/heap"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/shared/lecture"
)

// Early-stopping rules of beam search (generation_config.json's
// early_stopping), with Hugging Face's meanings.
const (
	// StopHeuristic (false, the default) stops an input when num_beams
	// hypotheses have ended and the best running beam, scored at the
	// current length, cannot beat the worst of them.
	StopHeuristic = "false"
	// StopEarly (true) stops an input as soon as num_beams hypotheses ended.
	StopEarly = "true"
	// StopNever ("never") stops only when no running beam can beat the
	// worst ended hypothesis at any length up to max_length (canonical beam
	// search).
	StopNever = "never"
)

// beamJSON is the beam-search part of config.json / generation_config.json
// (optimum.Generation does not carry it).
type beamJSON struct {
	NumBeams      *int            `json:"num_beams"`
	LengthPenalty *float64        `json:"length_penalty"`
	EarlyStopping json.RawMessage `json:"early_stopping"` // true, false or "never"
	NoRepeatNGram *int            `json:"no_repeat_ngram_size"`
	NumReturn     *int            `json:"num_return_sequences"`
}

// beamSettings are the resolved beam-search settings.
type beamSettings struct {
	settings
	numBeams, numReturn, noRepeat int
	lengthPenalty                 float64
	early                         string
}

var folderBeams sync.Map // dir → beamSettings read from its JSON files

// readBeam reads dir's beam settings (config.json's as defaults,
// generation_config.json's over them), once per folder.
func readBeam(dir string) (beamSettings, error) {
	if v, ok := folderBeams.Load(dir); ok {
		return v.(beamSettings), nil
	}
	s := beamSettings{numBeams: 1, numReturn: 1, lengthPenalty: 1, early: StopHeuristic}
	for _, name := range []string{"config.json", "generation_config.json"} {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		var j beamJSON
		if err == nil {
			err = json.Unmarshal(b, &j)
		}
		if err != nil {
			return s, lecture.Wrap(lecture.EINVALID, err, "%s cannot be read", path)
		}
		set := func(dst, src *int) {
			if src != nil {
				*dst = *src
			}
		}
		set(&s.numBeams, j.NumBeams)
		set(&s.noRepeat, j.NoRepeatNGram)
		set(&s.numReturn, j.NumReturn)
		if j.LengthPenalty != nil {
			s.lengthPenalty = *j.LengthPenalty
		}
		if len(j.EarlyStopping) > 0 && string(j.EarlyStopping) != "null" {
			e, err := parseEarly(string(j.EarlyStopping))
			if err != nil {
				return s, lecture.Wrap(lecture.EINVALID, err, "%s: early_stopping", path)
			}
			s.early = e
		}
	}
	folderBeams.Store(dir, s)
	return s, nil
}

func parseEarly(v string) (string, error) {
	switch v {
	case "true", "True":
		return StopEarly, nil
	case "false", "False", "":
		return StopHeuristic, nil
	case `"never"`, "never":
		return StopNever, nil
	}
	return "", lecture.Errorf(lecture.EINVALID, "early_stopping %s: want true, false or \"never\"", v)
}

// resolveBeam applies Options over the folder's settings and checks them.
func resolveBeam(g optimum.Generation, folder beamSettings, o Options) (beamSettings, error) {
	s := folder
	s.settings = resolve(g, o)
	if o.NumBeams > 0 {
		s.numBeams = o.NumBeams
	}
	if o.NumReturnSequences > 0 {
		s.numReturn = o.NumReturnSequences
	}
	if o.NoRepeatNGramSize > 0 {
		s.noRepeat = o.NoRepeatNGramSize
	}
	if o.LengthPenalty != nil {
		s.lengthPenalty = *o.LengthPenalty
	}
	if o.EarlyStopping != "" {
		e, err := parseEarly(o.EarlyStopping)
		if err != nil {
			return s, err
		}
		s.early = e
	}
	switch {
	case s.numBeams < 1:
		return s, lecture.Errorf(lecture.EINVALID, "num_beams %d: want ≥ 1", s.numBeams)
	case s.numReturn < 1 || s.numReturn > s.numBeams:
		return s, lecture.Errorf(lecture.EINVALID, "num_return_sequences %d: want 1 to num_beams (%d)", s.numReturn, s.numBeams)
	case s.MaxLength < 2:
		return s, lecture.Errorf(lecture.EINVALID, "max_length %d: want ≥ 2 (it counts the decoder start token)", s.MaxLength)
	}
	return s, nil
}

// Generate runs what the settings ask for: Greedy when num_beams (Options
// over the folder's generation config) is 1, else Beam.
func Generate(m *optimum.Seq2Seq, inputIDs, mask [][]int, o Options) (*Result, error) {
	folder, err := readBeam(m.Dir)
	if err != nil {
		return nil, err
	}
	s, err := resolveBeam(m.Generation, folder, o)
	if err != nil {
		return nil, err
	}
	if s.numBeams == 1 {
		return Greedy(m, inputIDs, mask, o)
	}
	return Beam(m, inputIDs, mask, o)
}

// Beam generates with beam search, with the semantics of Hugging Face's
// generate() for encoder-decoder models (BeamSearchScorer): num_beams,
// length_penalty, early_stopping, no_repeat_ngram_size, min_length,
// max_length, forced_bos_token_id, forced_eos_token_id and
// num_return_sequences, from Options over the folder's
// generation_config.json. The encoder runs once; its outputs are repeated
// per beam, and the decoder's self-attention cache is reordered by beam
// each step.
//
// Result.IDs holds num_return_sequences rows per input, best first (decoder
// start token, tokens, EOS when the hypothesis ended with one, then padding
// to the longest); Result.Scores their length-penalised scores: the sum of
// the tokens' log-probabilities (after the logits processors) divided by
// the generated length (EOS counted, the decoder start token not) raised to
// length_penalty. With num_beams 1 it is still beam search (one beam), not
// Greedy; Generate picks.
func Beam(m *optimum.Seq2Seq, inputIDs, mask [][]int, o Options) (*Result, error) {
	if err := checkBatch(m, inputIDs, mask); err != nil {
		return nil, err
	}
	folder, err := readBeam(m.Dir)
	if err != nil {
		return nil, err
	}
	s, err := resolveBeam(m.Generation, folder, o)
	if err != nil {
		return nil, err
	}
	b, seqLen := len(inputIDs), len(inputIDs[0])
	r := newRun(m, b*s.numBeams, &o)
	defer r.close()
	if err := r.encode(flat(inputIDs), flat(mask), b, seqLen, s.numBeams); err != nil {
		return nil, err
	}
	return beamSearch(&modelStepper{r: r, noCache: o.NoCache}, b, &s)
}

// stepper is one decoder step over rows of decoder ids (all the same
// length). From the second step on, parent[i] is the row of the previous
// step that row i continues (beam search reorders its cache by it); when
// inputs left the batch, parent is shorter than the previous step's rows
// (the cache and encoder states keep those rows only). It
// returns the logits of each row's next token, rows × vocab.
type stepper interface {
	next(ids [][]int, parent []int) ([]float32, error)
}

type modelStepper struct {
	r       *run
	noCache bool
}

func (s *modelStepper) next(ids [][]int, parent []int) ([]float32, error) {
	switch {
	case parent != nil && len(parent) != s.r.b:
		// inputs left the batch: the encoder states go too, cache or not
		if err := s.r.gather(parent); err != nil {
			return nil, err
		}
	case parent != nil && !s.noCache:
		if err := s.r.reorder(parent); err != nil {
			return nil, err
		}
	}
	return s.r.step(ids, s.noCache)
}

// logSoftmax writes log(softmax(x)) into out, in float64.
func logSoftmax(x []float32, out []float64) {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, float64(v))
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v) - m)
	}
	lse := m + math.Log(sum)
	for i, v := range x {
		out[i] = float64(v) - lse
	}
}

// processBeam applies Hugging Face's logits processors, in its order, to one
// row's log-probabilities, where ids (decoder start included) exist:
// no_repeat_ngram_size and min_length set banned tokens to -inf; a forced
// token gets 0 and every other -inf.
func (s *beamSettings) processBeam(lp []float64, ids []int) {
	inf := math.Inf(-1)
	for _, t := range bannedNGram(ids, s.noRepeat) {
		if t >= 0 && t < len(lp) {
			lp[t] = inf
		}
	}
	cur := len(ids)
	if cur < s.MinLength {
		for _, e := range s.EOSTokenIDs {
			if e >= 0 && e < len(lp) {
				lp[e] = inf
			}
		}
	}
	force := func(id int) {
		if id < 0 || id >= len(lp) {
			return
		}
		for i := range lp {
			lp[i] = inf
		}
		lp[id] = 0
	}
	if cur == 1 && s.ForcedBOSTokenID >= 0 {
		force(s.ForcedBOSTokenID)
	}
	if cur == s.MaxLength-1 && s.ForcedEOSTokenID >= 0 {
		force(s.ForcedEOSTokenID)
	}
}

// bannedNGram is what no_repeat_ngram_size n forbids next after ids: every
// token that followed an earlier occurrence of the last n-1 tokens.
func bannedNGram(ids []int, n int) []int {
	cur := len(ids)
	if n <= 0 || cur+1 < n {
		return nil
	}
	key := ids[cur-n+1:]
	var out []int
	for i := 0; i+n <= cur; i++ {
		if slices.Equal(ids[i:i+n-1], key) {
			out = append(out, ids[i+n-1])
		}
	}
	return out
}

// hypothesis is an ended (or, at the end, still running) beam; seq is its
// order of arrival (ties between scores go to the earlier arrival when one
// is dropped, to the later when picking the best, as in Hugging Face).
type hypothesis struct {
	score float64
	seq   int
	ids   []int
}

// hypotheses are one input's best ended beams (BeamHypotheses), a min-heap
// by (score, arrival).
type hypotheses struct {
	list  []hypothesis
	worst float64
	n     int
}

func (h *hypotheses) Len() int { return len(h.list) }
func (h *hypotheses) Less(i, j int) bool {
	a, b := h.list[i], h.list[j]
	return a.score < b.score || (a.score == b.score && a.seq < b.seq)
}
func (h *hypotheses) Swap(i, j int) { h.list[i], h.list[j] = h.list[j], h.list[i] }
func (h *hypotheses) Push(x any)    { h.list = append(h.list, x.(hypothesis)) }
func (h *hypotheses) Pop() any {
	x := h.list[len(h.list)-1]
	h.list = h.list[:len(h.list)-1]
	return x
}

// add scores a hypothesis of genLen generated tokens (EOS counted) and
// keeps it when it is among the num_beams best.
func (h *hypotheses) add(ids []int, sum float64, genLen int, s *beamSettings) {
	score := sum / math.Pow(float64(genLen), s.lengthPenalty)
	if len(h.list) < s.numBeams || score > h.worst {
		heap.Push(h, hypothesis{score, h.n, ids})
		h.n++
		if len(h.list) > s.numBeams {
			heap.Pop(h)
			h.worst = h.list[0].score
		} else {
			h.worst = min(score, h.worst)
		}
	}
}

// best returns the n best hypotheses, best first.
func (h *hypotheses) best(n int) []hypothesis {
	l := slices.Clone(h.list)
	slices.SortFunc(l, func(a, b hypothesis) int {
		if a.score != b.score {
			return cmp.Compare(b.score, a.score)
		}
		return b.seq - a.seq
	})
	return l[:n]
}

// done reports whether no running beam can improve this input's ended
// hypotheses; best is the step's best candidate score (a sum), curLen the
// length after this step with the decoder start token.
func (h *hypotheses) done(best float64, curLen int, s *beamSettings) bool {
	if len(h.list) < s.numBeams {
		return false
	}
	length := curLen - 1
	switch s.early {
	case StopEarly:
		return true
	case StopNever:
		if s.lengthPenalty > 0 {
			length = s.MaxLength - 1
		}
	}
	return h.worst >= best/math.Pow(float64(length), s.lengthPenalty)
}

// candidates is a min-heap of flat (beam × vocab) indices by score, ties
// broken towards the lower index, for picking the top k.
type candidates struct {
	idx    []int
	scores []float64
}

func (c *candidates) Len() int { return len(c.idx) }
func (c *candidates) Less(i, j int) bool {
	a, b := c.idx[i], c.idx[j]
	if c.scores[a] != c.scores[b] {
		return c.scores[a] < c.scores[b]
	}
	return a > b
}
func (c *candidates) Swap(i, j int) { c.idx[i], c.idx[j] = c.idx[j], c.idx[i] }
func (c *candidates) Push(x any)    { c.idx = append(c.idx, x.(int)) }
func (c *candidates) Pop() any {
	x := c.idx[len(c.idx)-1]
	c.idx = c.idx[:len(c.idx)-1]
	return x
}

// topK returns the indices of the k highest scores, best first.
func topK(scores []float64, k int, buf []int) []int {
	c := &candidates{idx: buf[:0], scores: scores}
	for i := range scores {
		if len(c.idx) < k {
			heap.Push(c, i)
		} else if s := scores[i]; s > scores[c.idx[0]] || (s == scores[c.idx[0]] && i < c.idx[0]) {
			c.idx[0] = i
			heap.Fix(c, 0)
		}
	}
	out := c.idx
	slices.SortFunc(out, func(a, b int) int {
		if scores[a] != scores[b] {
			return cmp.Compare(scores[b], scores[a])
		}
		return a - b
	})
	return out
}

// beamSearch is the search over a stepper for batch inputs.
func beamSearch(st stepper, batch int, s *beamSettings) (*Result, error) {
	hyps, first, _, err := beamCore(st, batch, s, nil)
	if err != nil {
		return nil, err
	}
	res := &Result{FirstLogits: first}
	longest := 0
	for b := range batch {
		for _, h := range hyps[b].best(s.numReturn) {
			res.IDs = append(res.IDs, h.ids)
			res.Scores = append(res.Scores, h.score)
			longest = max(longest, len(h.ids))
		}
	}
	for i, row := range res.IDs {
		for len(row) < longest {
			row = append(row, s.PadTokenID)
		}
		res.IDs[i] = row
	}
	return res, nil
}

// beamRows is beam search with one best sequence per input, each input
// cancelled alone when its done channel (done may be nil) closes.
func beamRows(st stepper, done []<-chan struct{}, s *beamSettings) ([]Output, error) {
	hyps, first, cancelled, err := beamCore(st, len(done), s, done)
	if err != nil {
		return nil, err
	}
	out := make([]Output, len(done))
	for b := range out {
		if b < len(first) {
			out[b].FirstLogits = first[b]
		}
		if cancelled[b] {
			out[b].Err = errCancelled()
			continue
		}
		h := hyps[b].best(1)[0]
		out[b].IDs, out[b].Score = h.ids, h.score
	}
	return out, nil
}

// beamCore runs the search and returns each input's hypotheses and
// first-step logits (of its first beam). An input leaves the batch (its
// beams are dropped from the decoder's rows, run.gather) once it is done
// or cancelled (cancel[b] closed, when cancel is not nil); cancelled
// inputs are reported and their hypotheses are not to be used.
func beamCore(st stepper, batch int, s *beamSettings, cancel []<-chan struct{}) ([]hypotheses, [][]float32, []bool, error) {
	k := s.numBeams
	active := make([]int, batch) // the inputs whose beams are the decoder's rows, in order
	for b := range active {
		active[b] = b
	}
	rows := batch * k
	ids := make([][]int, rows)
	scores := make([]float64, rows)
	for i := range ids {
		ids[i] = []int{s.DecoderStartTokenID}
		if i%k != 0 {
			scores[i] = -1e9 // only the first beam is expanded at the first step
		}
	}
	hyps := make([]hypotheses, batch)
	for i := range hyps {
		hyps[i].worst = 1e9
	}
	done := make([]bool, batch)
	cancelled := make([]bool, batch)
	isCancelled := func(b int) bool {
		if cancel == nil || cancel[b] == nil {
			return false
		}
		select {
		case <-cancel[b]:
			return true
		default:
			return false
		}
	}
	keep := max(2, 1+len(s.EOSTokenIDs)) * k
	var (
		first  [][]float32
		parent []int
		lp     []float64
		buf    []int
	)
	for cur := 1; cur < s.MaxLength; cur++ {
		// inputs done or cancelled leave the batch before this step
		var still []int
		for _, b := range active {
			if !done[b] && isCancelled(b) {
				cancelled[b], done[b] = true, true
			}
			if !done[b] {
				still = append(still, b)
			}
		}
		if len(still) == 0 {
			break
		}
		if len(still) < len(active) {
			pos := make(map[int]int, len(active))
			for i, b := range active {
				pos[b] = i
			}
			var p []int
			var nids [][]int
			var nscores []float64
			for _, b := range still {
				for j := range k {
					r := pos[b]*k + j
					nids, nscores = append(nids, ids[r]), append(nscores, scores[r])
					if parent != nil {
						p = append(p, parent[r])
					} else {
						p = append(p, r)
					}
				}
			}
			ids, scores, parent, active = nids, nscores, p, still
			rows = len(active) * k
		}
		logits, err := st.next(ids, parent)
		if err != nil {
			return nil, nil, nil, err
		}
		v := len(logits) / rows
		if v*rows != len(logits) || v == 0 {
			return nil, nil, nil, lecture.Errorf(lecture.EINTERNAL, "decoder gave %d logits for %d rows", len(logits), rows)
		}
		if cur == 1 {
			first = make([][]float32, batch)
			for i, b := range active {
				first[b] = slices.Clone(logits[i*k*v : (i*k+1)*v])
			}
		}
		if len(lp) < rows*v {
			lp = make([]float64, rows*v)
		}
		for r := range rows {
			row := lp[r*v : (r+1)*v]
			logSoftmax(logits[r*v:(r+1)*v], row)
			s.processBeam(row, ids[r])
			for j := range row {
				row[j] += scores[r]
			}
		}
		nextParent := make([]int, rows)
		nextTok := make([]int, rows)
		nextScores := make([]float64, rows)
		for i, b := range active {
			flatScores := lp[i*k*v : (i+1)*k*v]
			buf = topK(flatScores, keep, buf)
			n := 0
			for rank, c := range buf {
				beam, tok := c/v, c%v
				r := i*k + beam
				if s.IsEOS(tok) {
					if rank >= k {
						continue
					}
					hyps[b].add(append(slices.Clone(ids[r]), tok), flatScores[c], cur, s)
				} else {
					nextParent[i*k+n], nextTok[i*k+n], nextScores[i*k+n] = r, tok, flatScores[c]
					n++
				}
				if n == k {
					break
				}
			}
			if n < k {
				return nil, nil, nil, lecture.Errorf(lecture.EINTERNAL, "beam search: only %d of %d beams could continue (vocabulary %d)", n, k, v)
			}
			done[b] = hyps[b].done(flatScores[buf[0]], cur+1, s)
		}
		next := make([][]int, rows)
		for r := range rows {
			next[r] = append(slices.Clip(ids[nextParent[r]]), nextTok[r])
		}
		ids, scores, parent = next, nextScores, nextParent
	}
	for i, b := range active {
		if !done[b] {
			for j := range k {
				r := i*k + j
				hyps[b].add(ids[r], scores[r], len(ids[r])-1, s)
			}
		}
	}
	return hyps, first, cancelled, nil
}
