package quantize

import (
	"fmt"
	"math"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// qweight is a quantised weight's initializers (made once, shared by every
// MatMul reading the weight, e.g. in both branches of a merged decoder).
type qweight struct {
	k, n    int
	names   []string // q8: quantised, scale, zero point; q4: packed, scales[, zero points]
	tensors []onnxpb.Tensor
	deq     func(i, j int) float32 // the dequantised B[i][j]
}

type quantizer struct {
	path  string
	o     Options
	s     *scan
	res   *FileResult
	done  map[string]*qweight
	rel   map[string]float64
	cos   map[string]float64
	inits []onnxpb.Tensor
	// planned: how many inputs naming a value will be gone after the rewrite
	gone map[string]int
}

// source says which constant a MatMul's B is: an initializer, or the
// transpose of one.
func (q *quantizer) source(b string) (w *weight, transposed bool) {
	if w := q.s.weights[b]; w != nil {
		return w, false
	}
	if t, ok := q.s.transpose[b]; ok {
		if w := q.s.weights[t]; w != nil {
			return w, true
		}
	}
	return nil, false
}

// eligible says whether n is rewritten, and why not.
func (q *quantizer) eligible(n node) (*weight, bool, string) {
	if n.op != "MatMul" || n.domain != "" || len(n.inputs) != 2 || len(n.outputs) != 1 {
		return nil, false, "not a MatMul"
	}
	w, tr := q.source(n.inputs[1])
	if w == nil {
		return nil, false, "B is not a constant 2-D float32 initializer"
	}
	if q.o.KeepEmbeddings && q.s.nonMatMul[w.name] {
		return nil, false, "an embedding (also read by " + "another node), kept by --keep-embeddings"
	}
	return w, tr, ""
}

// gatherTable is the constant table a Gather over axis 0 reads, when
// embeddings are quantised.
func (q *quantizer) gatherTable(n node) *weight {
	if !q.o.QuantizeEmbeddings || n.op != "Gather" || n.domain != "" || n.axis != 0 || len(n.inputs) != 2 || len(n.outputs) != 1 {
		return nil
	}
	return q.s.weights[n.inputs[0]]
}

// plan counts the inputs the rewrite removes, so that a Transpose only the
// rewritten MatMuls read, and a float32 weight nothing else reads, go.
func (q *quantizer) plan(g []byte) error {
	fs, err := onnxpb.Fields(g)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if !f.Bytes(onnxpb.FieldGraphNode) {
			continue
		}
		n, err := decodeNode(f.Payload)
		if err != nil {
			return err
		}
		if _, _, why := q.eligible(n); why == "" {
			q.gone[n.inputs[1]]++
		}
		if q.gatherTable(n) != nil {
			q.gone[n.inputs[0]]++
		}
		for _, sub := range n.graphs {
			if err := q.plan(sub); err != nil {
				return err
			}
		}
	}
	return nil
}

func (q *quantizer) droppedTranspose(n node) bool {
	if n.op != "Transpose" || len(n.outputs) != 1 {
		return false
	}
	t, ok := q.s.transpose[n.outputs[0]]
	return ok && q.s.weights[t] != nil && q.gone[n.outputs[0]] > 0 && q.gone[n.outputs[0]] == q.s.uses[n.outputs[0]]
}

func (q *quantizer) graph(g []byte, main bool) ([]byte, error) {
	if main {
		q.gone = map[string]int{}
		if err := q.plan(g); err != nil {
			return nil, err
		}
		// a weight's transposes that go count as its own uses gone
		for out, w := range q.s.transpose {
			if q.gone[out] > 0 && q.gone[out] == q.s.uses[out] {
				q.gone[w]++
			}
		}
	}
	fs, err := onnxpb.Fields(g)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, f := range fs {
		switch {
		case f.Bytes(onnxpb.FieldGraphNode):
			n, err := decodeNode(f.Payload)
			if err != nil {
				return nil, err
			}
			if q.droppedTranspose(n) {
				continue
			}
			if t := q.gatherTable(n); t != nil {
				nodes, err := q.gather(n, t)
				if err != nil {
					return nil, err
				}
				for i := range nodes {
					out = onnxpb.AppendBytes(out, onnxpb.FieldGraphNode, onnxpb.MarshalNode(&nodes[i]))
				}
				continue
			}
			w, tr, why := q.eligible(n)
			if why == "" {
				nodes, err := q.rewrite(n, w, tr)
				if err != nil {
					return nil, err
				}
				for i := range nodes {
					out = onnxpb.AppendBytes(out, onnxpb.FieldGraphNode, onnxpb.MarshalNode(&nodes[i]))
				}
				continue
			}
			if n.op == "Gemm" && len(n.inputs) > 1 {
				if w, _ := q.source(n.inputs[1]); w != nil {
					q.res.Skipped = append(q.res.Skipped, Node{Node: n.name, Op: "Gemm", Weight: w.name, Reason: "Gemm is left float32"})
				}
			}
			if len(n.graphs) > 0 {
				p, err := q.nodeWithSubgraphs(f.Payload)
				if err != nil {
					return nil, err
				}
				out = onnxpb.AppendBytes(out, onnxpb.FieldGraphNode, p)
				continue
			}
			out = append(out, f.Raw...)
		case f.Bytes(onnxpb.FieldGraphInit):
			w, err := decodeWeight(f.Payload)
			if err != nil {
				return nil, err
			}
			if w != nil && q.gone[w.name] > 0 && q.gone[w.name] == q.s.uses[w.name] {
				continue // every reader was rewritten
			}
			out = append(out, f.Raw...)
		default:
			out = append(out, f.Raw...)
		}
	}
	if main {
		for i := range q.inits {
			out = onnxpb.AppendBytes(out, onnxpb.FieldGraphInit, onnxpb.MarshalTensor(&q.inits[i]))
		}
	}
	return out, nil
}

func (q *quantizer) nodeWithSubgraphs(p []byte) ([]byte, error) {
	fs, err := onnxpb.Fields(p)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, f := range fs {
		if !f.Bytes(onnxpb.FieldNodeAttribute) {
			out = append(out, f.Raw...)
			continue
		}
		af, err := onnxpb.Fields(f.Payload)
		if err != nil {
			return nil, err
		}
		var attr []byte
		for _, a := range af {
			if a.Bytes(onnxpb.FieldAttrG) || a.Bytes(onnxpb.FieldAttrGraphs) {
				g, err := q.graph(a.Payload, false)
				if err != nil {
					return nil, err
				}
				attr = onnxpb.AppendBytes(attr, a.Num, g)
				continue
			}
			attr = append(attr, a.Raw...)
		}
		out = onnxpb.AppendBytes(out, onnxpb.FieldNodeAttribute, attr)
	}
	return out, nil
}

// rewrite replaces MatMul(A, W) with its quantised form.
func (q *quantizer) rewrite(n node, w *weight, tr bool) ([]onnxpb.Node, error) {
	key := w.name
	if tr {
		key += "_T"
	}
	qw := q.done[key]
	if qw == nil {
		vals, err := w.values(q.path)
		if err != nil {
			return nil, err
		}
		k, nn := int(w.dims[0]), int(w.dims[1])
		at := func(i, j int) float32 { return vals[i*nn+j] } // B[i][j], B = stored
		if tr {
			k, nn = nn, k
			stored := int(w.dims[1])
			at = func(i, j int) float32 { return vals[j*stored+i] } // B = stored^T
		}
		if q.o.DType == "q8" {
			qw = quantizeQ8(key, k, nn, at)
		} else {
			qw = quantizeNBits(key, k, nn, at, q.o.Bits, q.o.Block, q.o.Symmetric)
		}
		rel, cos := measure(k, nn, at, qw.deq, q.o.DType == "q8")
		q.rel[key], q.cos[key] = rel, cos
		q.done[key] = qw
		q.res.WeightBytesBefore += int64(4 * k * nn)
		for _, t := range qw.tensors {
			q.res.WeightBytesAfter += int64(len(t.Raw) + 4*len(t.Float32))
		}
		q.inits = append(q.inits, qw.tensors...)
	}
	y := n.outputs[0]
	a := n.inputs[0]
	p := y
	rec := Node{Node: n.name, Op: "MatMul", Weight: key, K: qw.k, N: qw.n, RelErr: q.rel[key], Cosine: q.cos[key]}
	var nodes []onnxpb.Node
	if q.o.DType == "q8" {
		rec.As = "DynamicQuantizeLinear+MatMulInteger"
		nodes = []onnxpb.Node{
			{OpType: "DynamicQuantizeLinear", Name: p + "/quant", Inputs: []string{a}, Outputs: []string{p + "/A_q", p + "/A_scale", p + "/A_zp"}},
			{OpType: "MatMulInteger", Name: p + "/matmul_int", Inputs: []string{p + "/A_q", qw.names[0], p + "/A_zp", qw.names[2]}, Outputs: []string{p + "/int32"}},
			{OpType: "Cast", Name: p + "/cast", Inputs: []string{p + "/int32"}, Outputs: []string{p + "/float"}, Attrs: []onnxpb.Attr{onnxpb.AInt("to", int64(onnxpb.Float))}},
			{OpType: "Mul", Name: p + "/scales", Inputs: []string{p + "/A_scale", qw.names[1]}, Outputs: []string{p + "/scale"}},
			{OpType: "Mul", Name: n.name, Inputs: []string{p + "/float", p + "/scale"}, Outputs: []string{y}},
		}
	} else {
		rec.As = fmt.Sprintf("MatMulNBits(bits=%d,block=%d)", q.o.Bits, q.o.Block)
		attrs := []onnxpb.Attr{onnxpb.AInt("K", int64(qw.k)), onnxpb.AInt("N", int64(qw.n)), onnxpb.AInt("bits", int64(q.o.Bits)), onnxpb.AInt("block_size", int64(q.o.Block))}
		if q.o.AccuracyLevel > 0 {
			attrs = append(attrs, onnxpb.AInt("accuracy_level", int64(q.o.AccuracyLevel)))
		}
		nodes = []onnxpb.Node{{OpType: "MatMulNBits", Domain: "com.microsoft", Name: n.name, Inputs: append([]string{a}, qw.names...), Outputs: []string{y}, Attrs: attrs}}
	}
	q.res.Quantized = append(q.res.Quantized, rec)
	return nodes, nil
}

// quantizeQ8: uint8 weights, symmetric per output column (zero point 128,
// values 1..255), scale = max|B[:,j]|/127.
func quantizeQ8(name string, k, n int, at func(i, j int) float32) *qweight {
	scales := make([]float32, n)
	for j := range n {
		var m float64
		for i := range k {
			m = math.Max(m, math.Abs(float64(at(i, j))))
		}
		s := m / 127
		if s == 0 {
			s = 1
		}
		scales[j] = float32(s)
	}
	raw := make([]byte, k*n)
	for i := range k {
		for j := range n {
			v := math.RoundToEven(float64(at(i, j))/float64(scales[j])) + 128
			raw[i*n+j] = uint8(min(255, max(1, v)))
		}
	}
	qn, sn, zn := name+"_quantized", name+"_scale", name+"_zero_point"
	deq := func(i, j int) float32 { return (float32(raw[i*n+j]) - 128) * scales[j] }
	return &qweight{k: k, n: n, deq: deq, names: []string{qn, sn, zn}, tensors: []onnxpb.Tensor{
		{Name: qn, DataType: onnxpb.Uint8, Dims: []int64{int64(k), int64(n)}, Raw: raw},
		{Name: sn, DataType: onnxpb.Float, Dims: []int64{int64(n)}, Float32: scales},
		{Name: zn, DataType: onnxpb.Uint8, Raw: []byte{128}},
	}}
}

// quantizeNBits packs B (K×N) for MatMulNBits: B as uint8 [N, blocks,
// blob] with column j's K values in blocks along K (the first of two 4-bit
// values in the low nibble), scales float32 [N, blocks], and, asymmetric,
// zero points uint8 [N, ceil(blocks·bits/8)] packed the same way.
// Symmetric blocks have the zero point 2^(bits-1) that MatMulNBits assumes
// without a zero_points input, and a scale that maps the block's largest
// magnitude to the most negative level exactly.
func quantizeNBits(name string, k, n int, at func(i, j int) float32, bits, block int, symmetric bool) *qweight {
	blocks := (k + block - 1) / block
	blob := block * bits / 8
	levels := 1<<bits - 1
	mid := 1 << (bits - 1)
	packed := make([]byte, n*blocks*blob)
	scales := make([]float32, n*blocks)
	zpRow := (blocks*bits + 7) / 8
	var zps []byte
	if !symmetric {
		zps = make([]byte, n*zpRow)
	}
	put := func(dst []byte, idx, v int) {
		if bits == 8 {
			dst[idx] = byte(v)
			return
		}
		if idx%2 == 0 {
			dst[idx/2] |= byte(v)
		} else {
			dst[idx/2] |= byte(v) << 4
		}
	}
	vals := make([]float64, block)
	for j := range n {
		for b := range blocks {
			for t := range block {
				i := b*block + t
				vals[t] = 0
				if i < k {
					vals[t] = float64(at(i, j))
				}
			}
			var scale float64
			zp := mid
			if symmetric {
				var m float64
				for _, v := range vals {
					if math.Abs(v) > math.Abs(m) {
						m = v
					}
				}
				scale = -m / float64(mid)
			} else {
				lo, hi := 0.0, 0.0
				for _, v := range vals {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
				scale = (hi - lo) / float64(levels)
				if scale != 0 {
					zp = int(min(float64(levels), max(0, math.RoundToEven(-lo/scale))))
				}
			}
			if scale == 0 {
				scale = 1
			}
			scales[j*blocks+b] = float32(scale)
			s := float64(float32(scale))
			base := (j*blocks + b) * block
			for t, v := range vals {
				qv := int(min(float64(levels), max(0, math.RoundToEven(v/s)+float64(zp))))
				put(packed, base+t, qv)
			}
			if !symmetric {
				put(zps[j*zpRow:], b, zp)
			}
		}
	}
	pn, sn, zn := name+"_Q"+fmt.Sprint(bits), name+"_scales", name+"_zero_points"
	get := func(p []byte, idx int) int {
		if bits == 8 {
			return int(p[idx])
		}
		return int(p[idx/2]>>(4*(idx%2))) & 15
	}
	deq := func(i, j int) float32 {
		b := i / block
		zp := mid
		if !symmetric {
			zp = get(zps[j*zpRow:], b)
		}
		return float32(get(packed, (j*blocks+b)*block+i%block)-zp) * scales[j*blocks+b]
	}
	qw := &qweight{k: k, n: n, deq: deq, names: []string{pn, sn}, tensors: []onnxpb.Tensor{
		{Name: pn, DataType: onnxpb.Uint8, Dims: []int64{int64(n), int64(blocks), int64(blob)}, Raw: packed},
		{Name: sn, DataType: onnxpb.Float, Dims: []int64{int64(n), int64(blocks)}, Float32: scales},
	}}
	if !symmetric {
		qw.names = append(qw.names, zn)
		qw.tensors = append(qw.tensors, onnxpb.Tensor{Name: zn, DataType: onnxpb.Uint8, Dims: []int64{int64(n), int64(zpRow)}, Raw: zps})
	}
	return qw
}

// gather replaces Gather(table, ids) with a Gather of the uint8 table
// (symmetric, zero point 128, a scale per row) and of the row scales, then
// (q − 128)·scale.
func (q *quantizer) gather(n node, w *weight) ([]onnxpb.Node, error) {
	key := w.name + "_rows"
	qw := q.done[key]
	if qw == nil {
		vals, err := w.values(q.path)
		if err != nil {
			return nil, err
		}
		rows, cols := int(w.dims[0]), int(w.dims[1])
		raw := make([]byte, rows*cols)
		scales := make([]float32, rows)
		for r := range rows {
			var m float64
			for c := range cols {
				m = math.Max(m, math.Abs(float64(vals[r*cols+c])))
			}
			s := m / 127
			if s == 0 {
				s = 1
			}
			scales[r] = float32(s)
			for c := range cols {
				v := math.RoundToEven(float64(vals[r*cols+c])/float64(scales[r])) + 128
				raw[r*cols+c] = uint8(min(255, max(1, v)))
			}
		}
		qn, sn, zn := key+"_quantized", key+"_scale", key+"_zero_point"
		qw = &qweight{k: rows, n: cols, names: []string{qn, sn, zn}, tensors: []onnxpb.Tensor{
			{Name: qn, DataType: onnxpb.Uint8, Dims: []int64{int64(rows), int64(cols)}, Raw: raw},
			{Name: sn, DataType: onnxpb.Float, Dims: []int64{int64(rows), 1}, Float32: scales},
			{Name: zn, DataType: onnxpb.Float, Float32: []float32{128}},
		}}
		var dd, yy float64
		for r := range rows {
			for c := range cols {
				a := float64(vals[r*cols+c])
				b := (float64(raw[r*cols+c]) - 128) * float64(scales[r])
				dd += (a - b) * (a - b)
				yy += a * a
			}
		}
		q.rel[key] = math.Sqrt(dd / max(yy, 1e-30))
		q.cos[key] = 1 - q.rel[key]*q.rel[key]/2 // ≈ cosine of table and its rounding
		q.done[key] = qw
		q.inits = append(q.inits, qw.tensors...)
		q.res.WeightBytesBefore += int64(4 * rows * cols)
		q.res.WeightBytesAfter += int64(len(raw) + 4*rows + 4)
	}
	y, ids := n.outputs[0], n.inputs[1]
	p := y
	q.res.Quantized = append(q.res.Quantized, Node{Node: n.name, Op: "Gather", Weight: w.name, K: qw.k, N: qw.n,
		As: "Gather(uint8)+Gather(scales)", RelErr: q.rel[key], Cosine: q.cos[key]})
	return []onnxpb.Node{
		{OpType: "Gather", Name: p + "/gather_q", Inputs: []string{qw.names[0], ids}, Outputs: []string{p + "/q"}},
		{OpType: "Cast", Name: p + "/cast", Inputs: []string{p + "/q"}, Outputs: []string{p + "/qf"}, Attrs: []onnxpb.Attr{onnxpb.AInt("to", int64(onnxpb.Float))}},
		{OpType: "Sub", Name: p + "/center", Inputs: []string{p + "/qf", qw.names[2]}, Outputs: []string{p + "/c"}},
		{OpType: "Gather", Name: p + "/gather_scale", Inputs: []string{qw.names[1], ids}, Outputs: []string{p + "/s"}},
		{OpType: "Mul", Name: n.name, Inputs: []string{p + "/c", p + "/s"}, Outputs: []string{y}},
	}, nil
}
