package seq2seq

import (
	"slices"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
)

// run is one batch's state: encoder outputs and the decoder cache, all
// tensors it must free.
type run struct {
	m         *optimum.Seq2Seq
	b         int // decoder rows: inputs × beams
	encMask   ort.Value
	encStates ort.Value
	empty     map[string]ort.Value // the 0-length cache of the first merged step
	past      map[string]ort.Value // cache from the last step, by input name
	scratch   []float32            // reorder's copy of one cache tensor
	encRO     *ort.RunOptions      // per-generation run options of the encoder (LoRA adapter), or nil
	decRO     *ort.RunOptions      // and of the decoder
}

func newRun(m *optimum.Seq2Seq, b int, o *Options) *run {
	r := &run{m: m, b: b, encRO: o.RunOptions, decRO: o.RunOptions}
	if o.EncoderRunOptions != nil {
		r.encRO = o.EncoderRunOptions
	}
	if o.DecoderRunOptions != nil {
		r.decRO = o.DecoderRunOptions
	}
	return r
}

func (r *run) close() {
	r.encMask.Destroy()
	r.encStates.Destroy()
	for _, v := range r.empty {
		v.Destroy()
	}
	for _, v := range r.past {
		v.Destroy()
	}
}

// exec runs sess with the inputs it declares taken from feeds (which may
// hold more) and returns its outputs by name; the caller frees them.
func exec(sess *ort.Session, ro *ort.RunOptions, feeds map[string]ort.Value) (map[string]ort.Value, error) {
	in := make([]ort.Value, len(sess.InputNames()))
	for i, n := range sess.InputNames() {
		v, ok := feeds[n]
		if !ok {
			return nil, lecture.Errorf(lecture.EINTERNAL, "model %s: no value for input %q", sess.Path(), n)
		}
		in[i] = v
	}
	out := make([]ort.Value, len(sess.OutputNames()))
	if err := sess.RunWith(ro, in, out); err != nil {
		return nil, err
	}
	res := make(map[string]ort.Value, len(out))
	for i, n := range sess.OutputNames() {
		res[n] = out[i]
	}
	return res, nil
}

// encode runs the encoder once over the batch of inputs (batch rows of
// seqLen) and, for beam search, repeats each row's hidden states and mask
// beams times (rows i*beams … i*beams+beams-1 serve input i), so the
// decoder sees r.b = batch × beams rows without running the encoder again.
func (r *run) encode(ids, mask []int64, batch, seqLen, beams int) error {
	shape := []int64{int64(batch), int64(seqLen)}
	idsT, err := ort.NewTensor(shape, ids)
	if err != nil {
		return err
	}
	defer idsT.Destroy()
	maskT, err := ort.NewTensor(shape, mask)
	if err != nil {
		return err
	}
	out, err := exec(r.m.Encoder, r.encRO, map[string]ort.Value{"input_ids": idsT, "attention_mask": maskT})
	if err != nil {
		maskT.Destroy()
		return err
	}
	states := out["last_hidden_state"]
	delete(out, "last_hidden_state")
	destroyAll(out)
	if beams <= 1 {
		r.encMask, r.encStates = maskT, states
		return nil
	}
	defer maskT.Destroy()
	defer states.Destroy()
	if r.encMask, err = ort.NewTensor([]int64{int64(batch * beams), int64(seqLen)}, repeatRows(mask, batch, beams)); err != nil {
		return err
	}
	sh := states.Shape()
	data, err := ort.Data[float32](states)
	if err != nil {
		return err
	}
	sh = append([]int64{int64(batch * beams)}, sh[1:]...)
	r.encStates, err = ort.NewTensor(sh, repeatRows(data, batch, beams))
	return err
}

// repeatRows repeats each of the rows of data (equal parts) n times.
func repeatRows[T any](data []T, rows, n int) []T {
	size := len(data) / rows
	out := make([]T, 0, len(data)*n)
	for i := range rows {
		for range n {
			out = append(out, data[i*size:(i+1)*size]...)
		}
	}
	return out
}

// reorder makes row i of the decoder self-attention cache a copy of row
// parent[i] (beam search keeping, extending or dropping hypotheses). It
// permutes the tensors in place. The cross-attention cache is left alone:
// parents are always beams of the same input, whose encoder keys and values
// are equal.
func (r *run) reorder(parent []int) error {
	identity := true
	for i, p := range parent {
		identity = identity && p == i
	}
	if identity || r.past == nil {
		return nil
	}
	for i := range r.m.Layers {
		names := optimum.CacheNames("past_key_values", i)
		for _, n := range names[:2] {
			v, ok := r.past[n]
			if !ok {
				continue
			}
			data, err := ort.Data[float32](v)
			if err != nil {
				return err
			}
			if len(data)%len(parent) != 0 {
				return lecture.Errorf(lecture.EINTERNAL, "cache %s of shape %v does not have %d rows", n, v.Shape(), len(parent))
			}
			size := len(data) / len(parent)
			if cap(r.scratch) < len(data) {
				r.scratch = make([]float32, len(data))
			}
			old := r.scratch[:len(data)]
			copy(old, data)
			for row, p := range parent {
				copy(data[row*size:(row+1)*size], old[p*size:(p+1)*size])
			}
		}
	}
	return nil
}

// gather shrinks the batch to the decoder rows keep (indices into the
// current rows, in their new order): rows that finished or whose requester
// went away stop costing anything from the next step on. The decoder
// caches (self- and cross-attention), the encoder states and the encoder
// mask are copied row by row into tensors of len(keep) rows; a keep of the
// same length as the batch is a beam reorder (reorder: the self-attention
// cache in place).
func (r *run) gather(keep []int) error {
	if len(keep) == r.b {
		return r.reorder(keep)
	}
	if len(keep) == 0 || len(keep) > r.b {
		return lecture.Errorf(lecture.EINTERNAL, "gather %d of %d decoder rows", len(keep), r.b)
	}
	for n, v := range r.past {
		g, err := gatherRows[float32](v, keep, r.b)
		if err != nil {
			return lecture.Wrap(lecture.EINTERNAL, err, "cache %s", n)
		}
		v.Destroy()
		r.past[n] = g
	}
	for _, v := range r.empty {
		v.Destroy()
	}
	r.empty = nil
	states, err := gatherRows[float32](r.encStates, keep, r.b)
	if err != nil {
		return err
	}
	mask, err := gatherRows[int64](r.encMask, keep, r.b)
	if err != nil {
		states.Destroy()
		return err
	}
	r.encStates.Destroy()
	r.encMask.Destroy()
	r.encStates, r.encMask, r.b = states, mask, len(keep)
	return nil
}

// gatherRows copies the rows keep of v (rows along its first dimension)
// into a new tensor.
func gatherRows[T ort.Element](v ort.Value, keep []int, rows int) (ort.Value, error) {
	data, err := ort.Data[T](v)
	if err != nil {
		return ort.Value{}, err
	}
	shape := slices.Clone(v.Shape())
	if len(shape) == 0 || shape[0] != int64(rows) || len(data)%rows != 0 {
		return ort.Value{}, lecture.Errorf(lecture.EINTERNAL, "tensor of shape %v does not have %d rows", shape, rows)
	}
	size := len(data) / rows
	out := make([]T, 0, len(keep)*size)
	for _, p := range keep {
		out = append(out, data[p*size:(p+1)*size]...)
	}
	shape[0] = int64(len(keep))
	return ort.NewTensor(shape, out)
}

// execCached runs a cached decoder step into outputs allocated here in Go
// memory, so ONNX Runtime writes each result once, in place, and nothing is
// copied out afterwards: logits [b, q, vocab], the self-attention cache grown
// by q positions, and the cross-attention cache, which a with-past step
// "outputs" into the very tensors it reads (ONNX Runtime skips a copy onto
// itself), so it never moves after the first step.
func (r *run) execCached(sess *ort.Session, feeds map[string]ort.Value, q int, usePast bool) (map[string]ort.Value, error) {
	b, h, d := int64(r.b), int64(r.m.Heads), int64(r.m.HeadDim)
	past := int64(0)
	if usePast {
		past = r.past[optimum.CacheNames("past_key_values", 0)[0]].Shape()[2]
	}
	encLen := r.encStates.Shape()[1]
	out := make(map[string]ort.Value, len(sess.OutputNames()))
	vals := make([]ort.Value, len(sess.OutputNames()))
	fail := func(err error) (map[string]ort.Value, error) {
		destroyAll(out)
		return nil, err
	}
	for i, n := range sess.OutputNames() {
		var err error
		switch kind := r.cacheKind(n); {
		case n == "logits":
			vals[i], err = ort.NewEmptyTensor[float32]([]int64{b, int64(q), int64(r.m.Vocab)})
		case kind == cacheSelf:
			vals[i], err = ort.NewEmptyTensor[float32]([]int64{b, h, past + int64(q), d})
		case kind == cacheCross && usePast:
			in := r.past["past_key_values"+strings.TrimPrefix(n, "present")]
			if in.IsZero() {
				return fail(lecture.Errorf(lecture.EINTERNAL, "model %s: no cache tensor for output %q", sess.Path(), n))
			}
			vals[i] = in // the same tensor: ONNX Runtime skips the copy; keep must not free it
			continue
		case kind == cacheCross:
			vals[i], err = ort.NewEmptyTensor[float32]([]int64{b, h, encLen, d})
		default:
			continue // an output we do not know the shape of: ONNX Runtime allocates it
		}
		if err != nil {
			return fail(err)
		}
		out[n] = vals[i]
	}
	in := make([]ort.Value, len(sess.InputNames()))
	for i, n := range sess.InputNames() {
		v, ok := feeds[n]
		if !ok {
			return fail(lecture.Errorf(lecture.EINTERNAL, "model %s: no value for input %q", sess.Path(), n))
		}
		in[i] = v
	}
	if err := sess.RunWith(r.decRO, in, vals); err != nil {
		return fail(err)
	}
	for i, n := range sess.OutputNames() {
		if _, mine := out[n]; !mine && r.cacheKind(n) != cacheCross {
			out[n] = vals[i]
		}
	}
	return out, nil
}

// stepHook, when set (by tests), is called before each decoder step with
// the batch's rows.
var stepHook func(rows int)

// preallocate turns execCached on (a switch for comparing it with ONNX
// Runtime's own output allocation in TestDecoderStepSpeed).
var preallocate = true

type cacheKind int

const (
	cacheNone  cacheKind = iota
	cacheSelf            // present.i.decoder.{key,value}
	cacheCross           // present.i.encoder.{key,value}
)

func (r *run) cacheKind(output string) cacheKind {
	if !strings.HasPrefix(output, "present.") {
		return cacheNone
	}
	switch {
	case strings.HasSuffix(output, ".decoder.key"), strings.HasSuffix(output, ".decoder.value"):
		return cacheSelf
	case strings.HasSuffix(output, ".encoder.key"), strings.HasSuffix(output, ".encoder.value"):
		return cacheCross
	}
	return cacheNone
}

func destroyAll(vs map[string]ort.Value) {
	for _, v := range vs {
		v.Destroy()
	}
}

// emptyCache is the cache transformers.js feeds the merged decoder's first
// step: [batch, heads, 0, head_dim] for every cache input.
func (r *run) emptyCache() (map[string]ort.Value, error) {
	if r.empty != nil {
		return r.empty, nil
	}
	r.empty = map[string]ort.Value{}
	shape := []int64{int64(r.b), int64(r.m.Heads), 0, int64(r.m.HeadDim)}
	for i := range r.m.Layers {
		for _, n := range optimum.CacheNames("past_key_values", i) {
			v, err := ort.NewTensor(shape, []float32{})
			if err != nil {
				return nil, err
			}
			r.empty[n] = v
		}
	}
	return r.empty, nil
}

// step runs the decoder once and returns the last position's logits,
// [batch × vocab]. With the cache it feeds only each row's last token after
// the first step; without, every token so far.
func (r *run) step(ids [][]int, noCache bool) ([]float32, error) {
	if stepHook != nil {
		stepHook(r.b)
	}
	usePast := !noCache && r.past != nil
	t := len(ids[0])
	var tokens []int64
	for _, row := range ids {
		if usePast {
			tokens = append(tokens, int64(row[t-1]))
		} else {
			for _, x := range row {
				tokens = append(tokens, int64(x))
			}
		}
	}
	q := t
	if usePast {
		q = 1
	}
	idsT, err := ort.NewTensor([]int64{int64(r.b), int64(q)}, tokens)
	if err != nil {
		return nil, err
	}
	defer idsT.Destroy()
	feeds := map[string]ort.Value{"input_ids": idsT, "encoder_attention_mask": r.encMask, "encoder_hidden_states": r.encStates}
	sess := r.m.Decoder
	switch {
	case r.m.Merged:
		flag, err := ort.NewTensor([]int64{1}, []bool{usePast})
		if err != nil {
			return nil, err
		}
		defer flag.Destroy()
		feeds["use_cache_branch"] = flag
		cache := r.past
		if !usePast {
			if cache, err = r.emptyCache(); err != nil {
				return nil, err
			}
		}
		for n, v := range cache {
			feeds[n] = v
		}
	case usePast:
		sess = r.m.DecoderWithPast
		for n, v := range r.past {
			feeds[n] = v
		}
	}
	var out map[string]ort.Value
	if noCache || !preallocate {
		out, err = exec(sess, r.decRO, feeds)
	} else {
		out, err = r.execCached(sess, feeds, q, usePast)
	}
	if err != nil {
		return nil, err
	}
	defer destroyAll(out)
	logits, err := ort.Data[float32](out["logits"])
	if err != nil {
		return nil, err
	}
	shape := out["logits"].Shape()
	if len(shape) != 3 || shape[0] != int64(r.b) || shape[1] != int64(q) {
		return nil, lecture.Errorf(lecture.EINTERNAL, "model %s gave logits of shape %v, want [%d %d vocab]", sess.Path(), shape, r.b, q)
	}
	v := int(shape[2])
	last := make([]float32, 0, r.b*v)
	for i := range r.b {
		off := (i*q + q - 1) * v
		last = append(last, logits[off:off+v]...)
	}
	if !noCache {
		r.keep(out)
	}
	return last, nil
}

// keep moves the present.* outputs into the cache for the next step (taking
// them out of out so they are not freed); a cache entry the model did not
// output again (the encoder half, in the split with-past decoder) stays.
func (r *run) keep(out map[string]ort.Value) {
	if r.past == nil {
		r.past = map[string]ort.Value{}
	}
	for i := range r.m.Layers {
		in, pr := optimum.CacheNames("past_key_values", i), optimum.CacheNames("present", i)
		for k := range 4 {
			v, ok := out[pr[k]]
			if !ok {
				continue
			}
			old := r.past[in[k]]
			old.Destroy()
			r.past[in[k]] = v
			delete(out, pr[k])
		}
	}
}
