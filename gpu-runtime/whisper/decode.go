package whisper

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
)

// DecodeOptions choose the start-of-transcript sequence and the decoding.
type DecodeOptions struct {
	// Language is a code such as "en" (multilingual models; "" means en).
	Language string
	// Task is "transcribe" (default) or "translate".
	Task string
	// Timestamps predicts timestamp tokens (no <|notimestamps|> in the
	// prompt) and applies Whisper's timestamp rules.
	Timestamps bool
	// MaxLength bounds each decoding pass, prompt included; 0 is
	// generation_config.json's max_length.
	MaxLength int
}

// Prompt is the start-of-transcript sequence, as transformers.js builds it:
// <|startoftranscript|> [<|lang|> <|task|>] [<|notimestamps|>].
func (m *Model) Prompt(o DecodeOptions) ([]int, error) {
	g := &m.Generation
	p := []int{g.DecoderStartTokenID}
	if g.IsMultilingual {
		lang := o.Language
		if lang == "" {
			lang = "en"
		}
		id, ok := g.LangToID["<|"+lang+"|>"]
		if !ok {
			return nil, lecture.Errorf(lecture.EINVALID, "whisper model %s has no language %q", m.Dir, lang)
		}
		task := o.Task
		if task == "" {
			task = "transcribe"
		}
		tid, ok := g.TaskToID[task]
		if !ok {
			return nil, lecture.Errorf(lecture.EINVALID, "whisper model %s has no task %q (want transcribe or translate)", m.Dir, task)
		}
		p = append(p, id, tid)
	} else if o.Language != "" && o.Language != "en" || o.Task == "translate" {
		return nil, lecture.Errorf(lecture.EINVALID, "whisper model %s is English-only: no language or task can be chosen", m.Dir)
	}
	if !o.Timestamps {
		p = append(p, g.NoTimestampsTokenID)
	}
	return p, nil
}

// Generate decodes one 30-second window of log-mel features
// (NMels×ChunkFrames, row-major) greedily, as transformers.js's
// WhisperForConditionalGeneration.generate does: the prompt, then
// suppress_tokens, begin_suppress_tokens and, with timestamps, Whisper's
// timestamp rules and its seek loop within the window. It returns the
// whole sequence: prompt, tokens (timestamps offset by the seek position)
// and <|endoftext|>.
func (m *Model) Generate(features []float32, o DecodeOptions) ([]int, error) {
	nMels := m.Features.NMels()
	if len(features) != nMels*ChunkFrames {
		return nil, lecture.Errorf(lecture.EINVALID, "whisper: %d feature values, want %d×%d", len(features), nMels, ChunkFrames)
	}
	prompt, err := m.Prompt(o)
	if err != nil {
		return nil, err
	}
	if !o.Timestamps {
		return m.generatePass(features, prompt, o)
	}
	// the seek loop over the window (transformers.js _generate_with_seek)
	const inputStride = 2
	total := ChunkFrames
	segFrames := inputStride * m.Config.MaxSourcePositions
	eos, tb := m.Generation.EOSTokenID, m.TimestampBegin
	var all []int
	seg := make([]float32, nMels*segFrames)
	for seek := 0; seek < total; {
		end := min(seek+segFrames, total)
		clear(seg)
		for r := range nMels {
			copy(seg[r*segFrames:], features[r*total+seek:r*total+end])
		}
		out, err := m.generatePass(seg, prompt, o)
		if err != nil {
			return nil, err
		}
		gen := out[len(prompt):]
		if len(gen) > 0 && gen[len(gen)-1] == eos {
			gen = gen[:len(gen)-1]
		}
		if len(gen) == 0 {
			break
		}
		isTS := func(i int) bool { return gen[i] >= tb }
		single := len(gen) >= 2 && isTS(len(gen)-1) && !isTS(len(gen)-2)
		var bounds []int
		for i := 0; i < len(gen)-1; i++ {
			if isTS(i) && isTS(i+1) {
				bounds = append(bounds, i+1)
			}
		}
		offset, keep := end-seek, len(gen)
		if len(bounds) > 0 && !single {
			last := bounds[len(bounds)-1]
			offset = (gen[last-1] - tb) * inputStride
			keep = last
		}
		tsOffset := seek / inputStride
		for i := range keep {
			if gen[i] >= tb {
				gen[i] = min(gen[i]+tsOffset, tb+1500)
			}
		}
		all = append(all, gen[:keep]...)
		seek += offset
	}
	return append(append(prompt, all...), eos), nil
}

// generatePass is one greedy decoding from the prompt until <|endoftext|>
// or MaxLength.
func (m *Model) generatePass(features []float32, prompt []int, o DecodeOptions) ([]int, error) {
	p, err := m.decodeOnce(features, prompt, o, 0, nil)
	return p.ids, err
}

// pass is one decoding's result: the whole sequence, the sum of the
// chosen tokens' log-probabilities (after the logits rules, <|endoftext|>
// included, as openai-whisper counts them) and the probability of
// <|nospeech|> at the <|startoftranscript|> position (raw logits).
type pass struct {
	ids        []int
	sumLogprob float64
	noSpeech   float64
}

// decodeOnce decodes greedily (temperature 0) or by sampling from
// softmax(logits/temperature) with rng.
func (m *Model) decodeOnce(features []float32, prompt []int, o DecodeOptions, temperature float64, rng *rand.Rand) (pass, error) {
	maxLen := o.MaxLength
	if maxLen <= 0 {
		maxLen = m.Generation.MaxLength
	}
	r, err := m.newRun(features)
	if err != nil {
		return pass{}, err
	}
	defer r.close()
	p := pass{ids: append([]int(nil), prompt...)}
	begin := len(prompt)
	tsBegin := begin
	if prompt[len(prompt)-1] == m.Generation.NoTimestampsTokenID {
		tsBegin--
	}
	for len(p.ids) < maxLen {
		logits, err := r.step(p.ids)
		if err != nil {
			return pass{}, err
		}
		if len(p.ids) == begin && r.first != nil {
			if ns, ok := m.noSpeechID(); ok && ns < len(r.first) {
				p.noSpeech = softmaxAt(r.first, ns)
			}
		}
		norm := m.processWith(logits, p.ids, begin, tsBegin, o.Timestamps, &r.lp)
		next := optimum.Argmax(logits)
		if temperature > 0 && rng != nil {
			next = sample(logits, temperature, rng)
		}
		if norm.ok {
			// the timestamp rule's log-softmax saw these very logits: the
			// same max and sum, so the same value as logProb's
			p.sumLogprob += float64(logits[next]) - norm.max - norm.logSum
		} else {
			p.sumLogprob += logProb(logits, next)
		}
		p.ids = append(p.ids, next)
		if len(p.ids) == begin+1 && m.onFirstToken != nil {
			m.onFirstToken()
		}
		if next == m.Generation.EOSTokenID {
			break
		}
	}
	if m.onPass != nil {
		m.onPass(p.ids)
	}
	return p, nil
}

// noSpeechID is <|nospeech|> (or the older <|nocaptions|>).
func (m *Model) noSpeechID() (int, bool) {
	if id, ok := m.Tokenizer.TokenID("<|nospeech|>"); ok {
		return id, true
	}
	return m.Tokenizer.TokenID("<|nocaptions|>")
}

func softmaxAt(x []float32, i int) float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = max(mx, float64(v))
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	return math.Exp(float64(x[i])-mx) / s
}

func logProb(x []float32, i int) float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = max(mx, float64(v))
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	return float64(x[i]) - mx - math.Log(s)
}

// sample draws from softmax(x/temperature).
func sample(x []float32, temperature float64, rng *rand.Rand) int {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = max(mx, float64(v))
	}
	w := make([]float64, len(x))
	s := 0.0
	for i, v := range x {
		w[i] = math.Exp((float64(v) - mx) / temperature)
		s += w[i]
	}
	u := rng.Float64() * s
	for i, v := range w {
		if u < v {
			return i
		}
		u -= v
	}
	return optimum.Argmax(x)
}

// process applies transformers.js's logits processors in its order:
// suppress_tokens, begin_suppress_tokens, then (timestamps) the timestamp
// rules and begin_suppress_tokens again.
func (m *Model) process(logits []float32, ids []int, begin, tsBegin int, timestamps bool) {
	var scratch []float32
	m.processWith(logits, ids, begin, tsBegin, timestamps, &scratch)
}

// logNorm is a log-softmax's max and log of the sum of exponentials; ok
// when they hold for the logits as they are now.
type logNorm struct {
	max, logSum float64
	ok          bool
}

// processWith is process with a reusable buffer for the timestamp rule's
// log-softmax; it returns that log-softmax's normaliser, ok when the rule
// left the logits as they were when it was computed.
func (m *Model) processWith(logits []float32, ids []int, begin, tsBegin int, timestamps bool, scratch *[]float32) logNorm {
	g := &m.Generation
	ninf := float32(math.Inf(-1))
	for _, t := range g.SuppressTokens {
		if t >= 0 && t < len(logits) {
			logits[t] = ninf
		}
	}
	if len(ids) == begin {
		for _, t := range g.BeginSuppressTokens {
			if t >= 0 && t < len(logits) {
				logits[t] = ninf
			}
		}
	}
	if timestamps {
		return m.timestampRulesWith(logits, ids, tsBegin, scratch)
	}
	return logNorm{}
}

// timestampRules is WhisperTimeStampLogitsProcessor (transformers.js
// 4.3.1), float32 rounding included: <|notimestamps|> never; only a
// timestamp first; after one timestamp, another or text-or-EOS as the pair
// rule says; and a timestamp when the timestamps' total probability beats
// every text token's.
func (m *Model) timestampRules(logits []float32, ids []int, begin int) {
	var scratch []float32
	m.timestampRulesWith(logits, ids, begin, &scratch)
}

func (m *Model) timestampRulesWith(logits []float32, ids []int, begin int, scratch *[]float32) logNorm {
	ninf := float32(math.Inf(-1))
	tb, eos := m.TimestampBegin, m.Generation.EOSTokenID
	logits[m.Generation.NoTimestampsTokenID] = ninf
	if len(ids) == begin {
		for i := range logits[:tb] {
			logits[i] = ninf
		}
		return logNorm{}
	}
	seq := ids[begin:]
	last := len(seq) >= 1 && seq[len(seq)-1] >= tb
	penultimate := len(seq) < 2 || seq[len(seq)-2] >= tb
	if last {
		if penultimate {
			for i := tb; i < len(logits); i++ {
				logits[i] = ninf
			}
		} else {
			for i := range logits[:eos] {
				logits[i] = ninf
			}
		}
	}
	if cap(*scratch) < len(logits) {
		*scratch = make([]float32, len(logits))
	}
	lp := (*scratch)[:len(logits)]
	norm := logSoftmax32Into(lp, logits)
	sum := 0.0
	for i, v := range lp[tb:] {
		e := float64(float32(math.Exp(float64(v))))
		if i == 0 {
			sum = e
		} else {
			sum += e
		}
	}
	tsLogprob := math.Log(sum)
	maxText := lp[0]
	for _, v := range lp[1:tb] {
		if v > maxText {
			maxText = v
		}
	}
	if tsLogprob > float64(maxText) {
		for i := range logits[:tb] {
			logits[i] = ninf
		}
		return logNorm{}
	}
	return norm
}

// logSoftmax32 is transformers.js's log_softmax on a Float32Array: sums in
// float64, results rounded to float32.
func logSoftmax32(x []float32) []float32 {
	out := make([]float32, len(x))
	logSoftmax32Into(out, x)
	return out
}

// logSoftmax32Into writes logSoftmax32(x) to out and returns its
// normaliser: the max and the log of the sum, as logProb computes them.
func logSoftmax32Into(out, x []float32) logNorm {
	mx := x[0]
	for _, v := range x[1:] {
		if v > mx {
			mx = v
		}
	}
	m := float64(mx)
	s := 0.0
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	ls := math.Log(s)
	for i, v := range x {
		out[i] = float32(float64(v) - m - ls)
	}
	return logNorm{max: m, logSum: ls, ok: true}
}

// run is one decoding pass's state: encoder output and the decoder cache.
type run struct {
	m      *Model
	enc    *encoded
	states ort.Value   // enc's
	in     []ort.Value // the decoder's inputs, in its order
	owned  []bool      // in[i] is this run's to destroy
	out    []ort.Value
	first  []float32 // the first step's logits at position 0 (<|startoftranscript|>)
	// the with-past steps' input_ids, use_cache_branch and logits, reused
	tok     []int64
	tokT    ort.Value
	flagT   ort.Value
	logits  []float32
	logitsT ort.Value
	started bool
	lp      []float32 // scratch for the timestamp rule's log-softmax
}

// decoderIO is where each decoder input and output sits in the session's
// order (found once per model).
type decoderIO struct {
	ids, states, flag int      // states and flag: -1 for a split decoder
	past, present     [][4]int // per layer: decoder key, value, encoder key, value (present: -1 for a split decoder's encoder ones)
	logits            int
	cross             [][2]int // a split decoder's: per layer, the Cross outputs giving the encoder key and value
}

func (m *Model) decoderIO() (*decoderIO, error) {
	m.ioOnce.Do(func() {
		d := &decoderIO{}
		find := func(names []string, n string) int {
			for i, x := range names {
				if x == n {
					return i
				}
			}
			if m.ioErr == nil {
				m.ioErr = lecture.Errorf(lecture.EINTERNAL, "whisper decoder %s: no %q", m.Decoder.Path(), n)
			}
			return 0
		}
		in, out := m.Decoder.InputNames(), m.Decoder.OutputNames()
		split := m.Cross != nil
		d.ids, d.states, d.flag = find(in, "input_ids"), -1, -1
		if !split {
			d.states, d.flag = find(in, "encoder_hidden_states"), find(in, "use_cache_branch")
		}
		d.logits = find(out, "logits")
		for i := range m.Config.DecoderLayers {
			var p, q [4]int
			for k, n := range cacheNames("past_key_values", i) {
				p[k] = find(in, n)
			}
			for k, n := range cacheNames("present", i) {
				if split && k >= 2 {
					q[k] = -1
					continue
				}
				q[k] = find(out, n)
			}
			d.past, d.present = append(d.past, p), append(d.present, q)
			if split {
				names := cacheNames("present", i)
				co := m.Cross.OutputNames()
				d.cross = append(d.cross, [2]int{find(co, names[2]), find(co, names[3])})
			}
		}
		want := 3 + 4*m.Config.DecoderLayers
		if split {
			want = 1 + 4*m.Config.DecoderLayers
			if ci := m.Cross.InputNames(); len(ci) != 1 || ci[0] != "encoder_hidden_states" {
				m.ioErr = lecture.Errorf(lecture.EINTERNAL, "whisper cross-attention projection %s takes %v, want encoder_hidden_states", m.Cross.Path(), ci)
			}
		}
		if len(in) != want {
			m.ioErr = lecture.Errorf(lecture.EINTERNAL, "whisper decoder %s takes %d inputs, want %d", m.Decoder.Path(), len(in), want)
		}
		m.io = d
	})
	return m.io, m.ioErr
}

// crossCache runs a split decoder's cross-attention projection on
// encoder output states: per layer, the encoder key and value caches.
func (m *Model) crossCache(d *decoderIO, states ort.Value) ([][2]ort.Value, error) {
	out := make([]ort.Value, len(m.Cross.OutputNames()))
	if err := m.Cross.Run([]ort.Value{states}, out); err != nil {
		return nil, err
	}
	c := make([][2]ort.Value, len(d.cross))
	for l, idx := range d.cross {
		for k, o := range idx {
			c[l][k], out[o] = out[o], ort.Value{}
		}
	}
	for i := range out {
		out[i].Destroy() // none left: every output is a layer's key or value
	}
	return c, nil
}

// encoded is an encoder output shared by the runs on the same features
// (the temperature fallback decodes a window up to six times, language
// detection once more): the last one is kept by the Model.
type encoded struct {
	feats  []float32
	states ort.Value
	refs   int // runs using it, plus one while the Model keeps it
}

// release drops one reference to e (nil is fine); m.encMu must be held.
func (m *Model) releaseLocked(e *encoded) {
	if e == nil {
		return
	}
	if e.refs--; e.refs == 0 {
		e.states.Destroy()
	}
}

// encode runs the encoder on features, or reuses the last output when the
// features are the same.
func (m *Model) encode(features []float32) (*encoded, error) {
	m.encMu.Lock()
	if e := m.encLast; e != nil && slices.Equal(e.feats, features) {
		e.refs++
		m.encMu.Unlock()
		return e, nil
	}
	m.encMu.Unlock()
	in, err := ort.NewTensor([]int64{1, int64(m.Features.NMels()), ChunkFrames}, features)
	if err != nil {
		return nil, err
	}
	defer in.Destroy()
	out := []ort.Value{{}}
	if err := m.Encoder.Run([]ort.Value{in}, out); err != nil {
		return nil, err
	}
	e := &encoded{feats: slices.Clone(features), states: out[0], refs: 2}
	m.encMu.Lock()
	old := m.encLast
	m.encLast = e
	m.releaseLocked(old)
	m.encMu.Unlock()
	return e, nil
}

func (m *Model) newRun(features []float32) (*run, error) {
	e, err := m.encode(features)
	if err != nil {
		return nil, err
	}
	n := len(m.Decoder.InputNames())
	return &run{m: m, enc: e, states: e.states, in: make([]ort.Value, n), owned: make([]bool, n),
		out: make([]ort.Value, len(m.Decoder.OutputNames()))}, nil
}

func (r *run) close() {
	r.m.encMu.Lock()
	r.m.releaseLocked(r.enc)
	r.m.encMu.Unlock()
	r.enc = nil
	for i := range r.in {
		if r.owned[i] {
			r.in[i].Destroy()
		}
	}
	r.tokT.Destroy()
	r.flagT.Destroy()
	r.logitsT.Destroy()
}

// set puts v at decoder input i, destroying what this run put there before.
func (r *run) set(i int, v ort.Value, own bool) {
	if r.owned[i] {
		r.in[i].Destroy()
	}
	r.in[i], r.owned[i] = v, own
}

// step feeds the decoder (all ids the first time, then the last one with the
// cache) and returns the last position's logits, valid until the next step.
// The with-past steps reuse their input and logits tensors; with a
// lightened decoder (Model.lightCache) the cross-attention cache of the
// first step is fed back on every later step and nothing is copied.
func (r *run) step(ids []int) ([]float32, error) {
	m := r.m
	d, err := m.decoderIO()
	if err != nil {
		return nil, err
	}
	if !r.started {
		tokens := make([]int64, len(ids))
		for i, x := range ids {
			tokens[i] = int64(x)
		}
		idsT, err := ort.NewTensor([]int64{1, int64(len(tokens))}, tokens)
		if err != nil {
			return nil, err
		}
		r.set(d.ids, idsT, true)
		if d.flag >= 0 {
			flag, err := ort.NewTensor([]int64{1}, []bool{false})
			if err != nil {
				return nil, err
			}
			r.set(d.flag, flag, true)
			r.set(d.states, r.states, false)
		}
		var cross [][2]ort.Value
		if d.cross != nil {
			if cross, err = m.crossCache(d, r.states); err != nil {
				return nil, err
			}
		}
		for l, p := range d.past {
			for k, i := range p {
				if cross != nil && k >= 2 {
					r.set(i, cross[l][k-2], true)
					continue
				}
				e, err := ort.NewTensor([]int64{1, int64(m.Heads), 0, int64(m.HeadDim)}, []float32{})
				if err != nil {
					return nil, err
				}
				r.set(i, e, true)
			}
		}
	} else {
		if r.tokT.IsZero() {
			r.tok = []int64{0}
			if r.tokT, err = ort.NewTensor([]int64{1, 1}, r.tok); err != nil {
				return nil, err
			}
			if d.flag >= 0 {
				if r.flagT, err = ort.NewTensor([]int64{1}, []bool{true}); err != nil {
					return nil, err
				}
			}
			if r.logitsT, err = ort.NewTensor([]int64{1, 1, int64(len(r.logits))}, r.logits); err != nil {
				return nil, err
			}
		}
		r.tok[0] = int64(ids[len(ids)-1])
		r.set(d.ids, r.tokT, false)
		if d.flag >= 0 {
			r.set(d.flag, r.flagT, false)
		}
	}
	for i := range r.out {
		r.out[i] = ort.Value{}
	}
	fixed := r.started && !r.logitsT.IsZero()
	if fixed {
		r.out[d.logits] = r.logitsT
	}
	if err := m.Decoder.Run(r.in, r.out); err != nil {
		for i := range r.out {
			if !(fixed && i == d.logits) {
				r.out[i].Destroy()
			}
		}
		return nil, err
	}
	// the cache for the next step: present.* become past_key_values.*
	for l, q := range d.present {
		for k, o := range q {
			if o < 0 {
				continue // a split decoder's: the cross-attention cache stays
			}
			if k >= 2 && r.started && m.lightCache {
				r.out[o].Destroy() // empty: the first step's cache stays
				continue
			}
			r.set(d.past[l][k], r.out[o], true)
			r.out[o] = ort.Value{}
		}
	}
	if fixed {
		return r.logits, nil
	}
	lg := r.out[d.logits]
	defer lg.Destroy()
	data, err := ort.Data[float32](lg)
	if err != nil {
		return nil, err
	}
	shape := lg.Shape()
	if len(shape) != 3 || shape[0] != 1 || int(shape[1])*int(shape[2]) != len(data) || shape[2] == 0 {
		return nil, lecture.Errorf(lecture.EINTERNAL, "whisper decoder gave logits of shape %v", shape)
	}
	n := int(shape[2])
	r.first = append([]float32(nil), data[:n]...)
	r.logits = append([]float32(nil), data[(int(shape[1])-1)*n:]...)
	r.started = true
	return r.logits, nil
}
