package whisper

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
)

// DefaultBatch is how many 30-second chunks the batched long-form path
// decodes together when a caller asks for it without a size
// (TRANSCEPT_WHISPER_BATCH's default).
const DefaultBatch = 8

// Chunk is a stretch of the decoded stream (the speech-only audio when a
// VAD ran) that the batched path decodes as one row: samples [Start, End)
// of the stream, at most ChunkSamples long.
type Chunk struct{ Start, End int }

// PlanChunks merges speech regions (the recording's samples, in order, as
// SpeechSegments gives them) into chunks of at most ChunkSamples of
// speech-only audio (the regions end to end, as the Transcriber decodes
// them), the WhisperX way: a region longer than a chunk is first cut where
// the speech probability is lowest in the second half of each 30 seconds
// (probs: one per VADFrame of the recording, as VAD.Probabilities gives
// them; nil cuts every 30 s), then the pieces are grouped into as few
// chunks as possible, and among the groupings with that many chunks the one
// whose cuts fall in the longest silences between regions is taken.
func PlanChunks(regions []SpeechSegment, probs []float32) []Chunk {
	type piece struct {
		n   int // samples
		gap int // silence before it in the recording, +1 (0: a cut inside a region)
	}
	var pieces []piece
	prevEnd := -1
	for _, r := range regions {
		gap := 0
		if prevEnd >= 0 {
			gap = max(r.Start-prevEnd, 0) + 1
		}
		prevEnd = r.End
		pos := r.Start
		for r.End-pos > ChunkSamples {
			cut := pos + ChunkSamples
			if len(probs) > 0 {
				lo, hi := (pos+ChunkSamples/2+VADFrame-1)/VADFrame, (pos+ChunkSamples)/VADFrame
				best := -1
				for f := lo; f < hi && f < len(probs); f++ {
					if best < 0 || probs[f] < probs[best] {
						best = f
					}
				}
				if best >= 0 {
					cut = best * VADFrame
				}
			}
			pieces = append(pieces, piece{n: cut - pos, gap: gap})
			gap, pos = 0, cut
		}
		if r.End > pos {
			pieces = append(pieces, piece{n: r.End - pos, gap: gap})
		}
	}
	n := len(pieces)
	if n == 0 {
		return []Chunk{} // not nil: nil asks TranscribeBatched for 30 s pieces
	}
	// best[j]: the fewest chunks for pieces[:j], and the largest total
	// silence at their cuts; from[j]: where its last chunk starts
	type cost struct{ chunks, score int }
	best := make([]cost, n+1)
	from := make([]int, n+1)
	for j := 1; j <= n; j++ {
		best[j] = cost{chunks: -1}
		size := 0
		for i := j - 1; i >= 0; i-- {
			size += pieces[i].n
			if size > ChunkSamples && i < j-1 {
				break
			}
			c := cost{best[i].chunks + 1, best[i].score}
			if i > 0 {
				c.score += pieces[i].gap
			}
			if b := best[j]; b.chunks < 0 || c.chunks < b.chunks || c.chunks == b.chunks && c.score > b.score {
				best[j], from[j] = c, i
			}
		}
	}
	cum := make([]int, n+1)
	for i, p := range pieces {
		cum[i+1] = cum[i] + p.n
	}
	var out []Chunk
	for j := n; j > 0; j = from[j] {
		out = append(out, Chunk{Start: cum[from[j]], End: cum[j]})
	}
	for i, k := 0, len(out)-1; i < k; i, k = i+1, k-1 {
		out[i], out[k] = out[k], out[i]
	}
	return out
}

// chunkReader hands out the samples of each chunk of a plan (nil: 30 s
// pieces until the end) from a stream, in order, holding at most one chunk.
type chunkReader struct {
	next func() ([]float32, error)
	plan []Chunk
	k    int       // the next chunk of plan
	buf  []float32 // samples from base on
	base int
	eof  bool
}

// read returns the next chunk and its samples; io.EOF after the last.
func (c *chunkReader) read() (Chunk, []float32, error) {
	var ch Chunk
	if c.plan != nil {
		if c.k >= len(c.plan) {
			return ch, nil, io.EOF
		}
		ch = c.plan[c.k]
	} else {
		ch = Chunk{Start: c.base, End: c.base + ChunkSamples}
	}
	if drop := ch.Start - c.base; drop > 0 {
		for len(c.buf) < drop && !c.eof {
			if err := c.fill(); err != nil {
				return ch, nil, err
			}
		}
		drop = min(drop, len(c.buf))
		c.buf = append(c.buf[:0], c.buf[drop:]...)
		c.base += drop
	}
	for len(c.buf) < ch.End-c.base && !c.eof {
		if err := c.fill(); err != nil {
			return ch, nil, err
		}
	}
	n := min(ch.End-c.base, len(c.buf))
	if n <= 0 || c.plan == nil && c.eof && n < NFFT/2 {
		return ch, nil, io.EOF
	}
	ch.End = c.base + n
	x := append([]float32(nil), c.buf[:n]...)
	c.buf = append(c.buf[:0], c.buf[n:]...)
	c.base += n
	c.k++
	return ch, x, nil
}

func (c *chunkReader) fill() error {
	x, err := c.next()
	if errors.Is(err, io.EOF) {
		c.eof = true
		return nil
	}
	if err != nil {
		return err
	}
	c.buf = append(c.buf, x...)
	return nil
}

// TranscribeBatched transcribes the samples that next yields (16 kHz mono,
// io.EOF at the end) chunk by chunk as plan says (nil: consecutive 30 s
// pieces), decoding batch chunks at a time: the encoder runs over the
// batch (one run on a GPU, a window a run on the CPU: encoderRows), the
// decoder steps all its rows together (each row its own
// tokens, timestamps on; a row that ends leaves the batch), and each row
// that fails the temperature fallback's checks is decoded again, with the
// other failing rows, at the next temperature. There is no seeking: a chunk
// is decoded once, and its text ends where the chunk ends (plan's cuts lie
// in silence). Segment times are the stream's seconds, within their chunk
// and never going back. An empty lf.Language on a multilingual model is
// detected on the first chunk. done gets the seconds of the stream
// finished after each batch. Batch 1 decodes the same chunks one at a time
// (the same token ids, up to the float rounding of batched matrix
// products).
func (m *Model) TranscribeBatched(ctx context.Context, next func() ([]float32, error), plan []Chunk, lf LongFormOptions, batch int, done func(float64)) (*StreamResult, error) {
	o := lf.DecodeOptions
	o.Timestamps = true
	temps := lf.Temperatures
	if len(temps) == 0 {
		temps = []float64{0}
	}
	batch = max(batch, 1)
	lang, err := m.ResolveLanguage(o.Language)
	if err != nil {
		return nil, err
	}
	res := &StreamResult{Language: lang}
	o.Language = lang
	probe := o
	if probe.Language == "" {
		probe.Language = "en"
	}
	prompt, err := m.Prompt(probe)
	if err != nil {
		return nil, err
	}
	detect := lang == ""
	cr := &chunkReader{next: next, plan: plan}
	nFeat := m.Features.NMels() * ChunkFrames
	for eof := false; !eof; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var chunks []Chunk
		var feats []float32
		for len(chunks) < batch {
			ch, x, err := cr.read()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return nil, err
			}
			feats = append(feats, make([]float32, nFeat)...)
			m.Features.LogMelInto(feats[len(chunks)*nFeat:], x)
			chunks = append(chunks, ch)
		}
		if len(chunks) == 0 {
			break
		}
		if detect {
			if o.Language, res.LanguageProb, err = m.DetectLanguage(feats[:nFeat]); err != nil {
				return nil, err
			}
			if prompt, err = m.Prompt(o); err != nil {
				return nil, err
			}
			res.Language, detect = o.Language, false
		}
		toks, err := m.decodeChunks(ctx, feats, chunks, prompt, o, lf, temps)
		if err != nil {
			return nil, err
		}
		for i, ch := range chunks {
			if toks[i] == nil {
				continue // silence
			}
			res.Segments = append(res.Segments, m.chunkSegments(toks[i], float64(ch.Start)/SampleRate, float64(ch.End)/SampleRate)...)
		}
		if done != nil {
			done(float64(chunks[len(chunks)-1].End) / SampleRate)
		}
	}
	return res, nil
}

// decodeChunks decodes the batch of chunks whose features lie end to end
// in feats, with the temperature fallback per row, and returns each row's
// tokens (no prompt, no <|endoftext|>), nil for a row judged silence.
func (m *Model) decodeChunks(ctx context.Context, feats []float32, chunks []Chunk, prompt []int, o DecodeOptions, lf LongFormOptions, temps []float64) ([][]int, error) {
	b := len(chunks)
	states, err := m.encodeBatch(feats, b)
	if err != nil {
		return nil, err
	}
	defer states.Destroy()
	rngs := make([]*rand.Rand, b)
	for i, ch := range chunks {
		rngs[i] = rand.New(rand.NewPCG(lf.Seed, uint64(ch.Start/HopLength)))
	}
	eos := m.Generation.EOSTokenID
	out := make([][]int, b)
	ps := make([]pass, b)
	avgs := make([]float64, b)
	pending := make([]int, b)
	for i := range pending {
		pending[i] = i
	}
	for _, temp := range temps {
		passes, err := m.decodeRows(ctx, states, b, pending, prompt, o, temp, rngs)
		if err != nil {
			return nil, err
		}
		var again []int
		for k, row := range pending {
			p := passes[k]
			toks := p.ids[len(prompt):]
			lecture.CountTokens(ctx, len(toks)) // every decoded token, fallbacks included
			if len(toks) > 0 && toks[len(toks)-1] == eos {
				toks = toks[:len(toks)-1]
			}
			avg := p.sumLogprob / float64(len(toks)+1)
			var text []int
			for _, id := range toks {
				if id < eos {
					text = append(text, id)
				}
			}
			fallback := lf.CompressionRatioThreshold > 0 && compressionRatio(m.Tokenizer.Decode(text)) > lf.CompressionRatioThreshold
			fallback = fallback || avg < lf.LogprobThreshold
			if lf.NoSpeechThreshold > 0 && p.noSpeech > lf.NoSpeechThreshold {
				fallback = false
			}
			out[row], ps[row], avgs[row] = toks, p, avg
			if fallback {
				again = append(again, row)
			}
		}
		if pending = again; len(pending) == 0 {
			break
		}
	}
	for i := range out {
		if lf.NoSpeechThreshold > 0 && ps[i].noSpeech > lf.NoSpeechThreshold && !(avgs[i] > lf.LogprobThreshold) {
			out[i] = nil
		} else if out[i] == nil {
			out[i] = []int{}
		}
	}
	return out, nil
}

// encoderRunRows, when above 0, caps the windows of one encoder run (tests
// and benchmarks); 0 is encoderRows's choice.
var encoderRunRows = 0

// encoderRows is how many windows one encoder run takes: the whole batch on
// a GPU; on the CPU one, since the encoder's matrix products are large
// enough at one window to keep the cores busy, and a batch of eight would
// hold eight windows' attention scores (for whisper-tiny 54 MB a head and
// layer each) for no gain in speed.
func (m *Model) encoderRows(b int) int {
	if encoderRunRows > 0 {
		return min(encoderRunRows, b)
	}
	if m.Encoder.Provider() == ort.ProviderCUDA {
		return b
	}
	return 1
}

// encodeBatch runs the encoder over b windows of features end to end (in
// runs of encoderRows windows) and returns the hidden states of all b.
func (m *Model) encodeBatch(feats []float32, b int) (ort.Value, error) {
	per := m.encoderRows(b)
	nFeat := len(feats) / b
	var all []float32
	var shape []int64
	for i := 0; i < b; i += per {
		k := min(per, b-i)
		in, err := ort.NewTensor([]int64{int64(k), int64(m.Features.NMels()), ChunkFrames}, feats[i*nFeat:(i+k)*nFeat])
		if err != nil {
			return ort.Value{}, err
		}
		out := []ort.Value{{}}
		err = m.Encoder.Run([]ort.Value{in}, out)
		in.Destroy()
		if err != nil {
			return ort.Value{}, err
		}
		sh := out[0].Shape()
		if len(sh) != 3 || sh[0] != int64(k) {
			out[0].Destroy()
			return ort.Value{}, lecture.Errorf(lecture.EINTERNAL, "whisper encoder gave %v for a batch of %d", sh, k)
		}
		if k == b {
			return out[0], nil // one run: its output as it is
		}
		data, err := ort.Data[float32](out[0])
		if err != nil {
			out[0].Destroy()
			return ort.Value{}, err
		}
		if all == nil {
			shape = []int64{int64(b), sh[1], sh[2]}
			all = make([]float32, 0, b*len(data)/k)
		}
		all = append(all, data...)
		out[0].Destroy()
	}
	return ort.NewTensor(shape, all)
}

// decodeRows decodes the rows of states (of which there are n) as one
// batch at temperature: all from prompt, each with its own tokens, the
// logits rules and sum of log-probabilities of decodeOnce; a row that
// reaches <|endoftext|> or the maximum length leaves the batch (its caches
// are dropped). rngs are indexed by row.
func (m *Model) decodeRows(ctx context.Context, states ort.Value, n int, rows []int, prompt []int, o DecodeOptions, temperature float64, rngs []*rand.Rand) ([]pass, error) {
	maxLen := o.MaxLength
	if maxLen <= 0 {
		maxLen = m.Generation.MaxLength
	}
	d, err := m.decoderIO()
	if err != nil {
		return nil, err
	}
	r := &rowsRun{m: m, d: d}
	defer r.close()
	if len(rows) == n {
		identity := true
		for i, x := range rows {
			identity = identity && i == x
		}
		if identity {
			r.states = states
		}
	}
	if r.states.IsZero() {
		if r.states, err = gatherRows(states, rows, n); err != nil {
			return nil, err
		}
		r.ownStates = true
	}
	b := len(rows)
	passes := make([]pass, b)
	for k := range passes {
		passes[k].ids = append([]int(nil), prompt...)
	}
	begin := len(prompt)
	tsBegin := begin
	if prompt[len(prompt)-1] == m.Generation.NoTimestampsTokenID {
		tsBegin--
	}
	live := make([]int, b) // live[j]: the pass of the batch's row j
	for j := range live {
		live[j] = j
	}
	ns, hasNS := m.noSpeechID()
	var scratch []float32
	for len(live) > 0 && len(passes[live[0]].ids) < maxLen {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		logits, first, v, err := r.step(passes, live)
		if err != nil {
			return nil, err
		}
		var keep []int
		for j, k := range live {
			p := &passes[k]
			lg := logits[j*v : (j+1)*v]
			if first != nil && hasNS && ns < v {
				p.noSpeech = softmaxAt(first[j*v:(j+1)*v], ns)
			}
			norm := m.processWith(lg, p.ids, begin, tsBegin, o.Timestamps, &scratch)
			next := optimum.Argmax(lg)
			if temperature > 0 {
				next = sample(lg, temperature, rngs[rows[k]])
			}
			if norm.ok {
				p.sumLogprob += float64(lg[next]) - norm.max - norm.logSum
			} else {
				p.sumLogprob += logProb(lg, next)
			}
			p.ids = append(p.ids, next)
			if next == m.Generation.EOSTokenID || len(p.ids) >= maxLen {
				if m.onPass != nil {
					m.onPass(p.ids)
				}
				continue
			}
			keep = append(keep, j)
		}
		if len(keep) < len(live) && len(keep) > 0 {
			if err := r.gather(keep); err != nil {
				return nil, err
			}
		}
		nl := make([]int, len(keep))
		for i, j := range keep {
			nl[i] = live[j]
		}
		live = nl
	}
	if m.onPass != nil {
		for _, k := range live { // the prompt alone reached the maximum length
			m.onPass(passes[k].ids)
		}
	}
	return passes, nil
}

// rowsRun is decodeRows's state: the encoder states of the live rows and
// the decoder cache, per layer decoder key, value, encoder key, value.
type rowsRun struct {
	m         *Model
	d         *decoderIO
	states    ort.Value
	ownStates bool
	past      [][4]ort.Value
	rows      int
}

func (r *rowsRun) close() {
	if r.ownStates {
		r.states.Destroy()
	}
	for l := range r.past {
		for k := range r.past[l] {
			r.past[l][k].Destroy()
		}
	}
}

// step runs the decoder on the live rows (all of the prompt the first time,
// then each row's last token with the cache) and returns the last
// position's logits, rows × v, and on the first step also the first
// position's (for <|nospeech|>).
func (r *rowsRun) step(passes []pass, live []int) (logits, first []float32, v int, err error) {
	m, d := r.m, r.d
	b := len(live)
	in := make([]ort.Value, len(m.Decoder.InputNames()))
	var tmp []ort.Value
	defer func() {
		for i := range tmp {
			tmp[i].Destroy()
		}
	}()
	started := r.past != nil
	q := 1
	var tokens []int64
	if !started {
		q = len(passes[live[0]].ids)
		for _, k := range live {
			for _, x := range passes[k].ids {
				tokens = append(tokens, int64(x))
			}
		}
	} else {
		for _, k := range live {
			p := passes[k].ids
			tokens = append(tokens, int64(p[len(p)-1]))
		}
	}
	idsT, err := ort.NewTensor([]int64{int64(b), int64(q)}, tokens)
	if err != nil {
		return nil, nil, 0, err
	}
	tmp = append(tmp, idsT)
	in[d.ids] = idsT
	if d.flag >= 0 {
		flag, err := ort.NewTensor([]int64{1}, []bool{started})
		if err != nil {
			return nil, nil, 0, err
		}
		tmp = append(tmp, flag)
		in[d.flag], in[d.states] = flag, r.states
	}
	var cross [][2]ort.Value // a split decoder's cross-attention cache, made on the first step
	if !started {
		r.rows = b
		if d.cross != nil {
			if cross, err = m.crossCache(d, r.states); err != nil {
				return nil, nil, 0, err
			}
		}
		for l, p := range d.past {
			for k, i := range p {
				if cross != nil && k >= 2 {
					in[i] = cross[l][k-2]
					continue
				}
				e, err := ort.NewTensor([]int64{int64(b), int64(m.Heads), 0, int64(m.HeadDim)}, []float32{})
				if err != nil {
					return nil, nil, 0, err
				}
				tmp = append(tmp, e)
				in[i] = e
			}
		}
	} else {
		for l, p := range d.past {
			for k, i := range p {
				in[i] = r.past[l][k]
			}
		}
	}
	out := make([]ort.Value, len(m.Decoder.OutputNames()))
	if err := m.Decoder.Run(in, out); err != nil {
		for i := range out {
			out[i].Destroy()
		}
		for l := range cross {
			cross[l][0].Destroy()
			cross[l][1].Destroy()
		}
		return nil, nil, 0, err
	}
	if !started {
		r.past = make([][4]ort.Value, len(d.present))
		for l := range cross {
			r.past[l][2], r.past[l][3] = cross[l][0], cross[l][1]
		}
	}
	for l, pr := range d.present {
		for k, o := range pr {
			if o < 0 {
				continue // a split decoder's: the cross-attention cache stays
			}
			if k >= 2 && started && m.lightCache {
				out[o].Destroy() // empty: the first step's cross-attention cache stays
				continue
			}
			r.past[l][k].Destroy()
			r.past[l][k] = out[o]
			out[o] = ort.Value{}
		}
	}
	lg := out[d.logits]
	defer lg.Destroy()
	data, err := ort.Data[float32](lg)
	if err != nil {
		return nil, nil, 0, err
	}
	shape := lg.Shape()
	if len(shape) != 3 || shape[0] != int64(b) || shape[1] != int64(q) || shape[2] == 0 || int(shape[0]*shape[1]*shape[2]) != len(data) {
		return nil, nil, 0, lecture.Errorf(lecture.EINTERNAL, "whisper decoder gave logits of shape %v for %d rows", shape, b)
	}
	v = int(shape[2])
	logits = make([]float32, 0, b*v)
	if !started {
		first = make([]float32, 0, b*v)
	}
	for j := range b {
		row := data[j*q*v : (j+1)*q*v]
		logits = append(logits, row[(q-1)*v:]...)
		if first != nil {
			first = append(first, row[:v]...)
		}
	}
	return logits, first, v, nil
}

// gather keeps the batch rows keep (indices into the current rows, in
// order) of the caches and encoder states.
func (r *rowsRun) gather(keep []int) error {
	for l := range r.past {
		for k := range r.past[l] {
			g, err := gatherRows(r.past[l][k], keep, r.rows)
			if err != nil {
				return err
			}
			r.past[l][k].Destroy()
			r.past[l][k] = g
		}
	}
	if r.m.Cross != nil {
		r.rows = len(keep) // a split decoder reads the encoder states on the first step only
		return nil
	}
	g, err := gatherRows(r.states, keep, r.rows)
	if err != nil {
		return err
	}
	if r.ownStates {
		r.states.Destroy()
	}
	r.states, r.ownStates, r.rows = g, true, len(keep)
	return nil
}

// gatherRows copies the rows keep of v (float32, rows along its first
// dimension) into a new tensor.
func gatherRows(v ort.Value, keep []int, rows int) (ort.Value, error) {
	data, err := ort.Data[float32](v)
	if err != nil {
		return ort.Value{}, err
	}
	shape := append([]int64(nil), v.Shape()...)
	if len(shape) == 0 || shape[0] != int64(rows) || rows == 0 || len(data)%rows != 0 {
		return ort.Value{}, lecture.Errorf(lecture.EINTERNAL, "whisper: tensor of shape %v does not have %d rows", shape, rows)
	}
	size := len(data) / rows
	out := make([]float32, 0, len(keep)*size)
	for _, p := range keep {
		out = append(out, data[p*size:(p+1)*size]...)
	}
	shape[0] = int64(len(keep))
	return ort.NewTensor(shape, out)
}

// chunkSegments turns one chunk's tokens (no prompt, no <|endoftext|>)
// into segments, as the sequential path cuts a window (a pair of
// consecutive timestamps ends one segment and starts the next), except
// that nothing is left for a next window: the text after the last pair is
// a segment too, ending at its last timestamp or the chunk's end. Times are
// start + the timestamps, kept within [start, end] and never before the
// previous segment's end.
func (m *Model) chunkSegments(toks []int, start, end float64) []Segment {
	tb, eos := m.TimestampBegin, m.Generation.EOSTokenID
	precision := 30.0 / float64(m.Config.MaxSourcePositions)
	isTS := func(id int) bool { return id >= tb }
	var segs []Segment
	prev := start
	add := func(part []int, from, to float64) {
		var text []int
		for _, id := range part {
			if id < eos {
				text = append(text, id)
			}
		}
		s := m.Tokenizer.Decode(text)
		if strings.TrimSpace(s) == "" {
			return
		}
		a := min(max(round2(start+from), prev), end)
		z := min(max(round2(start+to), a), end)
		segs = append(segs, Segment{Start: a, End: z, Text: s, Tokens: text})
		prev = z
	}
	ts := func(id int) float64 { return float64(id-tb) * precision }
	last := 0
	for i := 0; i+1 < len(toks); i++ {
		if isTS(toks[i]) && isTS(toks[i+1]) {
			part := toks[last : i+1]
			from := 0.0
			if isTS(part[0]) {
				from = ts(part[0])
			}
			add(part, from, ts(toks[i]))
			last = i + 1
		}
	}
	if rest := toks[last:]; len(rest) > 0 {
		from, to := 0.0, end-start
		if isTS(rest[0]) {
			from = ts(rest[0])
		}
		if n := len(rest); n >= 2 && isTS(rest[n-1]) {
			to = ts(rest[n-1])
		}
		add(rest, from, to)
	}
	return segs
}
