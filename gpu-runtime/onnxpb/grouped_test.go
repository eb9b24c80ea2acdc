package onnxpb_test

import (
	"bytes"
	"maps"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/orttest"
)

// attentionGraph is grouped-query attention as torch exports it: the
// repeat's Expand and Reshape shapes built at run time from Shape, Gather,
// Unsqueeze and Concat (through Where(Equal(shape, -1), ones, shape) for
// the Expand), the scale √(1/√d) on both the queries and the transposed
// keys, and, for the values, a Constant shape. 6 query heads, 2 key/value
// heads, 4 values a head; the heads' outputs joined and projected to 5
// "logits". mutate may change the graph before it is written.
func attentionGraph(t *testing.T, path string, mutate func(g *onnxpb.Graph)) {
	t.Helper()
	i64 := func(name string, v ...int64) onnxpb.Tensor {
		return onnxpb.Tensor{Name: name, DataType: onnxpb.Int64, Dims: []int64{int64(len(v))}, Int64: v}
	}
	scalar := func(name string, v int64) onnxpb.Tensor {
		return onnxpb.Tensor{Name: name, DataType: onnxpb.Int64, Int64: []int64{v}}
	}
	n := func(op string, in []string, out string, attrs ...onnxpb.Attr) onnxpb.Node {
		return onnxpb.Node{OpType: op, Name: out, Inputs: in, Outputs: []string{out}, Attrs: attrs}
	}
	sq := float32(math.Sqrt(1 / math.Sqrt(4)))
	g := onnxpb.Graph{Name: "gqa",
		Nodes: []onnxpb.Node{
			n("Shape", []string{"k"}, "shp"),
			n("Gather", []string{"shp", "zero"}, "b"),
			n("Gather", []string{"shp", "two"}, "t"),
			n("Unsqueeze", []string{"b", "axis0"}, "ub"),
			n("Unsqueeze", []string{"t", "axis0"}, "ut"),
			n("Concat", []string{"ub", "kv", "g", "ut", "d"}, "eshape", onnxpb.AInt("axis", 0)),
			n("Equal", []string{"eshape", "minus1"}, "eq"),
			n("Where", []string{"eq", "ones", "eshape"}, "eshape2"),
			n("Unsqueeze", []string{"k", "axis2"}, "uk"),
			n("Expand", []string{"uk", "eshape2"}, "ek"),
			n("Concat", []string{"ub", "h", "ut", "d"}, "rshape", onnxpb.AInt("axis", 0)),
			n("Reshape", []string{"ek", "rshape"}, "rk"),
			n("Transpose", []string{"rk"}, "kt", onnxpb.AInts("perm", 0, 1, 3, 2)),
			n("Mul", []string{"kt", "sq"}, "kts"),
			n("Mul", []string{"q", "sq"}, "qs"),
			n("MatMul", []string{"qs", "kts"}, "scores"),
			n("Softmax", []string{"scores"}, "p", onnxpb.AInt("axis", -1)),
			n("Unsqueeze", []string{"v", "axis2"}, "uv"),
			n("Expand", []string{"uv", "eshape_v"}, "ev"),
			{OpType: "Constant", Name: "vshape", Outputs: []string{"vshape"}, Attrs: []onnxpb.Attr{
				{Name: "value", Type: onnxpb.AttrTensor, T: &onnxpb.Tensor{DataType: onnxpb.Int64, Dims: []int64{4}, Int64: []int64{0, 6, -1, 4}}}}},
			n("Reshape", []string{"ev", "vshape"}, "rv"),
			n("MatMul", []string{"p", "rv"}, "o"),
			n("Transpose", []string{"o"}, "ot", onnxpb.AInts("perm", 0, 2, 1, 3)),
			n("Reshape", []string{"ot", "flat"}, "x"),
			n("MatMul", []string{"x", "W"}, "logits"),
		},
		Initializers: []onnxpb.Tensor{
			scalar("zero", 0), scalar("two", 2), i64("axis0", 0), i64("axis2", 2),
			i64("kv", 2), i64("g", 3), i64("d", 4), i64("h", 6), i64("minus1", -1), i64("ones", 1, 1, 1, 1, 1),
			i64("eshape_v", 1, 1, 3, 1, 1),
			{Name: "sq", DataType: onnxpb.Float, Float32: []float32{sq}},
			i64("flat", 0, 0, 24),
			{Name: "W", DataType: onnxpb.Float, Dims: []int64{24, 5}, Float32: func() []float32 {
				w := make([]float32, 120)
				for i := range w {
					w[i] = float32(math.Cos(float64(i)))
				}
				return w
			}()},
		},
		Inputs: []onnxpb.ValueInfo{
			{Name: "q", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", 6, "seq", 4)},
			{Name: "k", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", 2, "total", 4)},
			{Name: "v", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", 2, "total", 4)},
		},
		Outputs: []onnxpb.ValueInfo{{Name: "logits", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", "seq", 5)}},
	}
	if mutate != nil {
		mutate(&g)
	}
	m := &onnxpb.Model{Graph: g}
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

func opCounts(t *testing.T, model []byte) map[string]int {
	t.Helper()
	top, err := onnxpb.Fields(model)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, f := range top {
		if !f.Bytes(onnxpb.FieldModelGraph) {
			continue
		}
		gf, _ := onnxpb.Fields(f.Payload)
		for _, x := range gf {
			if x.Bytes(onnxpb.FieldGraphNode) {
				nf, _ := onnxpb.Fields(x.Payload)
				for _, y := range nf {
					if op, ok := y.Str(onnxpb.FieldNodeOpType); ok {
						counts[op]++
					}
				}
			}
			if x.Bytes(onnxpb.FieldGraphInit) {
				counts["initializer"]++
			}
		}
	}
	return counts
}

// TestGroupedAttention: both products of the torch-style graph are
// rewritten (the scores grouped, the values broadcast), the repeats and
// their shape arithmetic are gone, and ONNX Runtime gives the same outputs;
// graphs the rewrite cannot vouch for are left as they are.
func TestGroupedAttention(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gqa.onnx")
	attentionGraph(t, path, nil)
	b, _ := os.ReadFile(path)
	gr := onnxpb.Grouping{Heads: 6, KVHeads: 2, HeadDim: 4}
	rw, err := onnxpb.CausalCopy(b, "logits", gr)
	if err != nil {
		t.Fatal(err)
	}
	if rw.Grouped != 2 {
		t.Fatalf("%d products rewritten, want 2", rw.Grouped)
	}
	var w bytes.Buffer
	rw.WriteTo(&w)
	got := opCounts(t, w.Bytes())
	// the repeats and the keys' shape arithmetic are gone; the values'
	// Unsqueeze stays, read by the broadcast product, whose [b, kv, g, s, t]
	// shape is Shape, two Slices and a Concat
	want := map[string]int{"Unsqueeze": 1, "Shape": 1, "Slice": 3, "Concat": 1, "Transpose": 2, "MatMul": 3, "Reshape": 5, "Mul": 2, "Softmax": 1,
		// sq, flat, W, axis2 (still read), eight new ones, the last-position Slice's three
		"initializer": 15}
	if !maps.Equal(got, want) {
		t.Errorf("rewritten graph %v, want %v", got, want)
	}
	grouped := filepath.Join(dir, "grouped.onnx")
	os.WriteFile(grouped, w.Bytes(), 0o644)
	if _, err := onnxpb.Inspect(grouped); err != nil {
		t.Fatal(err)
	}

	// left as they are
	for name, c := range map[string]struct {
		gr     onnxpb.Grouping
		mutate func(g *onnxpb.Graph)
		values bool // the values' product is still rewritten
	}{
		"other heads":     {onnxpb.Grouping{Heads: 8, KVHeads: 2, HeadDim: 4}, nil, false},
		"other head size": {onnxpb.Grouping{Heads: 6, KVHeads: 2, HeadDim: 8}, nil, false},
		"no grouping":     {onnxpb.Grouping{Heads: 6, KVHeads: 6}, nil, false},
		"zero key heads":  {onnxpb.Grouping{Heads: 6}, nil, false},
		"repeat read twice": {gr, func(g *onnxpb.Graph) {
			g.Nodes = append(g.Nodes, onnxpb.Node{OpType: "Identity", Name: "spy", Inputs: []string{"rk"}, Outputs: []string{"spy"}})
			g.Outputs = append(g.Outputs, onnxpb.ValueInfo{Name: "spy", ElemType: onnxpb.Float})
		}, true},
		"unsqueeze on axis 1": {gr, func(g *onnxpb.Graph) {
			for i := range g.Initializers {
				if g.Initializers[i].Name == "axis2" {
					g.Initializers[i].Int64 = []int64{1}
				}
			}
		}, false},
		"keys of unknown heads": {gr, func(g *onnxpb.Graph) {
			g.Inputs[1].Shape = onnxpb.D("batch", "kv", "total", 4)
			g.Inputs[2].Shape = onnxpb.D("batch", "kv", "total", 4)
		}, false},
		"a subgraph": {gr, func(g *onnxpb.Graph) {
			branch := &onnxpb.Graph{Name: "b", Nodes: []onnxpb.Node{{OpType: "Identity", Inputs: []string{"q"}, Outputs: []string{"bo"}}},
				Outputs: []onnxpb.ValueInfo{{Name: "bo", ElemType: onnxpb.Float}}}
			g.Nodes = append(g.Nodes, onnxpb.Node{OpType: "If", Name: "if", Inputs: []string{"cond"}, Outputs: []string{"ifo"},
				Attrs: []onnxpb.Attr{onnxpb.AGraph("then_branch", branch), onnxpb.AGraph("else_branch", branch)}})
			g.Inputs = append(g.Inputs, onnxpb.ValueInfo{Name: "cond", ElemType: onnxpb.Bool})
			g.Outputs = append(g.Outputs, onnxpb.ValueInfo{Name: "ifo", ElemType: onnxpb.Float})
		}, false},
	} {
		p := filepath.Join(dir, "x.onnx")
		attentionGraph(t, p, c.mutate)
		mb, _ := os.ReadFile(p)
		rw, err := onnxpb.CausalCopy(mb, "logits", c.gr)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var out bytes.Buffer
		rw.WriteTo(&out)
		n := rw.Grouped
		want := map[bool]int{true: 1}[c.values]
		if counts := opCounts(t, out.Bytes()); n != want || counts["Expand"] != 2-want {
			t.Errorf("%s: %d products rewritten, %d Expand left; want %d rewritten", name, n, counts["Expand"], want)
		}
	}

	orttest.Need(t)
	for _, shape := range [][2]int64{{1, 1}, {2, 5}} { // batch, seq (a step; a prompt)
		bsz, seq := shape[0], shape[1]
		total := seq + 3
		fill := func(n int64, k int) []float32 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(math.Sin(float64(i*k+1))) * 2
			}
			return x
		}
		q, k, v := fill(bsz*6*seq*4, 7), fill(bsz*2*total*4, 11), fill(bsz*2*total*4, 13)
		run := func(p string) []float32 {
			s, err := ort.NewSession(p, ort.Options{IntraOpThreads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tq, _ := ort.NewTensor([]int64{bsz, 6, seq, 4}, q)
			tk, _ := ort.NewTensor([]int64{bsz, 2, total, 4}, k)
			tv, _ := ort.NewTensor([]int64{bsz, 2, total, 4}, v)
			defer tq.Destroy()
			defer tk.Destroy()
			defer tv.Destroy()
			out := make([]ort.Value, 1)
			if err := s.Run([]ort.Value{tq, tk, tv}, out); err != nil {
				t.Fatal(err)
			}
			defer out[0].Destroy()
			y, _ := ort.Data[float32](out[0])
			return append([]float32(nil), y...)
		}
		want, got := run(path), run(grouped)
		// the copy keeps the last position only; compare it
		for bi := range bsz {
			for j := range int64(5) {
				w, g := want[(bi*seq+seq-1)*5+j], got[bi*5+j]
				if math.Abs(float64(w-g)) > 1e-6*max(1, math.Abs(float64(w))) {
					t.Errorf("batch %d seq %d: logit %d: %g, repeated %g", bi, seq, j, g, w)
				}
			}
		}
	}
}
