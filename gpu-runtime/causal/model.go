package causal

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/tokenizer"
	"github.com/transcept/transcept/shared/lecture"
)

// Files is a checked decoder-only folder: what was read from its configs
// and the declared inputs and outputs of onnx/model.onnx, before any
// session is built.
type Files struct {
	Dir        string
	Config     Config
	Generation Generation
	Model      string // onnx/model.onnx
	Layers     int    // cache entries: past_key_values.{0..Layers-1}.key/value
	KVHeads    int    // of the cache tensors
	HeadDim    int
	Vocab      int // logits width
	// PositionIDs says the model takes position_ids (most exports do).
	PositionIDs bool
}

// CacheName is past_key_values.{i}.key or .value (prefix "past_key_values"),
// or present.{i}.key / .value (prefix "present").
func CacheName(prefix string, i int, value bool) string {
	if value {
		return fmt.Sprintf("%s.%d.value", prefix, i)
	}
	return fmt.Sprintf("%s.%d.key", prefix, i)
}

// Check reads and checks a decoder-only folder without ONNX Runtime:
// config.json (and generation_config.json), onnx/model.onnx's inputs and
// outputs, the cache shapes against the config, and that the tokenizer
// fits the vocabulary. Every problem is a lecture error naming the file.
func Check(dir string) (*Files, *tokenizer.Tokenizer, error) {
	f, err := checkModel(dir)
	if err != nil {
		return nil, nil, err
	}
	tok, err := optimum.LoadTokenizer(dir, f.Vocab, f.Model)
	if err != nil {
		return nil, nil, err
	}
	return f, tok, nil
}

// checkModel is Check without the tokenizer.
func checkModel(dir string) (*Files, error) {
	f, _, err := checkFiles(dir)
	return f, err
}

func checkFiles(dir string) (*Files, *onnxpb.Info, error) { return checkFilesDType(dir, "") }

// checkFilesDType is checkFiles for the files of dtype ("" is fp32).
func checkFilesDType(dir, dtype string) (*Files, *onnxpb.Info, error) {
	c, g, err := readConfigs(dir)
	if err != nil {
		return nil, nil, err
	}
	cfgPath := filepath.Join(dir, "config.json")
	if c.IsEncDec {
		return nil, nil, lecture.Errorf(lecture.EINVALID, "%s: model_type %q is an encoder-decoder (is_encoder_decoder is true); this runtime takes decoder-only models", cfgPath, c.ModelType)
	}
	if c.Layers <= 0 {
		return nil, nil, lecture.Errorf(lecture.EINVALID, "%s: num_hidden_layers is missing", cfgPath)
	}
	f := &Files{Dir: dir, Config: c, Generation: g, Layers: c.Layers, KVHeads: c.KVHeads, HeadDim: c.HeadDim,
		Vocab: c.VocabSize, Model: filepath.Join(dir, "onnx", "model.onnx")}
	if f.Model, err = optimum.DTypeFile(f.Model, dtype); err != nil {
		return nil, nil, err
	}
	if err := optimum.CheckDTypeFiles(dir, dtype, f.Model); err != nil {
		return nil, nil, err
	}
	info, err := ort.Inspect(f.Model)
	if err != nil {
		return nil, nil, err
	}
	if err := info.CheckExternal(); err != nil { // onnx/model.onnx_data beside it
		code := lecture.EINVALID
		if errors.Is(err, fs.ErrNotExist) {
			code = lecture.ENOTFOUND
		}
		return nil, nil, lecture.Wrap(code, err, "model folder %s", dir)
	}
	want := ort.Expect{
		Inputs:  map[string]onnxpb.DataType{"input_ids": onnxpb.Int64, "attention_mask": onnxpb.Int64},
		Outputs: map[string]onnxpb.DataType{"logits": onnxpb.Float},
	}
	for i := range f.Layers {
		for _, v := range []bool{false, true} {
			want.Inputs[CacheName("past_key_values", i, v)] = onnxpb.Float
			want.Outputs[CacheName("present", i, v)] = onnxpb.Float
		}
	}
	if err := want.Check(info); err != nil {
		return nil, nil, err
	}
	if _, ok := info.Input(CacheName("past_key_values", f.Layers, false)); ok {
		return nil, nil, lecture.Errorf(lecture.EINVALID, "model file %s has more cache layers than the %d of %s", f.Model, f.Layers, cfgPath)
	}
	if p, ok := info.Input("position_ids"); ok {
		if p.ElemType != onnxpb.Int64 {
			return nil, nil, lecture.Errorf(lecture.EINVALID, "model file %s: input \"position_ids\" is %s, want int64", f.Model, p.ElemType)
		}
		f.PositionIDs = true
	}
	known := []string{"input_ids", "attention_mask", "position_ids"}
	for _, in := range info.RequiredInputs() {
		if _, ok := want.Inputs[in.Name]; !ok && !slices.Contains(known, in.Name) {
			return nil, nil, lecture.Errorf(lecture.EINVALID, "model file %s takes input %q, which this runtime does not feed (it feeds input_ids, attention_mask, position_ids and past_key_values.*)", f.Model, in.Name)
		}
	}
	if err := f.shapes(info, cfgPath); err != nil {
		return nil, nil, err
	}
	return f, info, nil
}

// shapes takes vocabulary, key/value heads and head size from the declared
// shapes where they are numbers, and checks them against config.json.
func (f *Files) shapes(info *onnxpb.Info, cfg string) error {
	if lg, _ := info.Output("logits"); len(lg.Shape) == 3 && lg.Shape[2].Value > 0 {
		v := int(lg.Shape[2].Value)
		if f.Vocab > 0 && v != f.Vocab {
			return lecture.Errorf(lecture.EINVALID, "model file %s has logits over %d tokens but %s says vocab_size %d", f.Model, v, cfg, f.Vocab)
		}
		f.Vocab = v
	}
	if f.Vocab <= 0 {
		return lecture.Errorf(lecture.EINVALID, "%s: vocab_size is missing", cfg)
	}
	pk, _ := info.Input(CacheName("past_key_values", 0, false))
	if len(pk.Shape) != 4 {
		return lecture.Errorf(lecture.EINVALID, "model file %s: cache input %s has shape %v, want [batch, kv_heads, past_len, head_dim]", f.Model, pk.Name, pk.Shape)
	}
	if h := int(pk.Shape[1].Value); h > 0 {
		if f.KVHeads > 0 && h != f.KVHeads {
			return lecture.Errorf(lecture.EINVALID, "model file %s has %d key/value heads but %s says %d", f.Model, h, cfg, f.KVHeads)
		}
		f.KVHeads = h
	}
	if d := int(pk.Shape[3].Value); d > 0 {
		if f.HeadDim > 0 && d != f.HeadDim {
			return lecture.Errorf(lecture.EINVALID, "model file %s has heads of %d but %s says head_dim %d", f.Model, d, cfg, f.HeadDim)
		}
		f.HeadDim = d
	}
	if f.KVHeads <= 0 || f.HeadDim <= 0 {
		return lecture.Errorf(lecture.EINVALID, "%s: num_key_value_heads / num_attention_heads and head_dim / hidden_size are missing", cfg)
	}
	return nil
}

// Model is a loaded decoder-only model. It is safe for concurrent Generate
// calls.
type Model struct {
	*Files
	Tokenizer *tokenizer.Tokenizer
	Session   *ort.Session
	lastOnly  bool // the session's logits are [batch, 1, vocab]
	// grouped counts the attention products the session computes without
	// the graph's repeat of the key/value heads (onnxpb.CausalCopy), 0
	// where none was rewritten.
	grouped int
}

// spinKey is ONNX Runtime's setting for intra-op worker threads that
// spin between operators.
const spinKey = "session.intra_op.allow_spinning"

// Load checks the folder (Check) and builds the session; the tokenizer is
// read while ONNX Runtime builds it. The session computes logits for the
// last position only (see lastLogitsModel). Unless o.ConfigEntries says
// otherwise, intra-op worker threads sleep between operators instead of
// spinning: a decode step is a few hundred small operators, and on a
// machine shared with other work spinning workers take the CPU the step
// needs (measured on the 2-core build machine with 2 threads: 1.1 tok/s
// spinning, 2.7–3.2 tok/s not).
func Load(dir string, o ort.Options) (*Model, error) {
	if _, set := o.ConfigEntries[spinKey]; !set {
		entries := map[string]string{spinKey: "0"}
		for k, v := range o.ConfigEntries {
			entries[k] = v
		}
		o.ConfigEntries = entries
	}
	f, info, err := checkFilesDType(dir, o.DType)
	if err != nil {
		return nil, err
	}
	type tokResult struct {
		tok *tokenizer.Tokenizer
		err error
	}
	tokc := make(chan tokResult, 1)
	go func() {
		tok, err := optimum.LoadTokenizer(dir, f.Vocab, f.Model)
		tokc <- tokResult{tok, err}
	}()
	in := []string{"input_ids", "attention_mask"}
	if f.PositionIDs {
		in = append(in, "position_ids")
	}
	out := []string{"logits"}
	for i := range f.Layers {
		for _, v := range []bool{false, true} {
			in = append(in, CacheName("past_key_values", i, v))
			out = append(out, CacheName("present", i, v))
		}
	}
	o.InputNames, o.OutputNames = in, out
	gr := onnxpb.Grouping{Heads: f.Config.Heads, KVHeads: f.KVHeads, HeadDim: f.HeadDim}
	path, grouped, kept := keptCopy(f.Model, info, gr, o.OptimizedCacheDir)
	lastOnly, cleanup := kept, func() {}
	if !kept {
		path, lastOnly, grouped, cleanup = lastLogitsModel(f.Model, info, gr)
	}
	o.ScratchModel = path != f.Model && !kept // our own temporary copy
	s, err := ort.NewSession(path, o)
	cleanup()
	tr := <-tokc
	if err != nil {
		return nil, err
	}
	if tr.err != nil {
		s.Close()
		return nil, tr.err
	}
	return &Model{Files: f, Tokenizer: tr.tok, Session: s, lastOnly: lastOnly, grouped: grouped}, nil
}

// lastLogits turns the rewrite on (tests turn it off to compare), and
// groupedAttention its regrouping of grouped-query attention.
var lastLogits, groupedAttention = true, true

// lastLogitsModel is a copy of the model whose lm_head sees only the last
// position (onnxpb.LastPositionOnly): generation never needs the logits of
// the other prompt positions, and projecting every one of them onto the
// vocabulary is a large share of a prompt step (for Qwen2.5-0.5B and a
// 500-token prompt, 140 of 510 GFLOP, and a 300 MB output). ONNX Runtime
// reads external data only from the model file's own folder (links are
// resolved and checked), so the copy goes in a temporary folder with hard
// links to the data files, or else, as a hidden temporary file, beside the
// model. The model is memory-mapped and the copy written from the mapping,
// so a file that holds its weights (a quantised model_q4.onnx of hundreds
// of MB) costs no second copy in memory, only the write. cleanup removes
// the copy once the session is built. Where no copy can be made (a
// read-only folder on another file system), path is the model itself and
// lastOnly false: the same results, more work.
//
// The same copy computes grouped-query attention without the repeat of the
// key/value heads (gr; onnxpb.CausalCopy): exported graphs copy each
// key/value head of the whole cache for each of its query heads, every
// step and layer (Qwen2.5-0.5B: 7 copies of each of 2 heads), before the
// two attention products; the copy multiplies each group's queries by its
// key head and each query head's weights by its value head directly, the
// same dot products of the same numbers. grouped is how many products were
// so rewritten (two a layer).
func lastLogitsModel(modelPath string, info *onnxpb.Info, gr onnxpb.Grouping) (path string, lastOnly bool, grouped int, cleanup func()) {
	none := func() {}
	if !lastLogits {
		return modelPath, false, 0, none
	}
	b, unmap, err := mapModel(modelPath)
	if err != nil {
		return modelPath, false, 0, none
	}
	defer unmap()
	rw, err := causalCopy(b, gr)
	if err != nil {
		return modelPath, false, 0, none // not rewritable: the model as it is
	}
	if p, c, err := linkedCopy(modelPath, info, writeCopy(rw)); err == nil {
		return p, true, rw.Grouped, c
	}
	f, err := os.CreateTemp(filepath.Dir(modelPath), ".transcept-last-logits-*.onnx")
	if err != nil {
		return modelPath, false, 0, none
	}
	cleanup = func() { os.Remove(f.Name()) }
	err = writeCopy(rw)(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return modelPath, false, 0, none
	}
	return f.Name(), true, rw.Grouped, cleanup
}

// causalCopy is the model's rewrite (its bytes b) for lastLogitsModel and
// keptCopy, without the regrouping where tests turn it off.
func causalCopy(b []byte, gr onnxpb.Grouping) (*onnxpb.CausalRewrite, error) {
	if !groupedAttention {
		gr = onnxpb.Grouping{}
	}
	return onnxpb.CausalCopy(b, "logits", gr)
}

// writeCopy writes rw, buffered (most of its pieces are small).
func writeCopy(rw *onnxpb.CausalRewrite) func(io.Writer) error {
	return func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if _, err := rw.WriteTo(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
}

// keptCopy is lastLogitsModel's copy kept in the optimised-model cache
// folder (cacheDir; "" keeps none), so that ONNX Runtime's cached form of
// it stays valid from one load to the next: the copy is written once per
// source file (path, size, modification time, its data files) and
// rewrite, in a folder with hard links to the model's external data
// files, and the next load takes it as it is (for a q4 Qwen2.5-0.5B at
// one thread: 1.8–2.5 s to a loaded model instead of 3.0–3.5 s). Copies of
// earlier versions of the same source are removed, with ONNX Runtime's
// cached forms of them. The kept copy's logits are always the last
// position's. kept is false where no copy can be kept (no cache
// folder, the rewrite turned off or impossible, or the cache on another
// file system than the model's data files, which hard links cannot
// reach); the caller then makes a temporary one.
func keptCopy(modelPath string, info *onnxpb.Info, gr onnxpb.Grouping, cacheDir string) (path string, grouped int, kept bool) {
	if cacheDir == "" || !lastLogits {
		return "", 0, false
	}
	if !groupedAttention {
		gr = onnxpb.Grouping{} // also in the copy's name
	}
	abs, err := filepath.Abs(modelPath)
	if err != nil {
		return "", 0, false
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", 0, false
	}
	src := fnv.New64a()
	fmt.Fprint(src, abs)
	ver := fnv.New64a()
	fmt.Fprintf(ver, "%d\x00%d\x00%d/%d/%d\x00%s", st.Size(), st.ModTime().UnixNano(), gr.Heads, gr.KVHeads, gr.HeadDim, keptCopyVersion)
	for _, d := range ort.DataIdentity(abs, info) { // the linked data files: replaced ones get a new copy
		fmt.Fprintf(ver, "\x00%s", d)
	}
	prefix := filepath.Join(cacheDir, fmt.Sprintf("causal-%016x-", src.Sum64()))
	dir := prefix + fmt.Sprintf("%016x", ver.Sum64())
	path = filepath.Join(dir, filepath.Base(abs))
	if n, ok := readKept(dir); ok {
		if _, err := os.Stat(path); err == nil {
			return path, n, true
		}
	}
	os.RemoveAll(dir) // a damaged copy (its model file gone): written again
	b, unmap, err := mapModel(abs)
	if err != nil {
		return "", 0, false
	}
	defer unmap()
	rw, err := causalCopy(b, gr)
	if err != nil {
		return "", 0, false
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", 0, false
	}
	// a writer that died half-way left its folder under a temporary name
	if old, _ := filepath.Glob(filepath.Join(cacheDir, ".causal-*")); len(old) > 0 {
		for _, p := range old {
			if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > time.Hour {
				os.RemoveAll(p)
			}
		}
	}
	tmp, err := os.MkdirTemp(cacheDir, ".causal-*")
	if err != nil {
		return "", 0, false
	}
	defer os.RemoveAll(tmp) // gone once renamed
	if err := writeLinked(tmp, abs, info, writeCopy(rw)); err != nil {
		return "", 0, false
	}
	if err := os.WriteFile(filepath.Join(tmp, keptMarker), fmt.Appendf(nil, "%d\n", rw.Grouped), 0o644); err != nil {
		return "", 0, false
	}
	if err := os.Rename(tmp, dir); err != nil {
		// another process kept the same copy first: take it
		if n, ok := readKept(dir); ok {
			return path, n, true
		}
		return "", 0, false
	}
	if stale, _ := filepath.Glob(prefix + "*"); len(stale) > 1 {
		for _, p := range stale {
			if p != dir {
				ort.RemoveCached(cacheDir, filepath.Join(p, filepath.Base(abs)))
				os.RemoveAll(p)
			}
		}
	}
	return path, rw.Grouped, true
}

// keptCopyVersion changes when the rewrite's output does, so that copies
// kept by an earlier release are written again.
const keptCopyVersion = "last-position+grouped-attention/1"

// keptMarker is written last in a kept copy's folder (before the folder
// gets its name); it holds the count of regrouped attention products.
const keptMarker = "complete"

func readKept(dir string) (grouped int, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, keptMarker))
	if err != nil {
		return 0, false
	}
	if _, err := fmt.Sscan(string(b), &grouped); err != nil {
		return 0, false
	}
	return grouped, true
}

// mapModel maps a model file read-only.
func mapModel(path string) ([]byte, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() == 0 || st.Size() != int64(int(st.Size())) {
		return nil, nil, fmt.Errorf("%s: %d bytes", path, st.Size())
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() { syscall.Munmap(b) }, nil
}

// linkedCopy writes the rewritten model (write) into a new temporary
// folder with hard links to its external data files.
func linkedCopy(modelPath string, info *onnxpb.Info, write func(io.Writer) error) (string, func(), error) {
	tmp, err := os.MkdirTemp("", "transcept-causal-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	if err := writeLinked(tmp, modelPath, info, write); err != nil {
		cleanup()
		return "", nil, err
	}
	return filepath.Join(tmp, filepath.Base(modelPath)), cleanup, nil
}

// writeLinked writes the rewritten model (write) into folder dir under the
// model's name, with hard links to its external data files.
func writeLinked(dir, modelPath string, info *onnxpb.Info, write func(io.Writer) error) error {
	path := filepath.Join(dir, filepath.Base(modelPath))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err == nil {
		err = write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	for _, e := range info.External {
		src, err := e.Path(modelPath)
		dst := filepath.Join(dir, filepath.FromSlash(e.Location))
		if _, serr := os.Lstat(dst); serr == nil {
			continue // linked already
		}
		if err == nil {
			err = os.MkdirAll(filepath.Dir(dst), 0o700)
		}
		if err == nil {
			err = os.Link(src, dst)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// RegroupedAttention is how many attention products the session computes
// without the graph's repeat of the key/value heads (see lastLogitsModel):
// two a layer for a grouped-query model exported the usual way, 0 where
// the graph was loaded as it is.
func (m *Model) RegroupedAttention() int { return m.grouped }

// Close frees the session.
func (m *Model) Close() error { return m.Session.Close() }
