package onnxpb_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
)

// q8Block is a DynamicQuantizeLinear + MatMulInteger + Cast + Mul product
// of x with the uint8 weight w (zero point zp), as q8 files hold them.
func q8Block(x, w, zp, scale, y string) []onnxpb.Node {
	return []onnxpb.Node{
		{OpType: "DynamicQuantizeLinear", Inputs: []string{x}, Outputs: []string{y + "_xq", y + "_xs", y + "_xz"}},
		{OpType: "MatMulInteger", Inputs: []string{y + "_xq", w, y + "_xz", zp}, Outputs: []string{y + "_i32"}},
		{OpType: "Cast", Inputs: []string{y + "_i32"}, Outputs: []string{y + "_f"}, Attrs: []onnxpb.Attr{onnxpb.AInt("to", int64(onnxpb.Float))}},
		{OpType: "Mul", Inputs: []string{y + "_xs", scale}, Outputs: []string{y + "_s"}},
		{OpType: "Mul", Inputs: []string{y + "_f", y + "_s"}, Outputs: []string{y}},
	}
}

// signedTestModel: four q8 products of x (k=8 → n=6).
//   - y1, y2: W1 and W2 sharing the zero point Z: converted;
//   - y3: W3 is also read by a DequantizeLinear (a table shared with an
//     embedding): W3 and its zero point Z3 stay uint8, and so does y3;
//   - y4: W4 held in int32_data (as some exporters write small tensors),
//     zero point Z4 in int32_data too: converted.
//
// The weights stay within 128 ± 50, so no u8×s8 kernel can saturate a
// 16-bit pair sum (2 · 255 · 50 < 32767) on any processor: both models give
// the same numbers everywhere.
func signedTestModel() *onnxpb.Model {
	const k, n = 8, 6
	w := func(seed int) []byte {
		b := make([]byte, k*n)
		for i := range b {
			b[i] = byte(128 + (i*37+seed*11)%101 - 50)
		}
		return b
	}
	w4 := make([]int32, k*n)
	for i, v := range w(4) {
		w4[i] = int32(v)
	}
	sc := []float32{0.01, 0.02, 0.03, 0.015, 0.025, 0.05}
	var nodes []onnxpb.Node
	nodes = append(nodes, q8Block("x", "W1", "Z", "S", "y1")...)
	nodes = append(nodes, q8Block("x", "W2", "Z", "S", "y2")...)
	nodes = append(nodes, q8Block("x", "W3", "Z3", "S", "y3")...)
	nodes = append(nodes, q8Block("x", "W4", "Z4", "S", "y4")...)
	nodes = append(nodes, onnxpb.Node{OpType: "DequantizeLinear", Inputs: []string{"W3", "S0", "Z3"}, Outputs: []string{"table"}})
	return &onnxpb.Model{Graph: onnxpb.Graph{Name: "q8",
		Nodes: nodes,
		Initializers: []onnxpb.Tensor{
			{Name: "W1", DataType: onnxpb.Uint8, Dims: []int64{k, n}, Raw: w(1)},
			{Name: "W2", DataType: onnxpb.Uint8, Dims: []int64{k, n}, Raw: w(2)},
			{Name: "W3", DataType: onnxpb.Uint8, Dims: []int64{k, n}, Raw: w(3)},
			{Name: "W4", DataType: onnxpb.Uint8, Dims: []int64{k, n}, Int32: w4},
			{Name: "Z", DataType: onnxpb.Uint8, Raw: []byte{128}},
			{Name: "Z3", DataType: onnxpb.Uint8, Raw: []byte{128}},
			{Name: "Z4", DataType: onnxpb.Uint8, Int32: []int32{130}},
			{Name: "S", DataType: onnxpb.Float, Dims: []int64{n}, Float32: sc},
			{Name: "S0", DataType: onnxpb.Float, Float32: []float32{0.5}},
		},
		Inputs: []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D("rows", k)}},
		Outputs: []onnxpb.ValueInfo{
			{Name: "y1", ElemType: onnxpb.Float, Shape: onnxpb.D("rows", n)},
			{Name: "y2", ElemType: onnxpb.Float, Shape: onnxpb.D("rows", n)},
			{Name: "y3", ElemType: onnxpb.Float, Shape: onnxpb.D("rows", n)},
			{Name: "y4", ElemType: onnxpb.Float, Shape: onnxpb.D("rows", n)},
			{Name: "table", ElemType: onnxpb.Float, Shape: onnxpb.D(k, n)},
		},
	}}
}

// initTensor is an initializer as the rewritten bytes hold it.
type initTensor struct {
	dt    onnxpb.DataType
	raw   []byte
	int32 []int32
}

func initializers(t *testing.T, model []byte) map[string]initTensor {
	t.Helper()
	out := map[string]initTensor{}
	top, err := onnxpb.Fields(model)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range top {
		if !f.Bytes(onnxpb.FieldModelGraph) {
			continue
		}
		gf, err := onnxpb.Fields(f.Payload)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gf {
			if !g.Bytes(onnxpb.FieldGraphInit) {
				continue
			}
			tf, err := onnxpb.Fields(g.Payload)
			if err != nil {
				t.Fatal(err)
			}
			var name string
			var it initTensor
			for _, x := range tf {
				switch {
				case x.Bytes(onnxpb.FieldTensorName):
					name = string(x.Payload)
				case x.Num == onnxpb.FieldTensorDataType:
					it.dt = onnxpb.DataType(x.Varint())
				case x.Bytes(onnxpb.FieldTensorRaw):
					it.raw = x.Payload
				case x.Bytes(5): // int32_data, packed
					for p := x.Payload; len(p) > 0; {
						v, n := binary.Uvarint(p)
						p = p[n:]
						it.int32 = append(it.int32, int32(v))
					}
				}
			}
			out[name] = it
		}
	}
	return out
}

func rewritten(t *testing.T, r *onnxpb.Rewrite) []byte {
	t.Helper()
	var b bytes.Buffer
	n, err := r.WriteTo(&b)
	if err != nil || n != r.Size() || int64(b.Len()) != n {
		t.Fatalf("WriteTo: %d bytes of %d, %v", n, r.Size(), err)
	}
	return b.Bytes()
}

func TestSignedWeightsConvertsOnlyMatMulIntegerWeights(t *testing.T) {
	src := signedTestModel().Marshal()
	r, err := onnxpb.SignedWeights(src)
	if err != nil {
		t.Fatal(err)
	}
	if r.Nodes != 3 || r.Weights != 5 || r.Bytes != 3*48+2 {
		t.Fatalf("converted %d nodes, %d weights, %d values; want 3, 5 (W1, W2, Z, W4, Z4), 146", r.Nodes, r.Weights, r.Bytes)
	}
	before, after := initializers(t, src), initializers(t, rewritten(t, r))
	for _, name := range []string{"W1", "W2", "Z"} {
		b, a := before[name], after[name]
		if a.dt != onnxpb.Int8 || len(a.raw) != len(b.raw) {
			t.Fatalf("%s: %v, %d bytes", name, a.dt, len(a.raw))
		}
		for i := range a.raw {
			if int(int8(a.raw[i])) != int(b.raw[i])-128 {
				t.Fatalf("%s[%d] = %d, want %d - 128", name, i, int8(a.raw[i]), b.raw[i])
			}
		}
	}
	for _, name := range []string{"W4", "Z4"} {
		b, a := before[name], after[name]
		if a.dt != onnxpb.Int8 || len(a.int32) != len(b.int32) {
			t.Fatalf("%s: %v, %d values", name, a.dt, len(a.int32))
		}
		for i := range a.int32 {
			if a.int32[i] != b.int32[i]-128 {
				t.Fatalf("%s[%d] = %d, want %d - 128", name, i, a.int32[i], b.int32[i])
			}
		}
	}
	for _, name := range []string{"W3", "Z3", "S", "S0"} {
		if b, a := before[name], after[name]; a.dt != b.dt || !bytes.Equal(a.raw, b.raw) || !slices.Equal(a.int32, b.int32) {
			t.Errorf("%s changed (%v → %v)", name, b.dt, a.dt)
		}
	}

	// W4 and Z4 hold int32_data, whose re-encoding changes lengths: no
	// in-place rewrite, and the bytes are left as they were.
	same := bytes.Clone(src)
	if r.InPlace(same) || !bytes.Equal(same, src) {
		t.Error("InPlace changed a model whose rewrite changes lengths")
	}
	m := signedTestModel()
	for i := range m.Graph.Initializers {
		if in := &m.Graph.Initializers[i]; in.Int32 != nil {
			for _, v := range in.Int32 {
				in.Raw = append(in.Raw, byte(v))
			}
			in.Int32 = nil
		}
	}
	raw := m.Marshal()
	rr, err := onnxpb.SignedWeights(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := rewritten(t, rr)
	if !rr.InPlace(raw) || !bytes.Equal(raw, want) {
		t.Error("InPlace differs from WriteTo's rewrite")
	}
	if again, _ := onnxpb.SignedWeights(raw); again.Nodes != 0 {
		t.Errorf("a converted model converts again: %d nodes", again.Nodes)
	}

	// The same numbers from both files, on any processor (no saturation).
	if _, err := ort.Init(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "u8.onnx"), filepath.Join(dir, "s8.onnx")}
	os.WriteFile(paths[0], src, 0o644)
	os.WriteFile(paths[1], rewritten(t, r), 0o644)
	x := make([]float32, 3*8)
	for i := range x {
		x[i] = float32((i*29)%17)/3 - 2.5
	}
	var outs [2][][]float32
	for i, p := range paths {
		s, err := ort.NewSession(p, ort.Options{IntraOpThreads: 1, Int8Weights: "off"})
		if err != nil {
			t.Fatal(err)
		}
		in, _ := ort.NewTensor([]int64{3, 8}, x)
		out := make([]ort.Value, 5)
		if err := s.Run([]ort.Value{in}, out); err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			v, _ := ort.Data[float32](o)
			outs[i] = append(outs[i], slices.Clone(v))
			o.Destroy()
		}
		in.Destroy()
		s.Close()
	}
	for j := range outs[0] {
		if !slices.Equal(outs[0][j], outs[1][j]) {
			t.Errorf("output %d: uint8 weights %v, int8 weights %v", j, outs[0][j], outs[1][j])
		}
	}
	if slices.Equal(outs[0][0], outs[0][1]) {
		t.Error("y1 = y2: the test weights do not differ")
	}
}

// A weight read inside a subgraph by anything but MatMulInteger, or a
// subgraph value shadowing its name, keeps it uint8; a model with nothing
// to convert is written back byte for byte.
func TestSignedWeightsRespectsSubgraphs(t *testing.T) {
	m := signedTestModel()
	branch := func(op string, in ...string) *onnxpb.Graph {
		return &onnxpb.Graph{Name: "b", Nodes: []onnxpb.Node{{OpType: op, Inputs: in, Outputs: []string{"o"}}},
			Outputs: []onnxpb.ValueInfo{{Name: "o", ElemType: onnxpb.Uint8}}}
	}
	m.Graph.Inputs = append(m.Graph.Inputs, onnxpb.ValueInfo{Name: "c", ElemType: onnxpb.Bool, Shape: onnxpb.D()})
	m.Graph.Nodes = append(m.Graph.Nodes, onnxpb.Node{OpType: "If", Inputs: []string{"c"}, Outputs: []string{"picked"},
		Attrs: []onnxpb.Attr{onnxpb.AGraph("then_branch", branch("Identity", "W1")), onnxpb.AGraph("else_branch", branch("Identity", "Z4"))}})
	r, err := onnxpb.SignedWeights(m.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	// W1 (and with it Z, shared with W2) and Z4 (with W4) are read by Identity
	if r.Nodes != 0 || r.Weights != 0 {
		t.Fatalf("converted %d nodes, %d weights; want none", r.Nodes, r.Weights)
	}
	src := m.Marshal()
	if got := rewritten(t, r); !bytes.Equal(got, src) {
		t.Error("a model with nothing to convert was changed")
	}

	// MatMulInteger inside a branch, reading the outer weights: converted
	m = signedTestModel()
	sub := &onnxpb.Graph{Name: "mm", Nodes: []onnxpb.Node{{OpType: "MatMulInteger", Inputs: []string{"y1_xq", "W2", "y1_xz", "Z"}, Outputs: []string{"o"}}},
		Outputs: []onnxpb.ValueInfo{{Name: "o", ElemType: onnxpb.Int32}}}
	m.Graph.Nodes = append(m.Graph.Nodes, onnxpb.Node{OpType: "If", Inputs: []string{"c"}, Outputs: []string{"picked"},
		Attrs: []onnxpb.Attr{onnxpb.AGraph("then_branch", sub), onnxpb.AGraph("else_branch", sub)}})
	if r, err = onnxpb.SignedWeights(m.Marshal()); err != nil || r.Nodes != 5 || r.Weights != 5 {
		t.Fatalf("with MatMulIntegers in both branches: %d nodes, %d weights, %v; want 5, 5", r.Nodes, r.Weights, err)
	}

	if _, err := onnxpb.SignedWeights([]byte{0x0a, 0xff}); err == nil {
		t.Error("a truncated model was accepted")
	}
}
