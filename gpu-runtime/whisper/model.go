package whisper

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/tokenizer"
	"github.com/transcept/transcept/shared/lecture"
)

// Config is the part of a Whisper folder's config.json the runtime needs.
type Config struct {
	ModelType          string `json:"model_type"`
	VocabSize          int    `json:"vocab_size"`
	DModel             int    `json:"d_model"`
	NumMelBins         int    `json:"num_mel_bins"`
	DecoderLayers      int    `json:"decoder_layers"`
	DecoderHeads       int    `json:"decoder_attention_heads"`
	MaxSourcePositions int    `json:"max_source_positions"`
	MaxTargetPositions int    `json:"max_target_positions"`
}

// Generation is generation_config.json's Whisper fields.
type Generation struct {
	DecoderStartTokenID int             `json:"decoder_start_token_id"`
	EOS                 json.RawMessage `json:"eos_token_id"`
	NoTimestampsTokenID int             `json:"no_timestamps_token_id"`
	LangToID            map[string]int  `json:"lang_to_id"`
	TaskToID            map[string]int  `json:"task_to_id"`
	IsMultilingual      bool            `json:"is_multilingual"`
	SuppressTokens      []int           `json:"suppress_tokens"`
	BeginSuppressTokens []int           `json:"begin_suppress_tokens"`
	MaxLength           int             `json:"max_length"`

	EOSTokenID int `json:"-"` // the first of eos_token_id
}

// Model is a loaded Whisper folder in Optimum's layout: onnx/encoder_model.onnx
// (input_features → last_hidden_state) and onnx/decoder_model_merged.onnx.
type Model struct {
	Dir        string
	Config     Config
	Generation Generation
	Tokenizer  *tokenizer.Tokenizer
	Features   *FeatureExtractor
	Encoder    *ort.Session
	Decoder    *ort.Session
	// Cross, when the merged decoder could be split (split.go), projects
	// a window's encoder output to the cross-attention cache, and Decoder
	// is the with-past branch alone, run for every step; nil when Decoder
	// is the merged decoder (or lightDecoder's copy of it).
	Cross *ort.Session
	// TimestampBegin is <|0.00|>'s id (no_timestamps_token_id + 1).
	TimestampBegin int
	Heads, HeadDim int

	// lightCache: Decoder was loaded from lightDecoder's copy, whose
	// with-past steps return empty cross-attention caches.
	lightCache bool
	ioOnce     sync.Once
	io         *decoderIO
	ioErr      error
	encMu      sync.Mutex
	encLast    *encoded // the last window's encoder output

	onPass func(ids []int) // tests and benchmarks: every decoding pass's sequence
	// benchmarks (time to first token): LongForm starting a window's
	// features, and a pass choosing its first token
	onWindow, onFirstToken func()
}

// checkFolder reads the configs, tokenizer and .onnx signatures.
func checkFolder(dir string) (*Model, error) { return checkFolderDType(dir, "") }

// checkFolderDType is checkFolder for the files of dtype ("" is fp32).
func checkFolderDType(dir, dtype string) (*Model, error) {
	m := &Model{Dir: dir}
	if _, err := optimum.ReadJSON(filepath.Join(dir, "config.json"), &m.Config, false); err != nil {
		return nil, err
	}
	if m.Config.ModelType != "whisper" {
		return nil, lecture.Errorf(lecture.EINVALID, "%s: model_type %q is not whisper", filepath.Join(dir, "config.json"), m.Config.ModelType)
	}
	g := &m.Generation
	if _, err := optimum.ReadJSON(filepath.Join(dir, "generation_config.json"), g, false); err != nil {
		return nil, err
	}
	var one int
	var list []int
	switch {
	case json.Unmarshal(g.EOS, &one) == nil:
		g.EOSTokenID = one
	case json.Unmarshal(g.EOS, &list) == nil && len(list) > 0:
		g.EOSTokenID = list[0]
	default:
		return nil, lecture.Errorf(lecture.EINVALID, "%s: eos_token_id is missing", filepath.Join(dir, "generation_config.json"))
	}
	if g.NoTimestampsTokenID <= 0 || g.DecoderStartTokenID <= 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "%s: no_timestamps_token_id or decoder_start_token_id is missing", filepath.Join(dir, "generation_config.json"))
	}
	if g.MaxLength == 0 {
		g.MaxLength = 448
	}
	m.TimestampBegin = g.NoTimestampsTokenID + 1
	c := m.Config
	if c.DecoderLayers <= 0 || c.DecoderHeads <= 0 || c.DModel%c.DecoderHeads != 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "%s: decoder_layers, decoder_attention_heads or d_model is missing", filepath.Join(dir, "config.json"))
	}
	m.Heads, m.HeadDim = c.DecoderHeads, c.DModel/c.DecoderHeads
	if c.MaxSourcePositions == 0 {
		m.Config.MaxSourcePositions = 1500
	}
	var err error
	if m.Features, err = NewFeatureExtractor(c.NumMelBins); err != nil {
		return nil, err
	}
	if m.Tokenizer, err = tokenizer.Load(dir); err != nil {
		return nil, err
	}
	encPath, decPath, err := dtypeFiles(dir, dtype)
	if err != nil {
		return nil, err
	}
	enc, err := ort.Inspect(encPath)
	if err != nil {
		return nil, err
	}
	if err := (ort.Expect{Inputs: map[string]onnxpb.DataType{"input_features": onnxpb.Float},
		Outputs: map[string]onnxpb.DataType{"last_hidden_state": onnxpb.Float}}).Check(enc); err != nil {
		return nil, err
	}
	dec, err := ort.Inspect(decPath)
	if err != nil {
		return nil, err
	}
	want := ort.Expect{
		Inputs: map[string]onnxpb.DataType{"input_ids": onnxpb.Int64, "encoder_hidden_states": onnxpb.Float,
			"use_cache_branch": onnxpb.Bool},
		Outputs: map[string]onnxpb.DataType{"logits": onnxpb.Float},
	}
	for i := range c.DecoderLayers {
		for k := range 4 {
			want.Inputs[cacheNames("past_key_values", i)[k]] = onnxpb.Float
			want.Outputs[cacheNames("present", i)[k]] = onnxpb.Float
		}
	}
	if err := want.Check(dec); err != nil {
		return nil, err
	}
	return m, nil
}

func cacheNames(prefix string, i int) [4]string {
	p := fmt.Sprintf("%s.%d.", prefix, i)
	return [4]string{p + "decoder.key", p + "decoder.value", p + "encoder.key", p + "encoder.value"}
}

// LoadModel checks a Whisper folder and builds its two sessions.
func LoadModel(dir string, o ort.Options) (*Model, error) {
	m, err := checkFolderDType(dir, o.DType)
	if err != nil {
		return nil, err
	}
	encPath, decPath, err := dtypeFiles(dir, o.DType)
	if err != nil {
		return nil, err
	}
	o.InputNames, o.OutputNames = nil, nil
	if m.Encoder, err = ort.NewSession(encPath, o); err == nil {
		m.Decoder, m.Cross, m.lightCache, err = loadDecoder(decPath, o, m.Heads, m.HeadDim)
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// keepPassThrough loads merged decoders as they are, keepMerged as
// lightDecoder's copy, not split (tests and benchmarks compare the ways).
var keepPassThrough, keepMerged = false, false

// loadDecoder builds the decoder sessions from splitDecoder's pair of
// models when they can be made, else from lightDecoder's copy of path,
// else from path itself (the copies are removed once loaded unless the
// optimised-model cache keeps them).
func loadDecoder(path string, o ort.Options, heads, headDim int) (dec, cross *ort.Session, light bool, err error) {
	if !keepPassThrough && !keepMerged {
		step, cr, keep, err := splitDecoderFiles(path, o.OptimizedCacheDir)
		if err != nil {
			slog.Warn("whisper decoder: cannot split the merged decoder", "model", path, "err", err)
		}
		if step != "" {
			lo := copyOptions(o, path, "split: with-past steps and cross-attention projection")
			lo.ScratchModel = !keep // temporary copies: int8 weights converted in them, no third copy
			dec, err := ort.NewSession(step, lo)
			if err == nil {
				if cross, err = ort.NewSession(cr, lo); err != nil {
					dec.Close()
				}
			}
			if !keep {
				os.Remove(step)
				os.Remove(cr)
			}
			if err == nil {
				if keep {
					removeLightCopy(path, o.OptimizedCacheDir, heads, headDim)
				}
				return dec, cross, false, nil
			}
			slog.Warn("whisper decoder: the split decoder does not load", "model", path, "err", err)
		}
	}
	if !keepPassThrough {
		light, keep, err := lightDecoderFile(path, o.OptimizedCacheDir, heads, headDim)
		if err != nil {
			slog.Warn("whisper decoder: cannot skip the cross-attention cache copy", "model", path, "err", err)
		}
		if light != "" {
			lo := copyOptions(o, path, "with-past branch without cross-attention cache copies")
			s, err := ort.NewSession(light, lo)
			if !keep {
				os.Remove(light)
			}
			if err == nil {
				return s, nil, true, nil
			}
			slog.Warn("whisper decoder: the copy without cross-attention cache copies does not load", "model", path, "err", err)
		}
	}
	s, err := ort.NewSession(path, o)
	return s, nil, false, err
}

// copyOptions are o for a rewritten copy of the merged decoder at path:
// its log lines name the original and the kind of copy.
func copyOptions(o ort.Options, path, copy string) ort.Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("merged_decoder", path, "copy", copy)
	return o
}

// Close frees the sessions.
func (m *Model) Close() error {
	m.encMu.Lock()
	m.releaseLocked(m.encLast)
	m.encLast = nil
	m.encMu.Unlock()
	err := errors.Join(m.Encoder.Close(), m.Decoder.Close())
	if m.Cross != nil {
		err = errors.Join(err, m.Cross.Close())
	}
	return err
}

// The merged decoder's with-past branch passes the cross-attention cache
// through: present.i.encoder.* are copies of past_key_values.i.encoder.*,
// made and handed back on every step (for whisper-tiny 18 MB a step, more
// memory traffic than the rest of the step but the output projection).
// lightDecoder writes a copy of the merged decoder whose with-past branch
// gives empty tensors ([1, heads, 0, head_dim]) for those outputs instead;
// the no-past branch is untouched, so the first step still returns the
// cross-attention cache, which the caller keeps for the later steps. The
// weights are copied byte for byte; only the If node is rewritten. It
// returns the new file's path (in dir) or "" when the model is not laid out
// as expected (no If on use_cache_branch, no pass-through outputs,
// external weights): then the original is used as it is.
func lightDecoder(path, dir string, heads, headDim int) (string, error) {
	info, err := ort.Inspect(path)
	if err != nil || len(info.External) > 0 {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	var pieces []piece // the new file
	var graph *pbField
	if err := pbWalk(f, 0, st.Size(), func(fl pbField) error {
		if fl.num == 7 && fl.wire == 2 && graph == nil {
			g := fl
			graph = &g
			return nil
		}
		pieces = append(pieces, piece{off: fl.start, n: fl.end - fl.start})
		return nil
	}); err != nil || graph == nil {
		return "", err
	}
	var gp []piece
	found := false
	if err := pbWalk(f, graph.off, graph.end, func(fl pbField) error {
		if fl.num == 1 && fl.wire == 2 && !found && fl.n < 1<<30 {
			b := make([]byte, fl.n)
			if _, err := f.ReadAt(b, fl.off); err != nil {
				return err
			}
			nb, ok := lightIf(b, heads, headDim)
			if ok {
				found = true
				var hdr []byte
				hdr = protowire.AppendTag(hdr, 1, protowire.BytesType)
				hdr = protowire.AppendVarint(hdr, uint64(len(nb)))
				gp = append(gp, piece{lit: append(hdr, nb...)})
				return nil
			}
		}
		gp = append(gp, piece{off: fl.start, n: fl.end - fl.start})
		return nil
	}); err != nil || !found {
		return "", err
	}
	var glen int64
	for _, p := range gp {
		glen += p.size()
	}
	var hdr []byte
	hdr = protowire.AppendTag(hdr, 7, protowire.BytesType)
	hdr = protowire.AppendVarint(hdr, uint64(glen))
	pieces = append(pieces, piece{lit: hdr})
	pieces = append(pieces, gp...)
	return writePieces(f, dir, "whisper-decoder-*.onnx", pieces)
}

// writePieces writes pieces (literals and byte ranges of f) to a new file
// in dir named by pattern and returns its path; nothing is left on failure.
func writePieces(f io.ReaderAt, dir, pattern string, pieces []piece) (string, error) {
	out, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(out, 1<<20)
	for _, p := range pieces {
		if p.lit != nil {
			_, err = w.Write(p.lit)
		} else {
			_, err = io.Copy(w, io.NewSectionReader(f, p.off, p.n))
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}

// lightName is where lightDecoderFile keeps path's copy in cacheDir.
func lightName(abs string, st os.FileInfo, cacheDir string, heads, headDim int) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d.%d", abs, st.Size(), st.ModTime().UnixNano(), heads, headDim)
	return filepath.Join(cacheDir, fmt.Sprintf("whisper-decoder-light-%016x.onnx", h.Sum64()))
}

// removeLightCopy removes the lightened copy of path that an earlier
// release kept in cacheDir, with ONNX Runtime's cached forms of it, once
// the split decoder has replaced it (a whole decoder's size on disk).
func removeLightCopy(path, cacheDir string, heads, headDim int) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return
	}
	st, err := os.Stat(abs)
	if err != nil {
		return
	}
	name := lightName(abs, st, cacheDir, heads, headDim)
	stale, _ := filepath.Glob(strings.TrimSuffix(name, ".onnx") + "*")
	for _, p := range stale {
		os.Remove(p)
	}
}

// lightDecoderFile is lightDecoder's copy of path: a temporary file (keep
// false: remove it once loaded), or, with an optimised-model cache folder,
// a file kept there under a name fixed by path, size and modification
// time, so that ONNX Runtime's cached copy of it stays valid across loads.
func lightDecoderFile(path, cacheDir string, heads, headDim int) (string, bool, error) {
	if cacheDir == "" {
		p, err := lightDecoder(path, "", heads, headDim)
		return p, false, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", false, err
	}
	name := lightName(abs, st, cacheDir, heads, headDim)
	if _, err := os.Stat(name); err == nil {
		return name, true, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", false, err
	}
	p, err := lightDecoder(path, cacheDir, heads, headDim)
	if err != nil || p == "" {
		return "", false, err
	}
	if err := os.Rename(p, name); err != nil {
		os.Remove(p)
		return "", false, err
	}
	return name, true, nil
}

// piece is a literal or a byte range of the original file.
type piece struct {
	lit    []byte
	off, n int64
}

func (p piece) size() int64 {
	if p.lit != nil {
		return int64(len(p.lit))
	}
	return p.n
}

// pbField is one protobuf field in a file: its bytes are [start, end), a
// length-delimited value's are [off, off+n).
type pbField struct {
	num, wire       int
	start, off, end int64
	n               int64
}

// pbWalk calls fn for each field of the message in [off, end) of r.
func pbWalk(r io.ReaderAt, off, end int64, fn func(pbField) error) error {
	var hdr [20]byte
	for off < end {
		k, err := r.ReadAt(hdr[:min(int64(len(hdr)), end-off)], off)
		if k == 0 {
			return fmt.Errorf("protobuf: %w", err)
		}
		b := hdr[:k]
		num, typ, tn := protowire.ConsumeTag(b)
		if tn < 0 {
			return protowire.ParseError(tn)
		}
		fl := pbField{num: int(num), wire: int(typ), start: off}
		var vn int
		if typ == protowire.BytesType {
			l, ln := protowire.ConsumeVarint(b[tn:])
			if ln < 0 {
				return protowire.ParseError(ln)
			}
			fl.off, fl.n = off+int64(tn+ln), int64(l)
			fl.end = fl.off + fl.n
		} else {
			if vn = protowire.ConsumeFieldValue(num, typ, b[tn:]); vn < 0 {
				return protowire.ParseError(vn)
			}
			fl.off, fl.end = off+int64(tn), off+int64(tn+vn)
		}
		if fl.end > end {
			return errors.New("protobuf: field runs past its message")
		}
		if err := fn(fl); err != nil {
			return err
		}
		off = fl.end
	}
	return nil
}

// splitPB splits an in-memory message into its fields; false when it is
// not valid protobuf.
func splitPB(b []byte) ([]onnxpb.Field, bool) {
	fs, err := onnxpb.Fields(b)
	return fs, err == nil
}

// lightIf rewrites an If node on use_cache_branch (NodeProto bytes) so
// that its then_branch gives empty tensors for the outputs named
// present.N.encoder.key/value; false when node is not such an If.
func lightIf(node []byte, heads, headDim int) ([]byte, bool) {
	fields, ok := splitPB(node)
	if !ok {
		return nil, false
	}
	var opType string
	var inputs, outputs []string
	then := -1
	for i, f := range fields {
		if s, ok := f.Str(4); ok {
			opType = s
		}
		if s, ok := f.Str(1); ok {
			inputs = append(inputs, s)
		}
		if s, ok := f.Str(2); ok {
			outputs = append(outputs, s)
		}
		if f.Bytes(5) {
			af, ok := splitPB(f.Payload)
			if !ok {
				return nil, false
			}
			for _, a := range af {
				if s, ok := a.Str(1); ok && s == "then_branch" {
					then = i
				}
			}
		}
	}
	if opType != "If" || len(inputs) != 1 || inputs[0] != "use_cache_branch" || then < 0 {
		return nil, false
	}
	empty := map[int]bool{} // output positions to replace
	for i, n := range outputs {
		if isEncoderPresent(n) {
			empty[i] = true
		}
	}
	if len(empty) == 0 {
		return nil, false
	}
	attr, _ := splitPB(fields[then].Payload)
	var na []byte
	done := false
	for _, a := range attr {
		if a.Bytes(6) && !done {
			g, ok := lightBranch(a.Payload, empty, len(outputs), heads, headDim)
			if !ok {
				return nil, false
			}
			na = protowire.AppendTag(na, 6, protowire.BytesType)
			na = protowire.AppendBytes(na, g)
			done = true
			continue
		}
		na = append(na, a.Raw...)
	}
	if !done {
		return nil, false
	}
	var out []byte
	for i, f := range fields {
		if i == then {
			out = protowire.AppendTag(out, 5, protowire.BytesType)
			out = protowire.AppendBytes(out, na)
			continue
		}
		out = append(out, f.Raw...)
	}
	return out, true
}

// isEncoderPresent matches present.N.encoder.key and present.N.encoder.Payload.
func isEncoderPresent(name string) bool {
	rest, ok := strings.CutPrefix(name, "present.")
	if !ok {
		return false
	}
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return false
	}
	if _, err := strconv.Atoi(rest[:i]); err != nil {
		return false
	}
	return rest[i:] == ".encoder.key" || rest[i:] == ".encoder.value"
}

// lightBranch rewrites a GraphProto: the outputs at positions in empty
// become Constant empty float tensors, and the Identity nodes that made
// them (when nothing else reads them) are dropped.
func lightBranch(g []byte, empty map[int]bool, nOut, heads, headDim int) ([]byte, bool) {
	fields, ok := splitPB(g)
	if !ok {
		return nil, false
	}
	// the outputs, in order, and every name a node reads
	old := map[string]string{} // replaced output name → its new name
	k := 0
	read := map[string]int{}
	type nodeInfo struct {
		op       string
		in, out  []string
		subgraph bool
	}
	nodes := map[int]nodeInfo{}
	for i, f := range fields {
		switch {
		case f.Bytes(12):
			vf, ok := splitPB(f.Payload)
			if !ok {
				return nil, false
			}
			for _, v := range vf {
				if s, ok := v.Str(1); ok && empty[k] {
					old[s] = fmt.Sprintf("transcept/empty_cache_%d", k)
				}
			}
			k++
		case f.Bytes(1):
			nf, ok := splitPB(f.Payload)
			if !ok {
				return nil, false
			}
			var n nodeInfo
			for _, x := range nf {
				if s, ok := x.Str(4); ok {
					n.op = s
				}
				if s, ok := x.Str(1); ok {
					n.in = append(n.in, s)
					read[s]++
				}
				if s, ok := x.Str(2); ok {
					n.out = append(n.out, s)
				}
				if x.Num == 5 {
					n.subgraph = true // attributes: subgraphs may read anything
					if af, ok := splitPB(x.Payload); ok {
						n.subgraph = false
						for _, a := range af {
							if a.Bytes(6) || a.Bytes(11) {
								n.subgraph = true
							}
						}
					}
				}
			}
			nodes[i] = n
		}
	}
	if k != nOut || len(old) != len(empty) {
		return nil, false
	}
	anySub := false
	for _, n := range nodes {
		anySub = anySub || n.subgraph
	}
	var out []byte
	k = 0
	for i, f := range fields {
		if n, ok := nodes[i]; ok && !anySub && n.op == "Identity" && len(n.out) == 1 && old[n.out[0]] != "" && read[n.out[0]] == 0 {
			continue // the pass-through copy
		}
		if f.Bytes(12) {
			vf, _ := splitPB(f.Payload)
			var name string
			for _, v := range vf {
				if s, ok := v.Str(1); ok {
					name = s
				}
			}
			if nn := old[name]; nn != "" {
				// ValueInfo{name, type: tensor_type{elem_type: FLOAT}}
				var tt, typ, vi []byte
				tt = protowire.AppendTag(tt, 1, protowire.VarintType)
				tt = protowire.AppendVarint(tt, 1)
				typ = protowire.AppendTag(typ, 1, protowire.BytesType)
				typ = protowire.AppendBytes(typ, tt)
				vi = protowire.AppendTag(vi, 1, protowire.BytesType)
				vi = protowire.AppendString(vi, nn)
				vi = protowire.AppendTag(vi, 2, protowire.BytesType)
				vi = protowire.AppendBytes(vi, typ)
				out = protowire.AppendTag(out, 12, protowire.BytesType)
				out = protowire.AppendBytes(out, vi)
				continue
			}
		}
		out = append(out, f.Raw...)
	}
	names := make([]string, 0, len(old))
	for _, nn := range old {
		names = append(names, nn)
	}
	slices.Sort(names)
	for _, nn := range names {
		// TensorProto{dims: [1, heads, 0, headDim], data_type: FLOAT}
		var t, a, n []byte
		for _, d := range []int{1, heads, 0, headDim} {
			t = protowire.AppendTag(t, 1, protowire.VarintType)
			t = protowire.AppendVarint(t, uint64(d))
		}
		t = protowire.AppendTag(t, 2, protowire.VarintType)
		t = protowire.AppendVarint(t, 1)
		a = protowire.AppendTag(a, 1, protowire.BytesType)
		a = protowire.AppendString(a, "value")
		a = protowire.AppendTag(a, 20, protowire.VarintType)
		a = protowire.AppendVarint(a, 4) // AttributeProto.TENSOR
		a = protowire.AppendTag(a, 5, protowire.BytesType)
		a = protowire.AppendBytes(a, t)
		n = protowire.AppendTag(n, 2, protowire.BytesType)
		n = protowire.AppendString(n, nn)
		n = protowire.AppendTag(n, 3, protowire.BytesType)
		n = protowire.AppendString(n, nn)
		n = protowire.AppendTag(n, 4, protowire.BytesType)
		n = protowire.AppendString(n, "Constant")
		n = protowire.AppendTag(n, 5, protowire.BytesType)
		n = protowire.AppendBytes(n, a)
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, n)
	}
	return out, true
}

// dtypeFiles are the encoder and merged decoder files of dtype ("" is
// fp32); a quantised dtype whose files are missing is an error naming them.
func dtypeFiles(dir, dtype string) (enc, dec string, err error) {
	if enc, err = optimum.DTypeFile(filepath.Join(dir, "onnx", "encoder_model.onnx"), dtype); err != nil {
		return "", "", err
	}
	if dec, err = optimum.DTypeFile(filepath.Join(dir, "onnx", "decoder_model_merged.onnx"), dtype); err != nil {
		return "", "", err
	}
	if err := optimum.CheckDTypeFiles(dir, dtype, enc, dec); err != nil {
		return "", "", err
	}
	return enc, dec, nil
}
