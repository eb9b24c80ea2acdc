//go:build cgo

package lora

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/orttest"
)

const (
	in, out, rank = 8, 6, 4
	scale         = 0.5 // lora_alpha / r, folded into the graph as peft does
)

func randn(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// loraLinear is y = x·W + scale·(x·lora_A)·lora_B, with lora_A [in, rank]
// and lora_B [rank, out] model inputs whose defaults have rank 0 (so
// without an adapter y = x·W).
func loraLinear(w []float32) *onnxpb.Model {
	return &onnxpb.Model{OpSets: []onnxpb.OpSet{{Version: 21}}, IRVersion: 10, Graph: onnxpb.Graph{
		Name: "lora_linear",
		Nodes: []onnxpb.Node{
			{OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"xw"}},
			{OpType: "MatMul", Inputs: []string{"x", "lora_A"}, Outputs: []string{"xa"}},
			{OpType: "MatMul", Inputs: []string{"xa", "lora_B"}, Outputs: []string{"xab"}},
			{OpType: "Mul", Inputs: []string{"xab", "scale"}, Outputs: []string{"delta"}},
			{OpType: "Add", Inputs: []string{"xw", "delta"}, Outputs: []string{"y"}},
		},
		Initializers: []onnxpb.Tensor{
			{Name: "W", DataType: onnxpb.Float, Dims: []int64{in, out}, Float32: w},
			{Name: "scale", DataType: onnxpb.Float, Dims: []int64{}, Float32: []float32{scale}},
			{Name: "lora_A", DataType: onnxpb.Float, Dims: []int64{in, 0}, Raw: []byte{}},
			{Name: "lora_B", DataType: onnxpb.Float, Dims: []int64{0, out}, Raw: []byte{}},
		},
		Inputs: []onnxpb.ValueInfo{
			{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", in)},
			{Name: "lora_A", ElemType: onnxpb.Float, Shape: onnxpb.D(in, "lora_rank")},
			{Name: "lora_B", ElemType: onnxpb.Float, Shape: onnxpb.D("lora_rank", out)},
		},
		Outputs: []onnxpb.ValueInfo{{Name: "y", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", out)}},
	}}
}

// plainLinear is y = x·W.
func plainLinear(w []float32) *onnxpb.Model {
	return &onnxpb.Model{OpSets: []onnxpb.OpSet{{Version: 21}}, IRVersion: 10, Graph: onnxpb.Graph{
		Name:         "merged_linear",
		Nodes:        []onnxpb.Node{{OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"y"}}},
		Initializers: []onnxpb.Tensor{{Name: "W", DataType: onnxpb.Float, Dims: []int64{in, out}, Float32: w}},
		Inputs:       []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", in)}},
		Outputs:      []onnxpb.ValueInfo{{Name: "y", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", out)}},
	}}
}

func session(t *testing.T, m *onnxpb.Model, o ort.Options) *ort.Session {
	t.Helper()
	path := filepath.Join(t.TempDir(), m.Graph.Name+".onnx")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSession(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func run(t *testing.T, s *ort.Session, ro *ort.RunOptions, inputs ...ort.Value) []float32 {
	t.Helper()
	o := []ort.Value{{}}
	if err := s.RunWith(ro, inputs, o); err != nil {
		t.Fatal(err)
	}
	defer o[0].Destroy()
	y, err := ort.Data[float32](o[0])
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), y...)
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func TestAdapterEqualsMergedWeights(t *testing.T) {
	orttest.Need(t)
	r := rand.New(rand.NewPCG(3, 4))
	w, a, b := randn(r, in*out), randn(r, in*rank), randn(r, rank*out)
	const batch = 3
	x := randn(r, batch*in)

	// W' = W + scale·A·B (A·B is [in, out]; in the torch layout, where a
	// linear layer's weight is [out, in], this is W + scale·B·A).
	merged := make([]float32, in*out)
	for i := range in {
		for j := range out {
			var s float64
			for k := range rank {
				s += float64(a[i*rank+k]) * float64(b[k*out+j])
			}
			merged[i*out+j] = float32(float64(w[i*out+j]) + scale*s)
		}
	}
	path := filepath.Join(t.TempDir(), "linear.onnx_adapter")
	ad := &Adapter{AdapterVersion: 1, Params: []Param{
		Float32("lora_A", []int64{in, rank}, a), Float32("lora_B", []int64{rank, out}, b)}}
	if err := ad.WriteFile(path); err != nil {
		t.Fatal(err)
	}

	s := session(t, loraLinear(w), ort.Options{})
	if got := s.InputNames(); len(got) != 1 || got[0] != "x" {
		t.Fatalf("required inputs %v, want [x]", got)
	}
	adapter, err := Load(path, s)
	if err != nil {
		t.Fatal(err)
	}
	defer adapter.Close()
	with, err := ort.NewRunOptions(adapter)
	if err != nil {
		t.Fatal(err)
	}
	defer with.Close()
	xt, err := ort.NewTensor([]int64{batch, in}, x)
	if err != nil {
		t.Fatal(err)
	}
	defer xt.Destroy()

	base := run(t, s, nil, xt)
	adapted := run(t, s, with, xt)
	againBase := run(t, s, nil, xt) // activation is per run
	mergedOut := run(t, session(t, plainLinear(merged), ort.Options{}), nil, xt)
	plainOut := run(t, session(t, plainLinear(w), ort.Options{}), nil, xt)

	if d := maxDiff(base, plainOut); d > 1e-5 {
		t.Errorf("without the adapter the output differs from x·W by %g", d)
	}
	if d := maxDiff(base, againBase); d != 0 {
		t.Errorf("the adapter stayed active after its run: %g", d)
	}
	change := maxDiff(adapted, base)
	if change < 1e-2 {
		t.Errorf("the adapter changes the output by only %g", change)
	}
	d := maxDiff(adapted, mergedOut)
	if d > 1e-5 {
		t.Errorf("adapter output differs from the merged model's by %g > 1e-5", d)
	}
	t.Logf("adapter changes y by up to %.3f; |adapter − merged W+scale·A·B| ≤ %.2g", change, d)

	// The same matrices fed as ordinary inputs (the path without the
	// adapter API) give the same output.
	feed := session(t, loraLinear(w), ort.Options{InputNames: []string{"x", "lora_A", "lora_B"}})
	at, _ := ort.NewTensor([]int64{in, rank}, a)
	bt, _ := ort.NewTensor([]int64{rank, out}, b)
	defer at.Destroy()
	defer bt.Destroy()
	if d := maxDiff(run(t, feed, nil, xt, at, bt), adapted); d > 1e-6 {
		t.Errorf("fed as inputs the output differs from the adapter's by %g", d)
	}
}

func TestAdapterForAnotherModel(t *testing.T) {
	orttest.Need(t)
	r := rand.New(rand.NewPCG(5, 6))
	s := session(t, loraLinear(randn(r, in*out)), ort.Options{})
	dir := t.TempDir()
	for _, c := range []struct {
		name   string
		params []Param
		want   []string
	}{
		{"names", []Param{Float32("q_proj.lora_A", []int64{in, rank}, randn(r, in*rank))},
			[]string{`no input "q_proj.lora_A"`, "lora_A, lora_B"}},
		{"shapes", []Param{Float32("lora_A", []int64{in + 1, rank}, randn(r, (in+1)*rank)), Float32("lora_B", []int64{rank, out}, randn(r, rank*out))},
			[]string{`"lora_A" has shape [9 4] in the adapter, [8 lora_rank] in the model`}},
		{"types", []Param{{Name: "lora_B", Dims: []int64{rank, out}, DataType: onnxpb.Double, Raw: make([]byte, 8*rank*out)}},
			[]string{`"lora_B" is float64 in the adapter, float32 in the model`}},
		{"not-a-weight", []Param{Float32("x", []int64{1, in}, randn(r, in))},
			[]string{`input "x" has no default`}},
	} {
		path := filepath.Join(dir, c.name+".onnx_adapter")
		if err := (&Adapter{Params: c.params}).WriteFile(path); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, s)
		if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), s.Path()) {
			t.Errorf("%s: %v (want EINVALID naming %s and the model)", c.name, err, path)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nlacks %q", c.name, err, w)
			}
		}
		t.Logf("%s: %v", c.name, err)
	}
	corrupt := filepath.Join(dir, "corrupt.onnx_adapter")
	os.WriteFile(corrupt, []byte("TORTnot really"), 0o644)
	if _, err := Load(corrupt, s); lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), corrupt) {
		t.Errorf("corrupt: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.onnx_adapter"), s); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(err.Error(), "missing.onnx_adapter") {
		t.Errorf("missing: %v", err)
	}
}
