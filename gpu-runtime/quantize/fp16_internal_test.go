package quantize

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
)

// TestFP16Islands: RMSNorm over values near 1000 (x² ≈ 1e6, past fp16's
// 65504), a LayerNormalization and a masked Softmax: the converted graph
// computes x², its mean, +ε, √ and 1/√, the layer norm, the mask's Add and
// the softmax in float32
// (their float inputs typed float32 in the converted graph, the norm's
// weights kept float32), the MatMul in float16, keeps float32 I/O, and in
// ONNX Runtime gives float32's result within fp16's rounding.
func TestFP16Islands(t *testing.T) {
	const d = 8
	w := make([]float32, d*d)
	for i := range w {
		w[i] = float32(math.Sin(float64(i))) / d
	}
	ones := make([]float32, d)
	zeros := make([]float32, d)
	for i := range ones {
		ones[i] = 1
	}
	f := func(name string, v ...float32) onnxpb.Tensor {
		return onnxpb.Tensor{Name: name, DataType: onnxpb.Float, Dims: []int64{int64(len(v))}, Float32: v}
	}
	g := onnxpb.Graph{Name: "g",
		Nodes: []onnxpb.Node{
			{OpType: "Mul", Inputs: []string{"x", "x"}, Outputs: []string{"sq"}},
			{OpType: "ReduceMean", Inputs: []string{"sq"}, Outputs: []string{"ms"}, Attrs: []onnxpb.Attr{onnxpb.AInts("axes", -1)}},
			{OpType: "Add", Inputs: []string{"ms", "eps"}, Outputs: []string{"mse"}},
			{OpType: "Sqrt", Inputs: []string{"mse"}, Outputs: []string{"rms"}},
			{OpType: "Div", Inputs: []string{"one", "rms"}, Outputs: []string{"inv"}},
			{OpType: "Mul", Inputs: []string{"x", "inv"}, Outputs: []string{"normed"}},
			{OpType: "MatMul", Inputs: []string{"normed", "W"}, Outputs: []string{"h"}},
			{OpType: "LayerNormalization", Inputs: []string{"h", "gamma", "beta"}, Outputs: []string{"ln"}, Attrs: []onnxpb.Attr{onnxpb.AInt("axis", -1)}},
			{OpType: "Add", Inputs: []string{"ln", "mask"}, Outputs: []string{"masked"}},
			{OpType: "Softmax", Inputs: []string{"masked"}, Outputs: []string{"p"}, Attrs: []onnxpb.Attr{onnxpb.AInt("axis", -1)}},
		},
		Initializers: []onnxpb.Tensor{f("eps", 1e-6), f("one", 1), {Name: "W", DataType: onnxpb.Float, Dims: []int64{d, d}, Float32: w}, f("gamma", ones...), f("beta", zeros...), f("mask", 0, 0, -3.4e38, 0, 0, -3.4e38, 0, 0)},
		Inputs:       []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D(2, d)}},
		Outputs:      []onnxpb.ValueInfo{{Name: "p", ElemType: onnxpb.Float, Shape: onnxpb.D(2, d)}, {Name: "normed", ElemType: onnxpb.Float, Shape: onnxpb.D(2, d)}},
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.onnx"), filepath.Join(dir, "m_fp16.onnx")
	if err := (&onnxpb.Model{Graph: g}).WriteFile(in); err != nil {
		t.Fatal(err)
	}
	st, err := ConvertFP16File(in, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	// eps, one, gamma, beta and the mask are read by islands only: kept
	// float32
	if st.Converted != 1 || st.KeptFP32 != 5 || st.Clamped != 0 {
		t.Errorf("initializers: %d fp16, %d fp32; want W alone fp16", st.Converted, st.KeptFP32)
	}
	b, _ := os.ReadFile(out)
	top, _ := onnxpb.Fields(b)
	var cg *h16Graph
	for _, f := range top {
		if f.Bytes(onnxpb.FieldModelGraph) {
			if cg, err = decodeH16Graph(f.Payload, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cg.analyse(); err != nil {
		t.Fatal(err)
	}
	want := map[string]onnxpb.DataType{"Mul": onnxpb.Float, "ReduceMean": onnxpb.Float, "Add": onnxpb.Float, "Sqrt": onnxpb.Float,
		"Div": onnxpb.Float, "MatMul": onnxpb.Float16, "LayerNormalization": onnxpb.Float, "Softmax": onnxpb.Float}
	seen := map[string]bool{}
	for _, n := range cg.nodes {
		if n.op == "Cast" {
			continue
		}
		ty := cg.typeOf(n.inputs[len(n.inputs)-1])
		if n.op == "Mul" && n.inputs[0] != n.inputs[1] {
			ty, seen["x·inv"] = cg.typeOf(n.inputs[0]), true // x · 1/rms runs in fp16
			if ty != onnxpb.Float16 {
				t.Errorf("x·inv computes in %s", ty)
			}
			continue
		}
		seen[n.op] = true
		if ty != want[n.op] {
			t.Errorf("%s computes in %s, want %s", n.op, ty, want[n.op])
		}
	}
	if len(seen) != len(want)+1 {
		t.Errorf("nodes seen: %v", seen)
	}
	for _, v := range append(cg.inputs, cg.outputs...) {
		if v.elem != onnxpb.Float {
			t.Errorf("graph I/O %s is %s", v.name, v.elem)
		}
	}

	if _, err := ort.Init(); err != nil {
		t.Skip(err)
	}
	x := make([]float32, 2*d)
	for i := range x {
		x[i] = 900 + 37*float32(i%5) - 400*float32(i%2)
	}
	run := func(path string) [][]float32 {
		s, err := ort.NewSession(path, ort.Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		xv, _ := ort.NewTensor([]int64{2, d}, x)
		defer xv.Destroy()
		ys := []ort.Value{{}, {}}
		if err := s.Run([]ort.Value{xv}, ys); err != nil {
			t.Fatal(err)
		}
		var out [][]float32
		for _, y := range ys {
			v, _ := ort.Data[float32](y)
			out = append(out, append([]float32(nil), v...))
			y.Destroy()
		}
		return out
	}
	a, h := run(in), run(out)
	for k := range a {
		for i := range a[k] {
			if math.IsNaN(float64(h[k][i])) || math.Abs(float64(a[k][i]-h[k][i])) > 4e-3*(1+math.Abs(float64(a[k][i]))) {
				t.Errorf("output %d[%d]: fp16 %g, fp32 %g", k, i, h[k][i], a[k][i])
			}
		}
	}
}
