// Package seq2seq generates text with an encoder-decoder model
// (optimum.Seq2Seq): the encoder runs once, the decoder once per new token
// with its past-key-value cache (the merged decoder's use_cache_branch, or
// the older decoder / decoder_with_past pair), following Hugging Face's
// generation_config.json semantics.
package seq2seq

import (
	"math"
	"slices"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
)

// Options override the folder's generation_config.json for one call; zero
// values keep the folder's settings.
type Options struct {
	MaxLength int // counts the decoder start token, as Hugging Face does
	MinLength int
	// ForcedBOS and ForcedEOS override forced_bos_token_id and
	// forced_eos_token_id; a pointer to -1 turns forcing off.
	ForcedBOS, ForcedEOS *int
	// NoCache re-feeds every decoder token each step instead of using the
	// past-key-value cache (slow; it exists to prove the cache right).
	NoCache bool
	// RunOptions, when set, go to every encoder and decoder run: they
	// activate a LoRA adapter for this generation only.
	RunOptions *ort.RunOptions
	// EncoderRunOptions and DecoderRunOptions, when set, replace RunOptions
	// for that session alone (an encoder-decoder adapter is split per
	// session, since each session accepts only its own parameters).
	EncoderRunOptions *ort.RunOptions
	DecoderRunOptions *ort.RunOptions

	// Beam search (Beam, Generate): zero values keep the folder's
	// num_beams, num_return_sequences and no_repeat_ngram_size; nil and ""
	// its length_penalty and early_stopping ("true", "false" or "never").
	NumBeams           int
	NumReturnSequences int
	NoRepeatNGramSize  int
	LengthPenalty      *float64
	EarlyStopping      string
}

// Result is a batch's generations.
type Result struct {
	// IDs are the decoder sequences (Beam: num_return_sequences rows per
	// input, best first): the decoder start token, the generated
	// tokens up to and including EOS, then pad_token_id up to the longest.
	IDs [][]int
	// FirstLogits are each row's raw logits of the first decoder step.
	FirstLogits [][]float32
	// Scores are beam search's length-penalised sequence scores, one per
	// row of IDs (nil from Greedy).
	Scores []float64
}

// settings are Options resolved against the folder's generation config.
type settings struct {
	optimum.Generation
}

func resolve(g optimum.Generation, o Options) settings {
	if o.MaxLength > 0 {
		g.MaxLength = o.MaxLength
	}
	if o.MinLength > 0 {
		g.MinLength = o.MinLength
	}
	if o.ForcedBOS != nil {
		g.ForcedBOSTokenID = *o.ForcedBOS
	}
	if o.ForcedEOS != nil {
		g.ForcedEOSTokenID = *o.ForcedEOS
	}
	return settings{g}
}

// process applies min_length, forced_bos_token_id and forced_eos_token_id to
// one row's logits, where curLen tokens (decoder start included) exist.
func (s *settings) process(logits []float32, curLen int) {
	inf := float32(math.Inf(-1))
	force := func(id int) {
		for i := range logits {
			if i != id {
				logits[i] = inf
			}
		}
	}
	if curLen < s.MinLength {
		for _, e := range s.EOSTokenIDs {
			if e >= 0 && e < len(logits) {
				logits[e] = inf
			}
		}
	}
	if curLen == 1 && s.ForcedBOSTokenID >= 0 {
		force(s.ForcedBOSTokenID)
	}
	if curLen == s.MaxLength-1 && s.ForcedEOSTokenID >= 0 {
		force(s.ForcedEOSTokenID)
	}
}

// Pad right-pads token id rows with pad into a rectangle and returns the
// attention mask (1 for tokens, 0 for padding), as the tokenizer does.
func Pad(rows [][]int, pad int) (ids, mask [][]int) {
	n := 0
	for _, r := range rows {
		n = max(n, len(r))
	}
	for _, r := range rows {
		id, m := make([]int, n), make([]int, n)
		for i := range n {
			id[i], m[i] = pad, 0
			if i < len(r) {
				id[i], m[i] = r[i], 1
			}
		}
		ids, mask = append(ids, id), append(mask, m)
	}
	return ids, mask
}

// Greedy generates for a batch of encoder inputs (rows of equal length,
// mask 1 for tokens and 0 for padding). A row that ends (EOS) leaves the
// batch: the decoder runs on the rows still generating only.
func Greedy(m *optimum.Seq2Seq, inputIDs, mask [][]int, o Options) (*Result, error) {
	if err := checkBatch(m, inputIDs, mask); err != nil {
		return nil, err
	}
	s := resolve(m.Generation, o)
	rows := make([]rowSettings, len(inputIDs))
	for i := range rows {
		rows[i].settings = s
	}
	out, err := greedy(m, inputIDs, mask, rows, &o)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	longest := 0
	for _, r := range out {
		longest = max(longest, len(r.IDs))
	}
	for _, r := range out {
		row := r.IDs
		for len(row) < longest {
			row = append(row, s.PadTokenID)
		}
		res.IDs = append(res.IDs, row)
		res.FirstLogits = append(res.FirstLogits, r.FirstLogits)
	}
	return res, nil
}

// Input is one request's row of a batched generation (GenerateRows): its
// encoder ids without padding, and what belongs to it alone.
type Input struct {
	IDs []int
	// MaxLength and MinLength override Options' (and the folder's) for this
	// row alone; 0 keeps them. Greedy only: beam search takes the batch's.
	MaxLength, MinLength int
	// Done, when closed, ends this row before the next decoder step (its
	// requester went away); the other rows go on. Its Output has the
	// tokens generated so far and Err says it was cancelled.
	Done <-chan struct{}
}

// Output is one row's generation.
type Output struct {
	// IDs: the decoder start token, the generated tokens up to and
	// including EOS (no padding). Beam search: the best hypothesis.
	IDs []int
	// FirstLogits are the row's raw logits of the first decoder step (nil
	// when it was cancelled before).
	FirstLogits []float32
	// Score is beam search's length-penalised score (0 from greedy).
	Score float64
	// Err is this row's failure alone (cancelled); nil when it generated.
	Err error
}

// rowSettings are one row's resolved settings and cancellation.
type rowSettings struct {
	settings
	done <-chan struct{}
}

// cancelled reports whether the row's Done is closed.
func (r *rowSettings) cancelled() bool {
	if r.done == nil {
		return false
	}
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// errCancelled is a row's Err when its Done closed.
func errCancelled() error {
	return lecture.Errorf(lecture.EUNAVAILABLE, "generation cancelled: the request went away")
}

// greedy decodes the padded batch, each row by its own settings. Rows
// leave the batch when they end, reach their max length or are cancelled
// (run.gather), so the rest never pay for them; each row's ids are those it
// gets alone.
func greedy(m *optimum.Seq2Seq, inputIDs, mask [][]int, rows []rowSettings, o *Options) ([]Output, error) {
	b := len(inputIDs)
	r := newRun(m, b, o)
	defer r.close()
	if err := r.encode(flat(inputIDs), flat(mask), b, len(inputIDs[0]), 1); err != nil {
		return nil, err
	}
	out := make([]Output, b)
	active := make([]int, b) // the input row of each decoder row
	ended := make([]bool, b)
	for i := range out {
		out[i].IDs = []int{rows[i].DecoderStartTokenID}
		active[i] = i
	}
	keep := make([]int, 0, b)
	ids := make([][]int, 0, b)
	for curLen := 1; ; curLen++ {
		keep, ids = keep[:0], ids[:0]
		for k, a := range active {
			switch {
			case ended[a] || curLen >= rows[a].MaxLength:
			case rows[a].cancelled():
				out[a].Err = errCancelled()
			default:
				keep = append(keep, k)
				ids = append(ids, out[a].IDs)
			}
		}
		if len(keep) == 0 {
			return out, nil
		}
		if len(keep) < len(active) {
			if err := r.gather(keep); err != nil {
				return nil, err
			}
			next := make([]int, len(keep))
			for k, p := range keep {
				next[k] = active[p]
			}
			active = next
		}
		logits, err := r.step(ids, o.NoCache)
		if err != nil {
			return nil, err
		}
		v := len(logits) / len(active)
		for k, a := range active {
			row := logits[k*v : (k+1)*v]
			if curLen == 1 {
				out[a].FirstLogits = slices.Clone(row)
			}
			rows[a].process(row, curLen)
			next := optimum.Argmax(row)
			out[a].IDs = append(out[a].IDs, next)
			ended[a] = rows[a].IsEOS(next)
		}
	}
}

// GenerateRows generates for inputs of any lengths (padded here into one
// batch): the encoder runs once over the batch, the decoder steps run on
// every row still generating, and finished rows leave the batch. Greedy or
// beam search as Options over the folder's generation config ask (beam:
// num_return_sequences must be 1, and rows may not set their own lengths).
// Each row's ids are those it gets alone, for graphs whose rows are
// computed independently (float32, fp16, MatMulNBits); a q8 graph's
// DynamicQuantizeLinear takes one activation scale over the whole batch
// tensor, so there a row's logits move with its batch and its ids can
// differ from a lone run's. A row's Done cancels that row only (its
// Output.Err says so). The error is for the whole batch (a bad
// input, ONNX Runtime failing).
func GenerateRows(m *optimum.Seq2Seq, in []Input, o Options) ([]Output, error) {
	folder, err := readBeam(m.Dir)
	if err != nil {
		return nil, err
	}
	s, err := resolveBeam(m.Generation, folder, o)
	if err != nil {
		return nil, err
	}
	enc := make([][]int, len(in))
	for i, x := range in {
		if len(x.IDs) == 0 {
			return nil, lecture.Errorf(lecture.EINVALID, "input row %d has no ids", i)
		}
		if x.MaxLength < 0 || x.MinLength < 0 {
			return nil, lecture.Errorf(lecture.EINVALID, "input row %d: max length %d and min length %d must not be negative", i, x.MaxLength, x.MinLength)
		}
		enc[i] = x.IDs
	}
	ids, mask := Pad(enc, max(s.PadTokenID, 0))
	if err := checkBatch(m, ids, mask); err != nil {
		return nil, err
	}
	if s.numBeams > 1 {
		for i, x := range in {
			if x.MaxLength > 0 || x.MinLength > 0 {
				return nil, lecture.Errorf(lecture.EINVALID, "input row %d sets its own lengths: beam search takes the batch's (Options.MaxLength, MinLength)", i)
			}
		}
		if s.numReturn != 1 {
			return nil, lecture.Errorf(lecture.EINVALID, "GenerateRows returns one sequence per row, not num_return_sequences %d", s.numReturn)
		}
		done := make([]<-chan struct{}, len(in))
		for i, x := range in {
			done[i] = x.Done
		}
		r := newRun(m, len(in)*s.numBeams, &o)
		defer r.close()
		if err := r.encode(flat(ids), flat(mask), len(in), len(ids[0]), s.numBeams); err != nil {
			return nil, err
		}
		return beamRows(&modelStepper{r: r, noCache: o.NoCache}, done, &s)
	}
	rows := make([]rowSettings, len(in))
	for i, x := range in {
		ro := o
		if x.MaxLength > 0 {
			ro.MaxLength = x.MaxLength
		}
		if x.MinLength > 0 {
			ro.MinLength = x.MinLength
		}
		rows[i] = rowSettings{settings: resolve(m.Generation, ro), done: x.Done}
	}
	return greedy(m, ids, mask, rows, &o)
}

// checkBatch refuses empty, ragged or too long batches.
func checkBatch(m *optimum.Seq2Seq, inputIDs, mask [][]int) error {
	b := len(inputIDs)
	if b == 0 || len(mask) != b {
		return lecture.Errorf(lecture.EINVALID, "generation needs a batch of inputs with a mask per row (got %d and %d)", b, len(mask))
	}
	seqLen := len(inputIDs[0])
	for i := range inputIDs {
		if len(inputIDs[i]) != seqLen || len(mask[i]) != seqLen {
			return lecture.Errorf(lecture.EINVALID, "input row %d has %d ids and %d mask values, want %d (pad the batch)", i, len(inputIDs[i]), len(mask[i]), seqLen)
		}
	}
	if limit := m.Config.MaxPositions; limit > 0 && seqLen > limit {
		return lecture.Errorf(lecture.ETOOLARGE, "input of %d tokens is longer than model %s takes (%d)", seqLen, m.Dir, limit)
	}
	return nil
}

func flat(rows [][]int) []int64 {
	var out []int64
	for _, r := range rows {
		for _, x := range r {
			out = append(out, int64(x))
		}
	}
	return out
}
