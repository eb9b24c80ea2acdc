// Package quantize writes quantised copies of ONNX models for CPU inference
// with ONNX Runtime, in Go over the onnxpb byte-level rewriting:
//
//   - q8: dynamic quantisation, the layout of the hub's model_quantized.onnx
//     files (onnxruntime quantize_dynamic): every MatMul whose B is a constant
//     2-D float initializer becomes DynamicQuantizeLinear on A, MatMulInteger
//     with uint8 weights (symmetric, per output channel scales, zero point
//     128), Cast to float and Mul by the product of the two scales.
//   - q4 (and 8-bit blocks): com.microsoft MatMulNBits with per-block scales
//     along K (block 32, 64 or 128), symmetric (zero point 2^(bits-1), no
//     zero_points input) or asymmetric (packed zero points).
//
// A MatMul whose B is Transpose(perm=[1,0]) of a constant initializer (a
// tied lm_head) counts as constant. Gather embeddings stay float32 unless
// QuantizeEmbeddings (then uint8 with a scale per row, for either dtype);
// Gemm stays float32 (reported as skipped). Everything else in the model is kept
// byte for byte.
package quantize

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// Options chooses the quantisation.
type Options struct {
	DType     string // "q8" or "q4"
	Bits      int    // for q4: 4 (default) or 8 (MatMulNBits with bits=8)
	Block     int    // for q4: 32 (default), 64 or 128
	Symmetric bool   // for q4: no zero points
	// KeepEmbeddings leaves MatMuls over an embedding (a weight a Gather
	// also reads, or its transpose: the tied lm_head) in float32.
	KeepEmbeddings bool
	// QuantizeEmbeddings also stores Gather tables (token and position
	// embeddings) as uint8 with a scale per row, dequantised after the
	// Gather; off, they stay float32.
	QuantizeEmbeddings bool
	// AccuracyLevel is MatMulNBits' accuracy_level (0: float32 compute; 4:
	// int8 compute of A).
	AccuracyLevel int
}

// Check reports options that make no quantisation (an unknown dtype, bits
// or block).
func (o Options) Check() error { return o.norm() }

func (o *Options) norm() error {
	switch o.DType {
	case "q8":
	case "q4":
		if o.Bits == 0 {
			o.Bits = 4
		}
		if o.Bits != 4 && o.Bits != 8 {
			return fmt.Errorf("quantize: bits %d: want 4 or 8", o.Bits)
		}
		if o.Block == 0 {
			o.Block = 32
		}
		if o.Block != 16 && o.Block != 32 && o.Block != 64 && o.Block != 128 && o.Block != 256 {
			return fmt.Errorf("quantize: block %d: want 32, 64 or 128", o.Block)
		}
	default:
		return fmt.Errorf("quantize: dtype %q: want q8 or q4", o.DType)
	}
	return nil
}

// Node is one rewritten (or skipped) operator.
type Node struct {
	Node   string `json:"node"`
	Op     string `json:"op"`
	Weight string `json:"weight"`
	K      int    `json:"k,omitempty"`
	N      int    `json:"n,omitempty"`
	As     string `json:"as,omitempty"` // the replacement, or "" when skipped
	// RelErr and Cosine compare this MatMul's output with the float32 one
	// on a fixed standard-normal input of 8 rows (q8: the input rounded as
	// DynamicQuantizeLinear does).
	RelErr float64 `json:"rel_err,omitempty"`
	Cosine float64 `json:"cosine,omitempty"`
	Reason string  `json:"reason,omitempty"` // why skipped
}

// FileResult is what QuantizeFile did to one model file.
type FileResult struct {
	In          string `json:"in"`
	Out         string `json:"out"`
	BytesBefore int64  `json:"bytes_before"`
	BytesAfter  int64  `json:"bytes_after"`
	// WeightBytesBefore and WeightBytesAfter are the quantised weights'
	// float32 bytes and their replacements' bytes.
	WeightBytesBefore int64  `json:"weight_bytes_before"`
	WeightBytesAfter  int64  `json:"weight_bytes_after"`
	Quantized         []Node `json:"quantized"`
	Skipped           []Node `json:"skipped,omitempty"`
}

// weight is a constant 2-D float initializer.
type weight struct {
	name   string
	dims   []int64
	raw    []byte            // little-endian float32 bytes, when inline
	floats []float32         // float_data, when not raw
	ext    *onnxpb.External  // when external
	other  map[string]string // unused
}

type scan struct {
	weights   map[string]*weight
	transpose map[string]string // Transpose(perm 1,0) output -> initializer
	uses      map[string]int    // how many node inputs name a value
	nonMatMul map[string]bool   // initializer read by something other than a MatMul's B (or the transpose)
}

// QuantizeFile writes a quantised copy of the model at in to out.
func QuantizeFile(in, out string, o Options) (*FileResult, error) {
	if err := o.norm(); err != nil {
		return nil, err
	}
	model, err := os.ReadFile(in)
	if err != nil {
		return nil, err
	}
	res := &FileResult{In: in, Out: out}
	res.BytesBefore = fileBytes(in, model)
	b, err := quantizeModel(in, model, o, res)
	if err != nil {
		return nil, fmt.Errorf("quantize %s: %w", in, err)
	}
	if len(b) >= 2<<30 {
		return nil, fmt.Errorf("quantize %s: the result is %d bytes, past protobuf's 2 GB limit", in, len(b))
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return nil, err
	}
	res.BytesAfter = int64(len(b))
	return res, nil
}

// fileBytes is the model's size with its external data files.
func fileBytes(path string, model []byte) int64 {
	n := int64(len(model))
	if model == nil {
		if st, err := os.Stat(path); err == nil {
			n = st.Size()
		}
	}
	if info, err := onnxpb.Inspect(path); err == nil {
		seen := map[string]bool{}
		for _, e := range info.External {
			if !seen[e.Location] {
				seen[e.Location] = true
				if p, err := e.Path(path); err == nil {
					if st, err := os.Stat(p); err == nil {
						n += st.Size()
					}
				}
			}
		}
	}
	return n
}

func quantizeModel(path string, model []byte, o Options, res *FileResult) ([]byte, error) {
	top, err := onnxpb.Fields(model)
	if err != nil {
		return nil, err
	}
	var graph []byte
	for _, f := range top {
		if f.Bytes(onnxpb.FieldModelGraph) {
			graph = f.Payload
		}
	}
	if graph == nil {
		return nil, errors.New("model has no graph")
	}
	s := &scan{weights: map[string]*weight{}, transpose: map[string]string{}, uses: map[string]int{}, nonMatMul: map[string]bool{}}
	if err := s.graph(graph, true); err != nil {
		return nil, err
	}
	q := &quantizer{path: path, o: o, s: s, res: res, done: map[string]*qweight{}, rel: map[string]float64{}, cos: map[string]float64{}}
	g, err := q.graph(graph, true)
	if err != nil {
		return nil, err
	}
	var out []byte
	msDomain := false
	for _, f := range top {
		if f.Bytes(onnxpb.FieldModelOpsetImport) {
			of, _ := onnxpb.Fields(f.Payload)
			for _, x := range of {
				if d, ok := x.Str(onnxpb.FieldOpsetDomain); ok && d == "com.microsoft" {
					msDomain = true
				}
			}
		}
	}
	for _, f := range top {
		if f.Bytes(onnxpb.FieldModelGraph) {
			out = onnxpb.AppendBytes(out, onnxpb.FieldModelGraph, g)
			if !msDomain && o.DType == "q4" {
				out = onnxpb.AppendBytes(out, onnxpb.FieldModelOpsetImport, onnxpb.MarshalOpSet(onnxpb.OpSet{Domain: "com.microsoft", Version: 1}))
			}
			continue
		}
		out = append(out, f.Raw...)
	}
	return out, nil
}

// node is a NodeProto's parts the scan needs.
type node struct {
	name, op, domain string
	inputs, outputs  []string
	perm             []int64
	axis             int64
	graphs           [][]byte
}

func decodeNode(p []byte) (node, error) {
	var n node
	fs, err := onnxpb.Fields(p)
	if err != nil {
		return n, err
	}
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
			af, err := onnxpb.Fields(f.Payload)
			if err != nil {
				return n, err
			}
			var name string
			for _, a := range af {
				if a.Bytes(onnxpb.FieldAttrName) {
					name = string(a.Payload)
				}
			}
			for _, a := range af {
				switch {
				case a.Bytes(onnxpb.FieldAttrG), a.Bytes(onnxpb.FieldAttrGraphs):
					n.graphs = append(n.graphs, a.Payload)
				case name == "perm" && a.Bytes(onnxpb.FieldAttrInts):
					for i := 0; i < len(a.Payload); {
						v, k := binary.Uvarint(a.Payload[i:])
						if k <= 0 {
							break
						}
						n.perm = append(n.perm, int64(v))
						i += k
					}
				case name == "axis" && a.Num == 3 && a.Wire == 0:
					n.axis = int64(a.Varint())
				case name == "perm" && a.Num == onnxpb.FieldAttrInts && a.Wire == 0:
					n.perm = append(n.perm, int64(a.Varint()))
				}
			}
		}
	}
	return n, nil
}

func (s *scan) graph(g []byte, main bool) error {
	fs, err := onnxpb.Fields(g)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.Bytes(onnxpb.FieldGraphInit) {
			w, err := decodeWeight(f.Payload)
			if err != nil {
				return err
			}
			if w != nil {
				s.weights[w.name] = w
			}
		}
	}
	for _, f := range fs {
		if !f.Bytes(onnxpb.FieldGraphNode) {
			continue
		}
		n, err := decodeNode(f.Payload)
		if err != nil {
			return err
		}
		for i, in := range n.inputs {
			s.uses[in]++
			ok := (n.op == "MatMul" && n.domain == "" && i == 1) ||
				(n.op == "Transpose" && len(n.perm) == 2 && n.perm[0] == 1 && n.perm[1] == 0)
			if !ok {
				s.nonMatMul[in] = true
			}
		}
		if n.op == "Transpose" && len(n.perm) == 2 && n.perm[0] == 1 && n.perm[1] == 0 && len(n.inputs) == 1 && len(n.outputs) == 1 {
			s.transpose[n.outputs[0]] = n.inputs[0]
		}
		for _, sub := range n.graphs {
			if err := s.graph(sub, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeWeight reads a 2-D float32 initializer (nil for anything else).
func decodeWeight(p []byte) (*weight, error) {
	fs, err := onnxpb.Fields(p)
	if err != nil {
		return nil, err
	}
	w := &weight{}
	var dt uint64
	var ext onnxpb.External
	external := false
	for _, f := range fs {
		switch {
		case f.Num == onnxpb.FieldTensorDims && f.Wire == 0:
			w.dims = append(w.dims, int64(f.Varint()))
		case f.Bytes(onnxpb.FieldTensorDims):
			for i := 0; i < len(f.Payload); {
				v, k := binary.Uvarint(f.Payload[i:])
				if k <= 0 {
					return nil, errors.New("bad dims")
				}
				w.dims = append(w.dims, int64(v))
				i += k
			}
		case f.Num == onnxpb.FieldTensorDataType:
			dt = f.Varint()
		case f.Bytes(onnxpb.FieldTensorName):
			w.name = string(f.Payload)
		case f.Bytes(onnxpb.FieldTensorRaw):
			w.raw = f.Payload
		case f.Bytes(onnxpb.FieldTensorFloat):
			for i := 0; i+4 <= len(f.Payload); i += 4 {
				w.floats = append(w.floats, math.Float32frombits(binary.LittleEndian.Uint32(f.Payload[i:])))
			}
		case f.Num == onnxpb.FieldTensorFloat && f.Wire == 5:
			w.floats = append(w.floats, math.Float32frombits(binary.LittleEndian.Uint32(f.Raw[len(f.Raw)-4:])))
		case f.Bytes(onnxpb.FieldTensorExternal):
			external = true
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
			switch k {
			case "location":
				ext.Location = v
			case "offset":
				ext.Offset, _ = strconv.ParseInt(v, 10, 64)
			case "length":
				ext.Length, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	if onnxpb.DataType(dt) != onnxpb.Float || len(w.dims) != 2 {
		return nil, nil
	}
	if external {
		w.ext = &ext
	}
	return w, nil
}

// values reads the weight as float32s, [K][N] row-major as stored.
func (w *weight) values(modelPath string) ([]float32, error) {
	n := int(w.dims[0] * w.dims[1])
	raw := w.raw
	if w.ext != nil {
		var err error
		if raw, err = onnxpb.ReadExternal(modelPath, *w.ext); err != nil {
			return nil, err
		}
	}
	if raw != nil {
		if len(raw) != 4*n {
			return nil, fmt.Errorf("initializer %q has %d bytes, want %d", w.name, len(raw), 4*n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	if len(w.floats) != n {
		return nil, fmt.Errorf("initializer %q has %d values, want %d", w.name, len(w.floats), n)
	}
	return w.floats, nil
}
