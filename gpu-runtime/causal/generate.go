package causal

import (
	"context"
	"math"
	"time"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
)

// Options set one Generate call; zero values keep the folder's
// generation_config.json.
type Options struct {
	// MaxNewTokens caps the generated tokens; 0 takes max_new_tokens from
	// the generation config, else max_length minus the prompt (at least 1).
	MaxNewTokens int
	// EOS overrides eos_token_id (any of them ends a row); nil keeps it.
	EOS []int
	// Sample asks for seeded sampling; nil is greedy decoding.
	// Generation.Sampling gives the folder's own settings.
	Sample *Sampling
	// RepetitionPenalty overrides repetition_penalty (> 0; 1 turns it
	// off) and NoRepeatNGramSize no_repeat_ngram_size (≥ 0); 0 keeps the
	// generation config's. They apply before temperature, top-k and top-p.
	RepetitionPenalty float64
	NoRepeatNGramSize int
	// MinNewTokens bans every EOS until that many tokens are generated
	// (Hugging Face's min_new_tokens; 0 keeps the generation config's).
	// With MinNewTokens = MaxNewTokens every row runs the same steps.
	MinNewTokens int
	// OnToken streams a batch of one: it is called once per generated
	// token (EOS included) with the text that token completes (see
	// Streamer); "" while a character is unfinished. Text still held when
	// generation ends (a character left unfinished, as U+FFFD) comes in one
	// last call with tokenID -1. Rejected for batches.
	OnToken func(tokenID int, text string)
	// NoCache re-feeds the whole sequence every step instead of using the
	// key/value cache (slow; it exists to prove the cache right).
	NoCache bool
}

// Result is a batch's generations.
type Result struct {
	// Tokens are each row's generated ids, up to and including the EOS
	// that ended it (prompt and padding left out).
	Tokens [][]int
	// Finished says the row ended with an EOS token (else it hit the
	// token limit).
	Finished []bool
	// FirstLogits are each row's raw logits for the first new token.
	FirstLogits [][]float32
	// PromptLen is the padded prompt length; Steps the decoder runs.
	PromptLen, Steps int
	// TimeToFirstToken is until the first token is chosen (the prompt step,
	// prefill, and its choice); Elapsed the whole call.
	TimeToFirstToken, Elapsed time.Duration
}

// LeftPad left-pads rows with pad into a rectangle and returns the
// attention mask (0 for padding), as a tokenizer with padding_side "left"
// does: decoder-only models continue from the last column.
func LeftPad(rows [][]int, pad int) (ids, mask [][]int) {
	n := 0
	for _, r := range rows {
		n = max(n, len(r))
	}
	for _, r := range rows {
		id, m := make([]int, n), make([]int, n)
		off := n - len(r)
		for i := range n {
			id[i] = pad
			if i >= off {
				id[i], m[i] = r[i-off], 1
			}
		}
		ids, mask = append(ids, id), append(mask, m)
	}
	return ids, mask
}

// PositionIDs are transformers.js's and Hugging Face's positions for a
// mask: cumsum(mask) − 1 along each row, 1 where the mask is 0.
func PositionIDs(mask [][]int) [][]int {
	out := make([][]int, len(mask))
	for i, row := range mask {
		out[i] = make([]int, len(row))
		sum := 0
		for j, m := range row {
			if m == 0 {
				out[i][j] = 1
				continue
			}
			out[i][j] = sum
			sum += m
		}
	}
	return out
}

// padID is what fills left padding and finished rows: pad_token_id, else
// the first EOS, else 0 (masked out either way).
func (m *Model) padID() int {
	if m.Generation.PadTokenID >= 0 {
		return m.Generation.PadTokenID
	}
	if len(m.Generation.EOSTokenIDs) > 0 {
		return m.Generation.EOSTokenIDs[0]
	}
	return 0
}

// Generate continues each prompt (token ids, unpadded; the batch is
// left-padded here). Rows stop at EOS or after MaxNewTokens; the call stops
// when every row has. ctx is checked between steps.
func Generate(ctx context.Context, m *Model, prompts [][]int, o Options) (*Result, error) {
	start := time.Now()
	b := len(prompts)
	if b == 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "generation needs at least one prompt")
	}
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, lecture.Errorf(lecture.EINVALID, "prompt %d is empty", i)
		}
		for _, id := range p {
			if id < 0 || id >= m.Vocab {
				return nil, lecture.Errorf(lecture.EINVALID, "prompt %d holds token id %d outside model %s's vocabulary of %d", i, id, m.Model, m.Vocab)
			}
		}
	}
	if o.OnToken != nil && b != 1 {
		return nil, lecture.Errorf(lecture.EINVALID, "token streaming takes one prompt, not %d", b)
	}
	pen := Penalties{Repetition: m.Generation.RepetitionPenalty, NoRepeatNGram: m.Generation.NoRepeatNGram}
	if o.RepetitionPenalty != 0 {
		pen.Repetition = o.RepetitionPenalty
	}
	if o.NoRepeatNGramSize != 0 {
		pen.NoRepeatNGram = o.NoRepeatNGramSize
	}
	if err := pen.check(""); err != nil {
		return nil, err
	}
	minNew := m.Generation.MinNewTokens
	if o.MinNewTokens != 0 {
		minNew = o.MinNewTokens
	}
	if minNew < 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "min_new_tokens %d must be ≥ 0", minNew)
	}
	var scratch []float32 // the processed row, when penalties change it
	var sampler *Sampler
	if o.Sample != nil {
		var err error
		if sampler, err = NewSampler(*o.Sample); err != nil {
			return nil, err
		}
	}
	ids, mask := LeftPad(prompts, m.padID())
	L := len(ids[0])
	maxNew := o.MaxNewTokens
	if maxNew <= 0 {
		maxNew = m.Generation.MaxNewTokens
	}
	if maxNew <= 0 {
		maxNew = max(m.Generation.MaxLength-L, 1)
	}
	if limit := m.Config.MaxPositions; limit > 0 {
		if L >= limit {
			return nil, lecture.Errorf(lecture.ETOOLARGE, "prompt of %d tokens does not fit model %s's %d positions", L, m.Model, limit)
		}
		maxNew = min(maxNew, limit-L)
	}
	eos := m.Generation.EOSTokenIDs
	if o.EOS != nil {
		eos = o.EOS
	}
	isEOS := func(id int) bool {
		for _, e := range eos {
			if e == id {
				return true
			}
		}
		return false
	}
	var stream *Streamer
	if o.OnToken != nil {
		stream = NewStreamer(m.Tokenizer, o.OnToken)
	}

	r := &run{m: m, b: b, mask: mask, seq: ids}
	defer r.close()
	res := &Result{Tokens: make([][]int, b), Finished: make([]bool, b), PromptLen: L}
	pad := m.padID()
	for step := 0; step < maxNew; step++ {
		if err := ctx.Err(); err != nil {
			return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "generation stopped after %d tokens", step)
		}
		logits, err := r.step(o.NoCache)
		if err != nil {
			return nil, err
		}
		res.Steps++
		v := len(logits) / b
		next := make([]int, b)
		all := true
		for i := range b {
			row := logits[i*v : (i+1)*v]
			if step == 0 {
				res.FirstLogits = append(res.FirstLogits, append([]float32(nil), row...))
			}
			next[i] = pad
			if !res.Finished[i] {
				if banEOS := step < minNew; pen.active() || banEOS {
					scratch = append(scratch[:0], row...)
					pen.Apply(r.seq[i], scratch)
					for _, e := range eos {
						if banEOS && e >= 0 && e < len(scratch) {
							scratch[e] = float32(math.Inf(-1))
						}
					}
					row = scratch
				}
				if sampler != nil {
					next[i] = sampler.Sample(row)
				} else {
					next[i] = optimum.Argmax(row)
				}
				res.Tokens[i] = append(res.Tokens[i], next[i])
				res.Finished[i] = isEOS(next[i])
				if stream != nil {
					stream.Put(next[i])
				}
			}
			all = all && res.Finished[i]
		}
		if step == 0 {
			res.TimeToFirstToken = time.Since(start)
		}
		if all {
			break
		}
		r.append(next)
	}
	if stream != nil {
		if rest := stream.Flush(); rest != "" {
			o.OnToken(-1, rest)
		}
	}
	res.Elapsed = time.Since(start)
	n := 0
	for _, t := range res.Tokens {
		n += len(t)
	}
	lecture.CountTokens(ctx, n)
	return res, nil
}

// run is one batch's state: the sequences so far, their mask, and the
// cache from the last step, all tensors it must free.
type run struct {
	m     *Model
	b     int
	seq   [][]int // prompt and generated ids (padding included)
	mask  [][]int
	fed   int                  // columns of seq the cache holds
	past  map[string]ort.Value // by input name
	empty []ort.Value          // the 0-length caches of a first step
}

func (r *run) close() {
	for _, v := range r.past {
		v.Destroy()
	}
	for i := range r.empty {
		r.empty[i].Destroy()
	}
}

// append adds one column: each row's next token, attended.
func (r *run) append(next []int) {
	for i := range r.b {
		r.seq[i] = append(r.seq[i], next[i])
		r.mask[i] = append(r.mask[i], 1)
	}
}

// step runs the model on the columns the cache lacks (all of them on the
// first step or without the cache) and returns the last column's logits,
// [batch × vocab].
func (r *run) step(noCache bool) ([]float32, error) {
	m := r.m
	if noCache && r.past != nil {
		r.dropCache()
	}
	t := len(r.seq[0])
	from := r.fed
	q := t - from
	var ids, mask, pos []int64
	positions := PositionIDs(r.mask)
	for i := range r.b {
		for j := from; j < t; j++ {
			ids = append(ids, int64(r.seq[i][j]))
			pos = append(pos, int64(positions[i][j]))
		}
		for _, x := range r.mask[i] {
			mask = append(mask, int64(x))
		}
	}
	var feeds []ort.Value
	var own []ort.Value
	defer func() {
		for i := range own {
			own[i].Destroy()
		}
	}()
	add := func(shape []int64, data []int64) error {
		v, err := ort.NewTensor(shape, data)
		if err != nil {
			return err
		}
		own = append(own, v)
		feeds = append(feeds, v)
		return nil
	}
	if err := add([]int64{int64(r.b), int64(q)}, ids); err != nil {
		return nil, err
	}
	if err := add([]int64{int64(r.b), int64(t)}, mask); err != nil {
		return nil, err
	}
	if m.PositionIDs {
		if err := add([]int64{int64(r.b), int64(q)}, pos); err != nil {
			return nil, err
		}
	}
	for i := range m.Layers {
		for _, isV := range []bool{false, true} {
			if r.past != nil {
				feeds = append(feeds, r.past[CacheName("past_key_values", i, isV)])
				continue
			}
			e, err := r.emptyCache(2*i + btoi(isV))
			if err != nil {
				return nil, err
			}
			feeds = append(feeds, e)
		}
	}
	out := make([]ort.Value, len(m.Session.OutputNames()))
	if err := m.Session.Run(feeds, out); err != nil {
		return nil, err
	}
	defer func() {
		for i := range out {
			out[i].Destroy()
		}
	}()
	shape := out[0].Shape()
	if m.lastOnly {
		q = 1 // the session gives the last position only
	}
	if len(shape) != 3 || shape[0] != int64(r.b) || shape[1] != int64(q) || shape[2] != int64(m.Vocab) {
		return nil, lecture.Errorf(lecture.EINTERNAL, "model %s gave logits of shape %v, want [%d %d %d]", m.Model, shape, r.b, q, m.Vocab)
	}
	logits, err := ort.Data[float32](out[0])
	if err != nil {
		return nil, err
	}
	v := m.Vocab
	last := make([]float32, 0, r.b*v)
	for i := range r.b {
		off := (i*q + q - 1) * v
		last = append(last, logits[off:off+v]...)
	}
	if noCache {
		return last, nil
	}
	// keep present.* as the next step's past (out[0] is the logits)
	r.dropCache()
	r.past = make(map[string]ort.Value, 2*m.Layers)
	for k := 1; k < len(out); k++ {
		i, isV := (k-1)/2, (k-1)%2 == 1
		r.past[CacheName("past_key_values", i, isV)] = out[k]
		out[k] = ort.Value{}
	}
	r.fed = t
	return last, nil
}

func (r *run) dropCache() {
	for _, v := range r.past {
		v.Destroy()
	}
	r.past, r.fed = nil, 0
}

// emptyCache is cache input k's [batch, kv_heads, 0, head_dim] tensor, as
// transformers.js feeds the first step.
func (r *run) emptyCache(k int) (ort.Value, error) {
	if r.empty == nil {
		r.empty = make([]ort.Value, 2*r.m.Layers)
	}
	if r.empty[k].IsZero() {
		v, err := ort.NewTensor([]int64{int64(r.b), int64(r.m.KVHeads), 0, int64(r.m.HeadDim)}, []float32{})
		if err != nil {
			return ort.Value{}, err
		}
		r.empty[k] = v
	}
	return r.empty[k], nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
