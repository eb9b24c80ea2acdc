package quantize

// fp16: half-precision copies of float32 models, the layout of the hub's
// onnx/*_fp16.onnx files made with keep_io_types (onnxconverter-common's
// float16 converter, which transformers.js's conversion scripts use):
//
//   - every float32 initializer, Constant value and ConstantOfShape value
//     becomes float16: values past fp16's largest finite (±65504) are
//     clamped to it (the additive masks' float32 minimum becomes −65504),
//     non-zero values smaller than its smallest subnormal (2⁻²⁴ ≈ 5.96e-8)
//     become ±2⁻²⁴ rather than 0, so signs and zeros stay as they were;
//     infinities and NaN stay; the counts are reported;
//   - Cast(to=float) becomes Cast(to=float16), float value types in
//     value_info and in subgraphs (If branches) become float16;
//   - the main graph's float32 inputs and outputs keep float32: a Cast
//     after each input and before each output, so callers feed and read
//     float32 (past key/values, encoder states, logits, features); outputs
//     an If makes (the merged decoders') are cast in its branches instead,
//     so the If keeps its output names and types, and a branch passing a
//     graph input through (the cross-attention cache) hands on the float32
//     input itself, uncast (Whisper's light decoder relies on both);
//   - float32 islands: ops that lose too much in float16 (see fp16Islands)
//     run in float32 between Casts; an initializer only islands read stays
//     float32, and a value already available in float32 (an island's
//     output, a graph input) is not cast twice. Elementwise ops whose float
//     inputs are all islands' outputs or constants join the island, so
//     RMSNorm's x², mean, +ε, √ and 1/√ stay float32 together.
//
// Everything else in the model (shapes, integer constants, node order,
// metadata) is kept as it was.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/optimum"
)

// fp16Islands are the ops kept in float32 (their float inputs cast up,
// their float outputs cast back down). Softmax, LayerNormalization and the
// reductions sum many terms (probabilities, squares): ONNX Runtime's
// kernels accumulate in float32 on GPUs, but their inputs and outputs in
// float16 still lose the small probabilities and, for mean(x²), overflow
// past 65504 once |x| > 256 (a real model's residual stream gets there);
// Pow and a Mul of a value by itself are the squares feeding such a
// reduction. Range, CumSum, TopK, Min and Max are on onnxconverter-common's
// default block list (ONNX Runtime has float32 kernels only).
var fp16Islands = map[string]bool{
	"Softmax": true, "LogSoftmax": true, "LayerNormalization": true,
	"ReduceMean": true, "ReduceSum": true, "ReduceSumSquare": true, "ReduceL2": true, "ReduceLogSumExp": true, "ReduceProd": true,
	"Pow":   true,
	"Range": true, "CumSum": true, "TopK": true, "Min": true, "Max": true,
}

// fp16Joins are the elementwise ops that run in float32 when all their
// float inputs are already float32 there (islands' outputs, constants).
var fp16Joins = map[string]bool{
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Sqrt": true, "Reciprocal": true, "Neg": true, "Abs": true,
}

// fp16FloatInputs are inputs that stay float32 whatever the op's type
// (onnxconverter-common's ALWAYS_FLOAT_INPUTS).
var fp16FloatInputs = map[string][]int{"Resize": {2}}

// FP16Stats is what ConvertFP16File did to one model file.
type FP16Stats struct {
	In          string `json:"in"`
	Out         string `json:"out"`
	BytesBefore int64  `json:"bytes_before"`
	BytesAfter  int64  `json:"bytes_after"`
	// Initializers converted to float16, and those kept float32 because
	// only islands read them.
	Converted int `json:"initializers_fp16"`
	KeptFP32  int `json:"initializers_fp32"`
	Constants int `json:"constants_fp16"` // Constant / ConstantOfShape values
	// Values: how many float32 numbers were converted; Clamped past
	// ±65504 (to ±65504); Tiny non-zero below 2⁻²⁴ (raised to ±2⁻²⁴).
	Values  int64 `json:"values"`
	Clamped int64 `json:"clamped"`
	Tiny    int64 `json:"tiny"`
	// Islands counts the float32 nodes by op; Casts the Cast nodes added
	// (graph inputs and outputs, islands).
	Islands map[string]int `json:"islands"`
	Casts   int            `json:"casts"`
	// IO are the graph inputs and outputs kept float32 behind Casts.
	IO []string `json:"io_fp32"`
}

// FP16Record is the fp16 entry of a folder's quantize.json.
type FP16Record struct {
	DType       string       `json:"dtype"`
	Made        string       `json:"made"`
	Islands     []string     `json:"island_ops"`
	Clamp       string       `json:"clamp"`
	BytesBefore int64        `json:"bytes_before"`
	BytesAfter  int64        `json:"bytes_after"`
	Files       []*FP16Stats `json:"files"`
}

// Summary lines for an fp16 record: per file, sizes and counts.
func (r *FP16Record) Summary() []string {
	var out []string
	for _, f := range r.Files {
		n := 0
		for _, c := range f.Islands {
			n += c
		}
		out = append(out, fmt.Sprintf("%s -> %s: %d initializers fp16 (%d kept fp32), %d float32 island nodes, %d casts, %d values clamped to ±65504, %d tiny raised to ±2^-24, %.1f MB -> %.1f MB (%.0f%%)",
			f.In, f.Out, f.Converted, f.KeptFP32, n, f.Casts, f.Clamped, f.Tiny, float64(f.BytesBefore)/1e6, float64(f.BytesAfter)/1e6, 100*float64(f.BytesAfter)/float64(f.BytesBefore)))
	}
	sort.Strings(out)
	return out
}

// FolderFP16 converts every float32 model file in dir/onnx into
// out/onnx/*_fp16.onnx (the hub's names), copies the folder's other files
// when out is not dir, and adds the run to out/quantize.json under "fp16".
func FolderFP16(dir, out string) (*FP16Record, error) {
	if out == "" {
		out = dir
	}
	models, err := prepareOut(dir, out)
	if err != nil {
		return nil, err
	}
	rec := &FP16Record{DType: "fp16", Made: time.Now().UTC().Format(time.RFC3339),
		Clamp: "finite values past ±65504 to ±65504; non-zero values below 2^-24 to ±2^-24; inf, NaN and 0 kept"}
	for op := range fp16Islands {
		rec.Islands = append(rec.Islands, op)
	}
	sort.Strings(rec.Islands)
	for _, m := range models {
		name, err := optimum.DTypeFile(filepath.Base(m), "fp16")
		if err != nil {
			return nil, err
		}
		r, err := ConvertFP16File(m, filepath.Join(out, "onnx", name))
		if err != nil {
			return nil, err
		}
		r.In, r.Out = filepath.Join("onnx", filepath.Base(m)), filepath.Join("onnx", name)
		rec.Files = append(rec.Files, r)
		rec.BytesBefore += r.BytesBefore
		rec.BytesAfter += r.BytesAfter
	}
	return rec, writeRawRecord(filepath.Join(out, "quantize.json"), "fp16", rec)
}

// writeRawRecord sets one dtype's entry of quantize.json, keeping the
// others as they are.
func writeRawRecord(path, dtype string, v any) error {
	all := map[string]json.RawMessage{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &all)
	}
	b, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		return err
	}
	all[dtype] = b
	b, err = json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ConvertFP16File writes a float16 copy of the model at in to out (weights
// inline; external data of the input is read).
//
// When half the input (model and data files) is past FP16InlineLimit, the
// float16 weights go to out's external data file (out + "_data", as
// model_fp16.onnx_data), so models past protobuf's 2 GB limit in float16
// (a 1.5B-parameter LM and up) convert too; below it everything is
// inline, the input's external data included.
func ConvertFP16File(in, out string) (*FP16Stats, error) {
	model, err := os.ReadFile(in)
	if err != nil {
		return nil, err
	}
	st := &FP16Stats{In: in, Out: out, Islands: map[string]int{}}
	st.BytesBefore = fileBytes(in, model)
	c := &h16Conv{path: in, st: st}
	data := out + "_data"
	if st.BytesBefore/2 > FP16InlineLimit {
		if c.ext, err = onnxpb.CreateExternal(data); err != nil {
			return nil, err
		}
		defer c.ext.Close()
	}
	b, err := c.convert(model)
	if err == nil && len(b) >= 2<<30 {
		err = fmt.Errorf("the result is %d bytes, past protobuf's 2 GB limit", len(b))
	}
	if c.ext != nil {
		if cerr := c.ext.Close(); err == nil {
			err = cerr
		}
	} else {
		os.Remove(data) // a stale one from an earlier run
	}
	if err != nil {
		return nil, fmt.Errorf("fp16 %s: %w", in, err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return nil, err
	}
	st.BytesAfter = fileBytes(out, b)
	return st, nil
}

// FP16InlineLimit is the float16 size past which ConvertFP16File writes
// the weights to an external data file.
var FP16InlineLimit int64 = 3 << 29 // 1.5 GiB

// ConvertFP16 converts a model's bytes (path: where its external data
// lies).
func ConvertFP16(path string, model []byte) ([]byte, *FP16Stats, error) {
	st := &FP16Stats{In: path, Islands: map[string]int{}}
	b, err := (&h16Conv{path: path, st: st}).convert(model)
	return b, st, err
}

// Field numbers not exported by onnxpb.
const (
	fGraphInput     = 11
	fGraphOutput    = 12
	fGraphValueInfo = 13
	fVIType         = 2
	fTypeTensor     = 1
	fTTElem         = 1
	fAttrF          = 2
	fAttrI          = 3
	fAttrT          = 5
	fAttrFloats     = 7
	fAttrGraphs     = 11
	fAttrType       = 20
	fTensorSegment  = 3
	fTensorDocStr   = 12
)

type h16Attr struct {
	name string
	typ  int64
	i    int64
	t    []byte      // tensor payload
	g    []*h16Graph // subgraphs (g or graphs)
	raw  []byte      // the whole AttributeProto payload
}

type h16Node struct {
	name, op, domain string
	inputs, outputs  []string
	attrs            []*h16Attr
	other            [][]byte // raw fields kept as they are
	island           bool
}

type h16Init struct {
	name  string
	dt    onnxpb.DataType
	raw   []byte // the TensorProto payload
	fp16  int    // float inputs of non-island nodes naming it
	fp32  int    // float inputs of islands naming it
	keep  bool   // stays float32
	isF32 bool
}

type h16VI struct {
	name string
	elem onnxpb.DataType
	raw  []byte // the ValueInfoProto payload
}

type h16Graph struct {
	nodes   []*h16Node
	inits   []*h16Init
	inputs  []h16VI
	outputs []h16VI
	vis     []h16VI
	other   [][]byte // raw fields kept (name, doc string, sparse initializers)

	parent *h16Graph
	types  map[string]onnxpb.DataType // element types of this graph's values
	initBy map[string]*h16Init
	fp32   map[string]bool // values whose float32 form is what an island made
	consts map[string]bool // Constant outputs
	// half: values some node reads in float16, or graph outputs (shared
	// by the whole tree): an island's output gets its Cast back to
	// float16 only then
	half map[string]bool
}

func (g *h16Graph) typeOf(name string) onnxpb.DataType {
	for s := g; s != nil; s = s.parent {
		if t, ok := s.types[name]; ok {
			return t
		}
	}
	return onnxpb.Undefined
}

func (g *h16Graph) init(name string) *h16Init {
	for s := g; s != nil; s = s.parent {
		if _, local := s.types[name]; local {
			return s.initBy[name]
		}
	}
	return nil
}

func (g *h16Graph) islandMade(name string) bool {
	for s := g; s != nil; s = s.parent {
		if _, local := s.types[name]; local {
			return s.fp32[name]
		}
	}
	return false
}

func (g *h16Graph) constant(name string) bool {
	for s := g; s != nil; s = s.parent {
		if _, local := s.types[name]; local {
			return s.consts[name] || s.initBy[name] != nil
		}
	}
	return false
}

func decodeH16Graph(p []byte, parent *h16Graph) (*h16Graph, error) {
	fs, err := onnxpb.Fields(p)
	if err != nil {
		return nil, err
	}
	g := &h16Graph{parent: parent, types: map[string]onnxpb.DataType{}, initBy: map[string]*h16Init{}, fp32: map[string]bool{}, consts: map[string]bool{}, half: map[string]bool{}}
	if parent != nil {
		g.half = parent.half
	}
	for _, f := range fs {
		switch {
		case f.Bytes(onnxpb.FieldGraphNode):
			n, err := decodeH16Node(f.Payload, g)
			if err != nil {
				return nil, err
			}
			g.nodes = append(g.nodes, n)
		case f.Bytes(onnxpb.FieldGraphInit):
			in := &h16Init{raw: f.Payload}
			tf, err := onnxpb.Fields(f.Payload)
			if err != nil {
				return nil, err
			}
			for _, x := range tf {
				if s, ok := x.Str(onnxpb.FieldTensorName); ok {
					in.name = s
				}
				if x.Num == onnxpb.FieldTensorDataType && x.Wire == 0 {
					in.dt = onnxpb.DataType(x.Varint())
				}
			}
			in.isF32 = in.dt == onnxpb.Float
			g.inits = append(g.inits, in)
		case f.Bytes(fGraphInput), f.Bytes(fGraphOutput), f.Bytes(fGraphValueInfo):
			v, err := decodeH16VI(f.Payload)
			if err != nil {
				return nil, err
			}
			switch f.Num {
			case fGraphInput:
				g.inputs = append(g.inputs, v)
			case fGraphOutput:
				g.outputs = append(g.outputs, v)
			default:
				g.vis = append(g.vis, v)
			}
		default:
			g.other = append(g.other, f.Raw)
		}
	}
	return g, nil
}

func decodeH16VI(p []byte) (h16VI, error) {
	v := h16VI{raw: p}
	fs, err := onnxpb.Fields(p)
	if err != nil {
		return v, err
	}
	for _, f := range fs {
		if s, ok := f.Str(1); ok {
			v.name = s
		}
		if f.Bytes(fVIType) {
			tf, _ := onnxpb.Fields(f.Payload)
			for _, t := range tf {
				if t.Bytes(fTypeTensor) {
					ef, _ := onnxpb.Fields(t.Payload)
					for _, e := range ef {
						if e.Num == fTTElem && e.Wire == 0 {
							v.elem = onnxpb.DataType(e.Varint())
						}
					}
				}
			}
		}
	}
	return v, nil
}

// withElem is v's payload with its tensor element type set to elem (and
// its name to name).
func (v h16VI) with(name string, elem onnxpb.DataType) []byte {
	fs, _ := onnxpb.Fields(v.raw)
	var out []byte
	for _, f := range fs {
		switch {
		case f.Bytes(1):
			out = onnxpb.AppendBytes(out, 1, []byte(name))
		case f.Bytes(fVIType):
			var typ []byte
			tf, _ := onnxpb.Fields(f.Payload)
			for _, t := range tf {
				if !t.Bytes(fTypeTensor) {
					typ = append(typ, t.Raw...)
					continue
				}
				var tt []byte
				ef, _ := onnxpb.Fields(t.Payload)
				for _, e := range ef {
					if e.Num == fTTElem && e.Wire == 0 {
						tt = appendVarint(tt, fTTElem, uint64(elem))
						continue
					}
					tt = append(tt, e.Raw...)
				}
				typ = onnxpb.AppendBytes(typ, fTypeTensor, tt)
			}
			out = onnxpb.AppendBytes(out, fVIType, typ)
		default:
			out = append(out, f.Raw...)
		}
	}
	return out
}

func appendVarint(b []byte, field int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3)
	return binary.AppendUvarint(b, v)
}

func decodeH16Node(p []byte, g *h16Graph) (*h16Node, error) {
	fs, err := onnxpb.Fields(p)
	if err != nil {
		return nil, err
	}
	n := &h16Node{}
	for _, f := range fs {
		switch {
		case f.Bytes(onnxpb.FieldNodeInput):
			n.inputs = append(n.inputs, string(f.Payload))
		case f.Bytes(onnxpb.FieldNodeOutput):
			n.outputs = append(n.outputs, string(f.Payload))
		case f.Bytes(onnxpb.FieldNodeName):
			n.name = string(f.Payload)
		case f.Bytes(onnxpb.FieldNodeOpType):
			n.op = string(f.Payload)
		case f.Bytes(onnxpb.FieldNodeDomain):
			n.domain = string(f.Payload)
		case f.Bytes(onnxpb.FieldNodeAttribute):
			a := &h16Attr{raw: f.Payload}
			af, err := onnxpb.Fields(f.Payload)
			if err != nil {
				return nil, err
			}
			for _, x := range af {
				switch {
				case x.Bytes(onnxpb.FieldAttrName):
					a.name = string(x.Payload)
				case x.Num == fAttrType && x.Wire == 0:
					a.typ = int64(x.Varint())
				case x.Num == fAttrI && x.Wire == 0:
					a.i = int64(x.Varint())
				case x.Bytes(fAttrT):
					a.t = x.Payload
				}
			}
			for _, x := range af {
				if x.Bytes(onnxpb.FieldAttrG) || x.Bytes(fAttrGraphs) {
					sub, err := decodeH16Graph(x.Payload, g)
					if err != nil {
						return nil, err
					}
					a.g = append(a.g, sub)
				}
			}
			n.attrs = append(n.attrs, a)
		default:
			n.other = append(n.other, f.Raw)
		}
	}
	return n, nil
}

func (n *h16Node) attr(name string) *h16Attr {
	for _, a := range n.attrs {
		if a.name == name {
			return a
		}
	}
	return nil
}

// tensorType is a TensorProto payload's data type.
func tensorType(p []byte) onnxpb.DataType {
	fs, _ := onnxpb.Fields(p)
	for _, f := range fs {
		if f.Num == onnxpb.FieldTensorDataType && f.Wire == 0 {
			return onnxpb.DataType(f.Varint())
		}
	}
	return onnxpb.Undefined
}

// outTypes infers the element types of a node's outputs (of the float32
// model) from its inputs' types, its op and its attributes.
func outTypes(g *h16Graph, n *h16Node) []onnxpb.DataType {
	first := onnxpb.Undefined
	for _, in := range n.inputs {
		if in != "" {
			first = g.typeOf(in)
			break
		}
	}
	all := func(t onnxpb.DataType) []onnxpb.DataType {
		out := make([]onnxpb.DataType, len(n.outputs))
		for i := range out {
			out[i] = t
		}
		return out
	}
	switch n.op {
	case "Cast":
		if a := n.attr("to"); a != nil {
			return all(onnxpb.DataType(a.i))
		}
	case "CastLike":
		if len(n.inputs) > 1 {
			return all(g.typeOf(n.inputs[1]))
		}
	case "Constant":
		if a := n.attr("value"); a != nil && a.t != nil {
			return all(tensorType(a.t))
		}
		for _, a := range n.attrs {
			switch a.name {
			case "value_float", "value_floats":
				return all(onnxpb.Float)
			case "value_int", "value_ints":
				return all(onnxpb.Int64)
			case "value_string", "value_strings":
				return all(onnxpb.String)
			}
		}
	case "ConstantOfShape":
		if a := n.attr("value"); a != nil && a.t != nil {
			return all(tensorType(a.t))
		}
		return all(onnxpb.Float)
	case "Shape", "Size", "NonZero", "ArgMax", "ArgMin":
		return all(onnxpb.Int64)
	case "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf":
		return all(onnxpb.Bool)
	case "Where":
		if len(n.inputs) > 1 {
			return all(g.typeOf(n.inputs[1]))
		}
	case "TopK":
		return []onnxpb.DataType{first, onnxpb.Int64}[:len(n.outputs)]
	case "DynamicQuantizeLinear":
		return []onnxpb.DataType{onnxpb.Uint8, onnxpb.Float, onnxpb.Uint8}[:len(n.outputs)]
	case "MatMulInteger":
		return all(onnxpb.Int32)
	case "EyeLike", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike":
		if a := n.attr("dtype"); a != nil {
			return all(onnxpb.DataType(a.i))
		}
		if n.op == "RandomNormal" || n.op == "RandomUniform" {
			return all(onnxpb.Float)
		}
	case "If":
		for _, a := range n.attrs {
			if a.name == "then_branch" && len(a.g) == 1 {
				br := a.g[0]
				out := make([]onnxpb.DataType, len(n.outputs))
				for i := range out {
					if i < len(br.outputs) {
						out[i] = br.outputs[i].elem
						if out[i] == onnxpb.Undefined {
							out[i] = br.typeOf(br.outputs[i].name)
						}
					}
				}
				return out
			}
		}
	}
	return all(first)
}

// analyse infers every value's type, marks the islands and counts how
// initializers are read, for g and its subgraphs.
func (g *h16Graph) analyse() error {
	for _, v := range g.inputs {
		g.types[v.name] = v.elem
	}
	for _, in := range g.inits {
		g.types[in.name] = in.dt
		g.initBy[in.name] = in
	}
	for _, v := range g.vis {
		if v.elem != onnxpb.Undefined {
			g.types[v.name] = v.elem
		}
	}
	// a mask Add read only by Softmax joins it: scores + mask in float16
	// turn −65504 + a negative score into −inf, and a row masked whole into
	// NaN (float32 keeps −65504 − s finite, as the float32 model's
	// −3.4e38 − s is)
	readers := map[string][]*h16Node{}
	for _, n := range g.nodes {
		for _, in := range n.inputs {
			readers[in] = append(readers[in], n)
		}
	}
	for _, v := range g.outputs {
		readers[v.name] = append(readers[v.name], nil)
	}
	feedsSoftmax := func(n *h16Node) bool {
		if (n.op != "Add" && n.op != "Sub") || len(n.outputs) != 1 || len(readers[n.outputs[0]]) == 0 {
			return false
		}
		for _, r := range readers[n.outputs[0]] {
			if r == nil || (r.op != "Softmax" && r.op != "LogSoftmax") {
				return false
			}
		}
		return true
	}
	for _, n := range g.nodes {
		for _, a := range n.attrs {
			for _, sub := range a.g {
				if err := sub.analyse(); err != nil {
					return err
				}
			}
		}
		ts := outTypes(g, n)
		for i, o := range n.outputs {
			if o != "" {
				if _, declared := g.types[o]; !declared || g.types[o] == onnxpb.Undefined {
					g.types[o] = ts[i]
				}
			}
		}
		if n.op == "Constant" {
			for _, o := range n.outputs {
				g.consts[o] = true
			}
		}
		if n.domain == "" || n.domain == "ai.onnx" {
			switch {
			case fp16Islands[n.op]:
				n.island = true
			case n.op == "Mul" && len(n.inputs) == 2 && n.inputs[0] == n.inputs[1] && g.typeOf(n.inputs[0]) == onnxpb.Float:
				n.island = true // a square
			case feedsSoftmax(n) && g.typeOf(n.outputs[0]) == onnxpb.Float:
				n.island = true
			case fp16Joins[n.op]:
				made, ok := false, true
				for _, in := range n.inputs {
					if in == "" || g.typeOf(in) != onnxpb.Float {
						continue
					}
					switch {
					case g.islandMade(in):
						made = true
					case g.constant(in):
					default:
						ok = false
					}
				}
				n.island = made && ok
			}
		}
		if n.island {
			for _, o := range n.outputs {
				if o != "" && g.typeOf(o) == onnxpb.Float {
					g.fp32[o] = true
				}
			}
		}
		for i, in := range n.inputs {
			if in == "" || g.typeOf(in) != onnxpb.Float {
				continue
			}
			if !n.island && !slices.Contains(fp16FloatInputs[n.op], i) {
				g.half[in] = true
			}
			if it := g.init(in); it != nil {
				if n.island || slices.Contains(fp16FloatInputs[n.op], i) {
					it.fp32++
				} else {
					it.fp16++
				}
			}
		}
	}
	for _, v := range g.outputs {
		g.half[v.name] = true
		if it := g.init(v.name); it != nil && v.elem == onnxpb.Float {
			it.fp16++
		}
	}
	return nil
}

// h16Conv is one conversion's state.
type h16Conv struct {
	path string
	st   *FP16Stats
	seq  int
	ext  *onnxpb.ExternalWriter // nil: weights inline
}

// scope is what a graph being written knows: renamed values (graph I/O
// behind Casts) and values available in float32.
type h16Scope struct {
	parent *h16Scope
	g      *h16Graph
	rename map[string]string
	f32    map[string]string // float16 value → its float32 form
	local  map[string]bool
}

func (s *h16Scope) name(n string) string {
	for c := s; c != nil; c = c.parent {
		if r, ok := c.rename[n]; ok {
			return r
		}
		if c.local[n] {
			return n
		}
	}
	return n
}

func (s *h16Scope) fp32(n string) (string, bool) {
	for c := s; c != nil; c = c.parent {
		if r, ok := c.f32[n]; ok {
			return r, true
		}
	}
	return "", false
}

func (c *h16Conv) convert(model []byte) ([]byte, error) {
	top, err := onnxpb.Fields(model)
	if err != nil {
		return nil, err
	}
	var out []byte
	found := false
	for _, f := range top {
		if !f.Bytes(onnxpb.FieldModelGraph) {
			out = append(out, f.Raw...)
			continue
		}
		g, err := decodeH16Graph(f.Payload, nil)
		if err != nil {
			return nil, err
		}
		if err := g.analyse(); err != nil {
			return nil, err
		}
		markKeep(g)
		gb, err := c.graph(g, nil, true, nil)
		if err != nil {
			return nil, err
		}
		out = onnxpb.AppendBytes(out, onnxpb.FieldModelGraph, gb)
		found = true
	}
	if !found {
		return nil, errors.New("model has no graph")
	}
	return out, nil
}

func (c *h16Conv) uniq(base string) string {
	c.seq++
	return fmt.Sprintf("%s/transcept_fp16_%d", base, c.seq)
}

func castNode(name, in, out string, to onnxpb.DataType) []byte {
	return onnxpb.MarshalNode(&onnxpb.Node{OpType: "Cast", Name: name, Inputs: []string{in}, Outputs: []string{out},
		Attrs: []onnxpb.Attr{onnxpb.AInt("to", int64(to))}})
}

// graph converts g. keep are the positions of a branch's outputs that stay
// float32 (an If's outputs that are the model's float32 outputs: the Cast
// is made in each branch, so the If's outputs keep their names and types;
// a branch passing a graph input through hands on the float32 input
// itself, as Whisper's light decoder expects).
func (c *h16Conv) graph(g *h16Graph, parent *h16Scope, top bool, keep map[int]bool) ([]byte, error) {
	s := &h16Scope{parent: parent, g: g, rename: map[string]string{}, f32: map[string]string{}, local: map[string]bool{}}
	for _, v := range g.inputs {
		s.local[v.name] = true
	}
	for _, in := range g.inits {
		s.local[in.name] = true
	}
	for _, n := range g.nodes {
		for _, o := range n.outputs {
			s.local[o] = true
		}
	}
	var nodes [][]byte
	var tail [][]byte
	isInput := map[string]bool{}
	// the If outputs that are float32 graph outputs and nothing in this
	// graph reads: their branches make them float32
	ifKeep := map[*h16Node]map[int]bool{}
	inBranch := map[string]bool{}
	if top {
		read := map[string]bool{}
		for _, n := range g.nodes {
			for _, in := range n.inputs {
				read[in] = true
			}
		}
		outs := map[string]bool{}
		for _, v := range g.outputs {
			if v.elem == onnxpb.Float && g.initBy[v.name] == nil {
				outs[v.name] = true
			}
		}
		for _, v := range g.inputs {
			delete(outs, v.name)
		}
		for _, n := range g.nodes {
			if n.op != "If" || n.domain != "" {
				continue
			}
			for i, o := range n.outputs {
				if outs[o] && !read[o] {
					if ifKeep[n] == nil {
						ifKeep[n] = map[int]bool{}
					}
					ifKeep[n][i] = true
					inBranch[o] = true
				}
			}
		}
	}
	// this branch's outputs that stay float32: the value each is made from
	// (renamed when made here)
	outName := map[int]string{}
	for k, v := range g.outputs {
		if !keep[k] || v.elem != onnxpb.Float {
			continue
		}
		if s.local[v.name] && g.initBy[v.name] == nil && !slices.ContainsFunc(g.inputs, func(x h16VI) bool { return x.name == v.name }) {
			h := c.uniq(v.name)
			s.rename[v.name] = h
			outName[k] = v.name
		} else {
			outName[k] = c.uniq(v.name)
		}
	}
	if top {
		for _, v := range g.inputs {
			isInput[v.name] = true
			if v.elem != onnxpb.Float || g.initBy[v.name] != nil {
				continue
			}
			h := c.uniq(v.name)
			s.rename[v.name] = h
			s.f32[h] = v.name
			nodes = append(nodes, castNode(h+"/cast", v.name, h, onnxpb.Float16))
			c.st.Casts++
			c.st.IO = append(c.st.IO, v.name)
		}
		for _, v := range g.outputs {
			if v.elem != onnxpb.Float || isInput[v.name] || g.initBy[v.name] != nil {
				continue
			}
			if inBranch[v.name] {
				c.st.IO = append(c.st.IO, v.name)
				continue
			}
			h := c.uniq(v.name)
			s.rename[v.name] = h
			tail = append(tail, castNode(h+"/cast", h, v.name, onnxpb.Float))
			c.st.Casts++
			c.st.IO = append(c.st.IO, v.name)
		}
	}
	for _, n := range g.nodes {
		ins := make([]string, len(n.inputs))
		for i, in := range n.inputs {
			ins[i] = in
			if in != "" {
				ins[i] = s.name(in)
			}
		}
		outs := make([]string, len(n.outputs))
		for i, o := range n.outputs {
			outs[i] = o
			if o != "" {
				outs[i] = s.name(o)
			}
		}
		var after [][]byte
		fixed := fp16FloatInputs[n.op]
		for i, in := range n.inputs {
			if in == "" || g.typeOf(in) != onnxpb.Float || !(n.island || slices.Contains(fixed, i)) {
				continue
			}
			if it := g.init(in); it != nil && it.keep {
				continue // a float32 initializer
			}
			if f, ok := s.fp32(ins[i]); ok {
				ins[i] = f
				continue
			}
			f := c.uniq(ins[i])
			nodes = append(nodes, castNode(f+"/cast", ins[i], f, onnxpb.Float))
			c.st.Casts++
			s.f32[ins[i]] = f
			ins[i] = f
		}
		if n.island {
			c.st.Islands[n.op]++
			for i, o := range n.outputs {
				if o == "" || g.typeOf(o) != onnxpb.Float {
					continue
				}
				f := c.uniq(outs[i])
				if g.half[o] {
					after = append(after, castNode(f+"/cast", f, outs[i], onnxpb.Float16))
					c.st.Casts++
				}
				s.f32[outs[i]] = f
				outs[i] = f
			}
		}
		if n.op == "Identity" && len(ins) == 1 && len(outs) == 1 {
			if f, ok := s.fp32(ins[0]); ok {
				s.f32[outs[0]] = f // a copy of a value there is in float32
			}
		}
		b, err := c.node(n, ins, outs, s, ifKeep[n])
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, b)
		nodes = append(nodes, after...)
	}
	for k, v := range g.outputs {
		name, ok := outName[k]
		if !ok {
			continue
		}
		from := s.name(v.name)
		if f, ok := s.fp32(from); ok {
			nodes = append(nodes, onnxpb.MarshalNode(&onnxpb.Node{OpType: "Identity", Name: name + "/identity", Inputs: []string{f}, Outputs: []string{name}}))
		} else {
			nodes = append(nodes, castNode(name+"/cast", from, name, onnxpb.Float))
			c.st.Casts++
		}
	}
	nodes = append(nodes, tail...)

	var out []byte
	for _, n := range nodes {
		out = onnxpb.AppendBytes(out, onnxpb.FieldGraphNode, n)
	}
	for _, f := range g.other {
		out = append(out, f...)
	}
	for _, in := range g.inits {
		fp16 := in.isF32 && in.fp16 > 0
		b, err := c.tensor(in.raw, fp16, true)
		if err != nil {
			return nil, fmt.Errorf("initializer %s: %w", in.name, err)
		}
		switch {
		case fp16:
			c.st.Converted++
		case in.isF32:
			c.st.KeptFP32++
		}
		out = onnxpb.AppendBytes(out, onnxpb.FieldGraphInit, b)
	}
	io := func(field int, vs []h16VI, keep bool) {
		for k, v := range vs {
			name := v.name
			if !top {
				name = s.name(v.name)
			}
			if n, ok := outName[k]; ok && field == fGraphOutput {
				out = onnxpb.AppendBytes(out, field, v.with(n, v.elem))
				continue
			}
			if v.elem == onnxpb.Float && !keep {
				out = onnxpb.AppendBytes(out, field, v.with(name, onnxpb.Float16))
			} else if name != v.name {
				out = onnxpb.AppendBytes(out, field, v.with(name, v.elem))
			} else {
				out = onnxpb.AppendBytes(out, field, v.raw)
			}
		}
	}
	io(fGraphInput, g.inputs, top)
	io(fGraphOutput, g.outputs, top)
	io(fGraphValueInfo, g.vis, false)
	return out, nil
}

// markKeep decides, once per initializer, whether it stays float32: when
// only islands read it.
func markKeep(g *h16Graph) {
	for _, in := range g.inits {
		in.keep = in.isF32 && in.fp16 == 0
	}
	for _, n := range g.nodes {
		for _, a := range n.attrs {
			for _, sub := range a.g {
				markKeep(sub)
			}
		}
	}
}

// node writes n with its new inputs and outputs, its float attributes
// made float16 (unless an island) and its subgraphs converted.
func (c *h16Conv) node(n *h16Node, ins, outs []string, s *h16Scope, keep map[int]bool) ([]byte, error) {
	var b []byte
	for _, in := range ins {
		b = onnxpb.AppendBytes(b, onnxpb.FieldNodeInput, []byte(in))
	}
	for _, o := range outs {
		b = onnxpb.AppendBytes(b, onnxpb.FieldNodeOutput, []byte(o))
	}
	if n.name != "" {
		b = onnxpb.AppendBytes(b, onnxpb.FieldNodeName, []byte(n.name))
	}
	b = onnxpb.AppendBytes(b, onnxpb.FieldNodeOpType, []byte(n.op))
	hasValue := false
	for _, a := range n.attrs {
		p := a.raw
		switch {
		case len(a.g) > 0:
			var err error
			if p, err = c.graphAttr(a, s, keep); err != nil {
				return nil, err
			}
		case n.island:
		case n.op == "Cast" && a.name == "to" && a.i == int64(onnxpb.Float):
			p = marshalAttr(onnxpb.AInt("to", int64(onnxpb.Float16)))
		case (n.op == "Constant" || n.op == "ConstantOfShape") && a.name == "value" && a.t != nil:
			hasValue = true
			if tensorType(a.t) == onnxpb.Float {
				t, err := c.tensor(a.t, true, false)
				if err != nil {
					return nil, err
				}
				c.st.Constants++
				p = tensorAttr("value", t)
			}
		case n.op == "Constant" && (a.name == "value_float" || a.name == "value_floats"):
			vals, dims := constFloats(a)
			c.st.Constants++
			p = tensorAttr("value", onnxpb.MarshalTensor(&onnxpb.Tensor{DataType: onnxpb.Float16, Dims: dims, Raw: c.half(vals)}))
		case a.name == "dtype" && a.i == int64(onnxpb.Float):
			p = marshalAttr(onnxpb.AInt("dtype", int64(onnxpb.Float16)))
		}
		b = onnxpb.AppendBytes(b, onnxpb.FieldNodeAttribute, p)
	}
	if !n.island && n.op == "ConstantOfShape" && !hasValue {
		// the default value is a float32 0
		c.st.Constants++
		b = onnxpb.AppendBytes(b, onnxpb.FieldNodeAttribute,
			tensorAttr("value", onnxpb.MarshalTensor(&onnxpb.Tensor{DataType: onnxpb.Float16, Dims: []int64{1}, Raw: []byte{0, 0}})))
	}
	if !n.island && (n.op == "RandomNormal" || n.op == "RandomUniform") && n.attr("dtype") == nil {
		b = onnxpb.AppendBytes(b, onnxpb.FieldNodeAttribute, marshalAttr(onnxpb.AInt("dtype", int64(onnxpb.Float16))))
	}
	if n.domain != "" {
		b = onnxpb.AppendBytes(b, onnxpb.FieldNodeDomain, []byte(n.domain))
	}
	for _, f := range n.other {
		b = append(b, f...)
	}
	return b, nil
}

func (c *h16Conv) graphAttr(a *h16Attr, s *h16Scope, keep map[int]bool) ([]byte, error) {
	fs, err := onnxpb.Fields(a.raw)
	if err != nil {
		return nil, err
	}
	var p []byte
	k := 0
	for _, f := range fs {
		if f.Bytes(onnxpb.FieldAttrG) || f.Bytes(fAttrGraphs) {
			gb, err := c.graph(a.g[k], s, false, keep)
			if err != nil {
				return nil, err
			}
			k++
			p = onnxpb.AppendBytes(p, f.Num, gb)
			continue
		}
		p = append(p, f.Raw...)
	}
	return p, nil
}

func marshalAttr(a onnxpb.Attr) []byte {
	n := onnxpb.MarshalNode(&onnxpb.Node{OpType: "x", Attrs: []onnxpb.Attr{a}})
	fs, _ := onnxpb.Fields(n)
	for _, f := range fs {
		if f.Bytes(onnxpb.FieldNodeAttribute) {
			return f.Payload
		}
	}
	return nil
}

func tensorAttr(name string, tensor []byte) []byte {
	var p []byte
	p = onnxpb.AppendBytes(p, onnxpb.FieldAttrName, []byte(name))
	p = onnxpb.AppendBytes(p, fAttrT, tensor)
	return appendVarint(p, fAttrType, uint64(onnxpb.AttrTensor))
}

// constFloats reads a Constant's value_float or value_floats.
func constFloats(a *h16Attr) ([]float32, []int64) {
	fs, _ := onnxpb.Fields(a.raw)
	var v []float32
	for _, f := range fs {
		switch {
		case f.Num == fAttrF && f.Wire == 5:
			v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(f.Raw[len(f.Raw)-4:])))
		case f.Bytes(fAttrFloats):
			for i := 0; i+4 <= len(f.Payload); i += 4 {
				v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(f.Payload[i:])))
			}
		case f.Num == fAttrFloats && f.Wire == 5:
			v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(f.Raw[len(f.Raw)-4:])))
		}
	}
	if a.name == "value_float" {
		return v, nil
	}
	return v, []int64{int64(len(v))}
}

// tensor converts a float32 TensorProto payload to float16 (when fp16) and
// places its data: inline, or in the external data file being written (an
// initializer, when there is one); data the input kept in its external
// files is read from there.
func (c *h16Conv) tensor(p []byte, fp16, initializer bool) ([]byte, error) {
	fs, err := onnxpb.Fields(p)
	if err != nil {
		return nil, err
	}
	var vals []float32
	var raw []byte
	var ext *onnxpb.External
	var keep []byte
	var dims []int64
	var name string
	dt := onnxpb.Undefined
	for _, f := range fs {
		if f.Num == onnxpb.FieldTensorDataType && f.Wire == 0 {
			dt = onnxpb.DataType(f.Varint())
		}
	}
	if !fp16 {
		external := false
		for _, f := range fs {
			external = external || f.Bytes(onnxpb.FieldTensorExternal)
		}
		if !external {
			return p, nil // kept as it is
		}
	}
	for _, f := range fs {
		switch {
		case f.Num == onnxpb.FieldTensorDims && f.Wire == 0:
			dims = append(dims, int64(f.Varint()))
			keep = append(keep, f.Raw...)
		case f.Bytes(onnxpb.FieldTensorDims):
			for i := 0; i < len(f.Payload); {
				v, k := binary.Uvarint(f.Payload[i:])
				if k <= 0 {
					return nil, errors.New("bad dims")
				}
				dims = append(dims, int64(v))
				i += k
			}
			keep = append(keep, f.Raw...)
		case f.Bytes(onnxpb.FieldTensorName):
			name = string(f.Payload)
			keep = append(keep, f.Raw...)
		case f.Num == fTensorSegment, f.Bytes(fTensorDocStr):
			keep = append(keep, f.Raw...)
		case f.Bytes(onnxpb.FieldTensorRaw):
			raw = f.Payload
		case f.Bytes(onnxpb.FieldTensorFloat):
			for i := 0; i+4 <= len(f.Payload); i += 4 {
				vals = append(vals, math.Float32frombits(binary.LittleEndian.Uint32(f.Payload[i:])))
			}
		case f.Num == onnxpb.FieldTensorFloat && f.Wire == 5:
			vals = append(vals, math.Float32frombits(binary.LittleEndian.Uint32(f.Raw[len(f.Raw)-4:])))
		case f.Bytes(onnxpb.FieldTensorExternal):
			if ext == nil {
				ext = &onnxpb.External{}
			}
			kv, _ := onnxpb.Fields(f.Payload)
			var k, v string
			for _, x := range kv {
				if s, ok := x.Str(onnxpb.FieldKey); ok {
					k = s
				}
				if s, ok := x.Str(onnxpb.FieldValue); ok {
					v = s
				}
			}
			var n int64
			fmt.Sscan(v, &n)
			switch k {
			case "location":
				ext.Location = v
			case "offset":
				ext.Offset = n
			case "length":
				ext.Length = n
			}
		}
	}
	if ext != nil {
		if raw, err = onnxpb.ReadExternal(c.path, *ext); err != nil {
			return nil, err
		}
	}
	if !fp16 {
		// the input's external data, brought inline or into our data file
		t := onnxpb.Tensor{Name: name, DataType: dt, Dims: dims, Raw: raw}
		if c.ext != nil && initializer && len(raw) >= fp16ExternalMin {
			if err := c.ext.Move(&t); err != nil {
				return nil, err
			}
		}
		return onnxpb.MarshalTensor(&t), nil
	}
	var half []byte
	if raw != nil {
		if len(raw)%4 != 0 {
			return nil, fmt.Errorf("float32 data of %d bytes", len(raw))
		}
		half = c.halfOf(len(raw)/4, func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])) })
	} else {
		half = c.half(vals)
	}
	if c.ext != nil && initializer && len(half) >= fp16ExternalMin {
		t := onnxpb.Tensor{Name: name, DataType: onnxpb.Float16, Dims: dims, Raw: half}
		if err := c.ext.Move(&t); err != nil {
			return nil, err
		}
		return onnxpb.MarshalTensor(&t), nil
	}
	out := keep
	out = appendVarint(out, onnxpb.FieldTensorDataType, uint64(onnxpb.Float16))
	out = onnxpb.AppendBytes(out, onnxpb.FieldTensorRaw, half)
	return out, nil
}

// fp16ExternalMin: smaller tensors stay inline even with a data file (as
// onnx's external data helper's size threshold does).
const fp16ExternalMin = 1024

// fp16 limits: the largest finite value and the smallest subnormal.
const (
	fp16Max     = 65504
	fp16MinSub  = 5.960464477539063e-08 // 2⁻²⁴
	fp16MinSubF = float32(fp16MinSub)
)

// half converts float32 values to float16 bytes, clamping as
// onnxconverter-common does and counting what it changed.
func (c *h16Conv) half(v []float32) []byte {
	return c.halfOf(len(v), func(i int) float32 { return v[i] })
}

func (c *h16Conv) halfOf(n int, at func(int) float32) []byte {
	out := make([]byte, 2*n)
	for i := range n {
		x := at(i)
		a := float32(math.Abs(float64(x)))
		switch {
		case a > fp16Max && !math.IsInf(float64(x), 0):
			x = float32(math.Copysign(fp16Max, float64(x)))
			c.st.Clamped++
		case a > 0 && a < fp16MinSubF:
			x = float32(math.Copysign(fp16MinSub, float64(x)))
			c.st.Tiny++
		}
		binary.LittleEndian.PutUint16(out[2*i:], Float16Bits(x))
	}
	c.st.Values += int64(n)
	return out
}

// Float16Bits is x as IEEE 754 binary16, rounded to nearest even
// (overflow to ±inf, underflow through subnormals to ±0).
func Float16Bits(x float32) uint16 {
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		m := man | 0x800000
		shift := uint(14 - e)
		r := m >> shift
		rem, half := m&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // a carry into the exponent is right, up to inf
	}
	return sign | uint16(r)
}

// Float16Value is the float32 value of binary16 bits.
func Float16Value(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		v := float32(man) * fp16MinSubF
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}
