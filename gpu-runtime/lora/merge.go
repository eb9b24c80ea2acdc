package lora

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/shared/lecture"
)

// MergeRecord is the file a merge leaves in the folder it writes
// (MergeRecordFile), so that the folder's identity (summary cache keys)
// differs from the base model's although every file keeps its size.
const MergeRecordFile = "lora_merge.json"

// Merged says what MergePEFT did.
type Merged struct {
	// Files maps each .onnx file written (relative to the folder) to the
	// modules merged into it.
	Files map[string][]string
	// Skipped are .onnx variants left out of the new folder (quantised or
	// float16 copies whose weights cannot take the adapter).
	Skipped []string
}

// variantSuffixes mark the quantised and half-precision copies an export
// may hold beside the float32 files (transformers.js's naming).
var variantSuffixes = []string{"_quantized.onnx", "_fp16.onnx", "_int8.onnx", "_uint8.onnx", "_q4.onnx", "_q4f16.onnx", "_bnb4.onnx"}

// MergePEFT writes out, a copy of the ONNX model folder modelDir (an
// Optimum export without LoRA inputs) whose linear weights have the PEFT
// adapter merged in: W + scale·B·A for every adapted module. Each .onnx
// file's float32 initializers are changed in place (same sizes, every
// other byte kept); other files are copied; quantised or float16 variants
// are left out (Merged.Skipped). A module's weight is found as the
// initializer "<module>.weight", or as the weight input of the MatMul or
// Gemm node that torch's exporter names "/<module path>/MatMul" (the path
// may be relative to the exported part: "/layers.0/…" in an Optimum
// encoder_model.onnx); its
// layout ([in, out] for MatMul, [out, in] behind a Transpose or for Gemm
// with transB) comes from the node that reads it.
//
// Every module must be found in some file, with the adapter's shape:
// otherwise the error (lecture.EINVALID) names the adapter, the folder and
// the modules (an adapter for another model). out must not exist yet.
func MergePEFT(p *PEFT, modelDir, out string) (*Merged, error) {
	if _, err := os.Stat(out); err == nil {
		return nil, lecture.Errorf(lecture.EINVALID, "merged model folder %s already exists", out)
	}
	if st, err := os.Stat(modelDir); err != nil || !st.IsDir() {
		return nil, lecture.Errorf(lecture.ENOTFOUND, "model folder %s does not exist", modelDir)
	}
	modules := map[string]*PEFTModule{}
	for i := range p.Modules {
		modules[p.Modules[i].Name] = &p.Modules[i]
	}
	res := &Merged{Files: map[string][]string{}}
	found := map[string]bool{}
	var probs []string
	// Files are written into a temporary sibling as they are merged (one
	// model file in memory at a time), renamed into place once complete.
	tmp := out + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "merged model folder %s", out)
	}
	defer os.RemoveAll(tmp)
	writeErr := func(err error) error {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "writing merged model folder %s", out)
	}
	err := filepath.WalkDir(modelDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(modelDir, path)
		dst := filepath.Join(tmp, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return writeErr(err)
		}
		if !strings.HasSuffix(path, ".onnx") {
			if err := copyFile(path, dst); err != nil {
				return writeErr(err)
			}
			return nil
		}
		if slices.ContainsFunc(variantSuffixes, func(s string) bool { return strings.HasSuffix(path, s) }) {
			res.Skipped = append(res.Skipped, rel)
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return lecture.Wrap(lecture.EINVALID, err, "model file %s cannot be read", path)
		}
		done, fprobs, err := mergeInto(b, modules, fileRole(path))
		if err != nil {
			return lecture.Wrap(lecture.EINVALID, err, "model file %s is corrupt or not ONNX", path)
		}
		for _, pr := range fprobs {
			probs = append(probs, path+": "+pr)
		}
		for _, m := range done {
			found[m] = true
		}
		if len(done) > 0 {
			res.Files[rel] = done
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return writeErr(err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, m := range p.Modules {
		if !found[m.Name] {
			missing = append(missing, m.Name)
		}
	}
	if len(missing) > 0 {
		probs = append(probs, "no model file has a float32 linear weight for "+strings.Join(capped(missing, 4), ", "))
	}
	if len(probs) > 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "PEFT adapter %s does not fit model folder %s (an adapter for another model?): %s",
			p.Dir, modelDir, strings.Join(probs, "; "))
	}
	record, err := p.record(modelDir, res)
	if err != nil {
		return nil, writeErr(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, MergeRecordFile), record, 0o644); err != nil {
		return nil, writeErr(err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, writeErr(err)
	}
	return res, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.Create(dst)
	if err != nil {
		return err
	}
	_, err = io.Copy(o, in)
	if cerr := o.Close(); err == nil {
		err = cerr
	}
	return err
}

// record is the merge record: the adapter's weights hash, its scale per
// module count, the base folder.
func (p *PEFT) record(modelDir string, res *Merged) ([]byte, error) {
	h := sha256.New()
	for _, name := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(p.Dir, name))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	files := slices.Sorted(func(yield func(string) bool) {
		for f := range res.Files {
			if !yield(f) {
				return
			}
		}
	})
	var sb strings.Builder
	fmt.Fprintf(&sb, "{\n  \"adapter\": %q,\n  \"adapter_sha256\": %q,\n  \"base_model\": %q,\n  \"modules\": %d,\n  \"files\": [",
		filepath.Base(filepath.Clean(p.Dir)), hex.EncodeToString(h.Sum(nil)), filepath.Base(filepath.Clean(modelDir)), len(p.Modules))
	for i, f := range files {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%q", filepath.ToSlash(f))
	}
	sb.WriteString("]\n}\n")
	return []byte(sb.String()), nil
}

// onnxGraph is one graph of a model (the main graph or a subgraph of an If
// or Loop), with the initializers it holds and its nodes.
type onnxGraph struct {
	parent *onnxGraph
	inits  map[string]*onnxInit
	nodes  []onnxNode
}

// onnxInit is an initializer; data is its element bytes inside the model's
// buffer (raw_data or packed float_data), so writing to it patches the
// model.
type onnxInit struct {
	name     string
	dims     []int64
	dtype    uint64
	data     []byte
	external bool
}

type onnxNode struct {
	name, op string
	inputs   []string
	outputs  []string
	transB   int64
	perm     []int64
	graph    *onnxGraph
}

func (g *onnxGraph) lookup(name string) *onnxInit {
	for ; g != nil; g = g.parent {
		if t, ok := g.inits[name]; ok {
			return t
		}
	}
	return nil
}

// parseONNX reads a ModelProto's graphs (no copy: every slice points into b).
func parseONNX(b []byte) ([]*onnxGraph, error) {
	var graphs []*onnxGraph
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num == 7 && typ == protowire.BytesType { // ModelProto.graph
			return parseGraph(v, nil, &graphs)
		}
		return nil
	})
	if err == nil && len(graphs) == 0 {
		err = errors.New("no graph")
	}
	return graphs, err
}

// walk calls fn for every field of a message; v is the payload of a
// length-delimited field, x the value of a varint.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	fields, err := onnxpb.Fields(b)
	if err != nil {
		return err
	}
	for _, f := range fields {
		if err := fn(protowire.Number(f.Num), protowire.Type(f.Wire), f.Payload, f.Varint()); err != nil {
			return err
		}
	}
	return nil
}

func parseGraph(b []byte, parent *onnxGraph, all *[]*onnxGraph) error {
	g := &onnxGraph{parent: parent, inits: map[string]*onnxInit{}}
	*all = append(*all, g)
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1: // node
			n, err := parseNode(v, g, all)
			if err != nil {
				return err
			}
			g.nodes = append(g.nodes, n)
		case 5: // initializer
			t, err := parseTensor(v)
			if err != nil {
				return err
			}
			g.inits[t.name] = t
		}
		return nil
	})
}

func parseNode(b []byte, g *onnxGraph, all *[]*onnxGraph) (onnxNode, error) {
	n := onnxNode{graph: g, transB: 0}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case 1:
			n.inputs = append(n.inputs, string(v))
		case 2:
			n.outputs = append(n.outputs, string(v))
		case 3:
			n.name = string(v)
		case 4:
			n.op = string(v)
		case 5: // attribute
			return parseAttr(v, &n, g, all)
		}
		return nil
	})
	return n, err
}

func parseAttr(b []byte, n *onnxNode, g *onnxGraph, all *[]*onnxGraph) error {
	var name string
	var i int64
	var ints []int64
	var subgraphs [][]byte
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1:
			name = string(v)
		case num == 3 && typ == protowire.VarintType:
			i = int64(x)
		case num == 8 && typ == protowire.VarintType:
			ints = append(ints, int64(x))
		case num == 8 && typ == protowire.BytesType:
			for len(v) > 0 {
				x, k := protowire.ConsumeVarint(v)
				if k < 0 {
					return protowire.ParseError(k)
				}
				ints = append(ints, int64(x))
				v = v[k:]
			}
		case (num == 6 || num == 11) && typ == protowire.BytesType: // g, graphs
			subgraphs = append(subgraphs, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch name {
	case "transB":
		n.transB = i
	case "perm":
		n.perm = ints
	}
	for _, sg := range subgraphs {
		if err := parseGraph(sg, g, all); err != nil {
			return err
		}
	}
	return nil
}

func parseTensor(b []byte) (*onnxInit, error) {
	t := &onnxInit{}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			t.dims = append(t.dims, int64(x))
		case num == 1 && typ == protowire.BytesType:
			for len(v) > 0 {
				d, k := protowire.ConsumeVarint(v)
				if k < 0 {
					return protowire.ParseError(k)
				}
				t.dims = append(t.dims, int64(d))
				v = v[k:]
			}
		case num == 2:
			t.dtype = x
		case num == 8:
			t.name = string(v)
		case (num == 9 || num == 4) && typ == protowire.BytesType: // raw_data, packed float_data
			t.data = v
		case num == 14:
			t.external = x == 1
		}
		return nil
	})
	return t, err
}

// weightUse is where a module's weight sits in one model file.
type weightUse struct {
	init     *onnxInit
	outFirst bool // stored [out, in] (torch layout) rather than [in, out]
}

// mergeInto finds the adapted modules' weights in one model's bytes and
// adds the adapter to them in place. It returns the modules merged and the
// problems met (a weight of another shape or type).
//
// role is "encoder" or "decoder" for files that hold one part of an
// encoder-decoder model (fileRole): Optimum exports the encoder from the
// encoder module itself, so its names are relative to it
// ("/layers.0/self_attn/q_proj/MatMul" for model.encoder.layers.0…).
func mergeInto(b []byte, modules map[string]*PEFTModule, role string) (done, probs []string, err error) {
	graphs, err := parseONNX(b)
	if err != nil {
		return nil, nil, err
	}
	// every dotted suffix of two or more parts of each module's path
	suffixes := map[string][]string{}
	for m := range modules {
		parts := strings.Split(m, ".")
		for i := 1; i+1 < len(parts); i++ {
			k := strings.Join(parts[i:], ".")
			suffixes[k] = append(suffixes[k], m)
		}
	}
	uses := map[string]weightUse{}
	for _, g := range graphs {
		producers := map[string]onnxNode{}
		for _, n := range g.nodes {
			for _, o := range n.outputs {
				producers[o] = n
			}
		}
		for _, n := range g.nodes {
			if (n.op != "MatMul" && n.op != "Gemm") || len(n.inputs) < 2 {
				continue
			}
			w := n.inputs[1]
			outFirst := n.op == "Gemm" && n.transB != 0
			init := g.lookup(w)
			if init == nil {
				// a weight transposed by its own node ([out, in] stored)
				tp, ok := producers[w]
				if !ok || tp.op != "Transpose" || len(tp.inputs) != 1 || (len(tp.perm) > 0 && !slices.Equal(tp.perm, []int64{1, 0})) {
					continue
				}
				if init = g.lookup(tp.inputs[0]); init == nil {
					continue
				}
				outFirst = !outFirst
			}
			module, amb := moduleOf(n.name, init.name, modules, suffixes, role)
			if len(amb) > 0 {
				probs = append(probs, fmt.Sprintf("node %q could be any of %s", n.name, strings.Join(amb, ", ")))
				continue
			}
			if module == "" {
				continue
			}
			if prev, ok := uses[module]; ok && prev.init != init {
				probs = append(probs, fmt.Sprintf("module %s has two weights, %q and %q", module, prev.init.name, init.name))
				continue
			}
			uses[module] = weightUse{init: init, outFirst: outFirst}
		}
	}
	patched := map[*onnxInit]string{}
	for _, module := range slices.Sorted(func(yield func(string) bool) {
		for m := range uses {
			if !yield(m) {
				return
			}
		}
	}) {
		u, m := uses[module], modules[module]
		if other, ok := patched[u.init]; ok {
			probs = append(probs, fmt.Sprintf("weight %q serves both %s and %s", u.init.name, other, module))
			continue
		}
		want := []int64{int64(m.In), int64(m.Out)}
		if u.outFirst {
			want = []int64{int64(m.Out), int64(m.In)}
		}
		switch {
		case u.init.external:
			probs = append(probs, fmt.Sprintf("weight %q of %s is in an external data file (not merged yet)", u.init.name, module))
			continue
		case u.init.dtype != 1:
			probs = append(probs, fmt.Sprintf("weight %q of %s is not float32 (ONNX type %d)", u.init.name, module, u.init.dtype))
			continue
		case !slices.Equal(u.init.dims, want) || len(u.init.data) != 4*m.In*m.Out:
			probs = append(probs, fmt.Sprintf("weight %q of %s is %v, the adapter's is %v", u.init.name, module, u.init.dims, want))
			continue
		}
		addDelta(u.init.data, m, u.outFirst)
		patched[u.init] = module
		done = append(done, module)
	}
	return done, probs, nil
}

// fileRole is "encoder" or "decoder" from an Optimum file name
// (encoder_model.onnx, decoder_model_merged.onnx, …), else "".
func fileRole(path string) string {
	base := filepath.Base(path)
	for _, r := range []string{"encoder", "decoder"} {
		if strings.HasPrefix(base, r+"_") {
			return r
		}
	}
	return ""
}

// moduleOf names the adapted module a MatMul/Gemm node computes: by its
// weight's name ("<path>.weight") or by the node's name as torch's exporter
// writes it ("/model/encoder/layers.0/self_attn/q_proj/MatMul"). A path is
// the module's or the end of it (names relative to an exported submodule);
// an end that several modules share is settled by the file's role
// ("encoder": model.encoder.…), else it is ambiguous (returned).
func moduleOf(node, weight string, modules map[string]*PEFTModule, suffixes map[string][]string, role string) (string, []string) {
	var paths []string
	if m, ok := strings.CutSuffix(weight, ".weight"); ok {
		paths = append(paths, m)
	}
	if i := strings.LastIndex(node, "/"); i > 0 {
		paths = append(paths, strings.ReplaceAll(strings.TrimPrefix(node[:i], "/"), "/", "."))
	}
	for _, path := range paths {
		if modules[path] != nil {
			return path, nil
		}
		cands := suffixes[path]
		if len(cands) > 1 && role != "" {
			var keep []string
			for _, c := range cands {
				if strings.Contains("."+strings.TrimSuffix(c, path), "."+role+".") {
					keep = append(keep, c)
				}
			}
			cands = keep
		}
		switch {
		case len(cands) == 1:
			return cands[0], nil
		case len(cands) > 1:
			slices.Sort(cands)
			return "", cands
		}
	}
	return "", nil
}

// addDelta adds Scale·B·A ([out, in]) to the little-endian float32 weight
// w, stored [in, out] or (outFirst) [out, in].
func addDelta(w []byte, m *PEFTModule, outFirst bool) {
	row := make([]float64, m.In)
	for o := range m.Out {
		// row[i] = Scale · Σ_k B[o,k]·A[k,i]
		clear(row)
		for k := range m.Rank {
			bk := float64(m.B[o*m.Rank+k])
			a := m.A[k*m.In : (k+1)*m.In]
			for i, av := range a {
				row[i] += bk * float64(av)
			}
		}
		for i := range m.In {
			at := 4 * (i*m.Out + o)
			if outFirst {
				at = 4 * (o*m.In + i)
			}
			v := float64(math.Float32frombits(binary.LittleEndian.Uint32(w[at:])))
			binary.LittleEndian.PutUint32(w[at:], math.Float32bits(float32(v+m.Scale*row[i])))
		}
	}
}
