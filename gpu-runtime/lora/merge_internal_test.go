package lora

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// TestMergeLayouts merges into the three ways an exporter stores a linear
// weight, found by the node's name (torch's "/a/b.0/c/MatMul") or the
// weight's, inside an If branch too, and checks every element against
// W + scale·B·A computed here.
func TestMergeLayouts(t *testing.T) {
	const in, out, r = 6, 5, 3
	rnd := rand.New(rand.NewPCG(9, 9))
	mod := func(name string) PEFTModule {
		return PEFTModule{Name: name, Rank: r, In: in, Out: out, Scale: 1.5, A: normals(rnd, r*in), B: normals(rnd, out*r)}
	}
	mods := []PEFTModule{mod("model.encoder.layers.0.self_attn.q_proj"), mod("model.decoder.layers.0.fc1"), mod("model.decoder.layers.0.fc2"), mod("model.decoder.layers.1.fc1")}
	wIO, wOI, wT, wBranch := normals(rnd, in*out), normals(rnd, out*in), normals(rnd, out*in), normals(rnd, in*out)
	branch := &onnxpb.Graph{Name: "then",
		Nodes:   []onnxpb.Node{{OpType: "MatMul", Name: "/model/decoder/layers.1/fc1/MatMul", Inputs: []string{"x", "onnx::MatMul_99"}, Outputs: []string{"y4"}}},
		Outputs: []onnxpb.ValueInfo{{Name: "y4", ElemType: onnxpb.Float}}}
	m := &onnxpb.Model{OpSets: []onnxpb.OpSet{{Version: 17}}, IRVersion: 8, Graph: onnxpb.Graph{Name: "g",
		Nodes: []onnxpb.Node{
			// torch's exporter: MatMul by a transposed copy named onnx::MatMul_N
			{OpType: "MatMul", Name: "/model/encoder/layers.0/self_attn/q_proj/MatMul", Inputs: []string{"x", "onnx::MatMul_7"}, Outputs: []string{"y1"}},
			// Gemm with transB: the torch layout [out, in]
			{OpType: "Gemm", Name: "gemm_0", Inputs: []string{"x", "model.decoder.layers.0.fc1.weight"}, Outputs: []string{"y2"}, Attrs: []onnxpb.Attr{onnxpb.AInt("transB", 1)}},
			// a Transpose of the torch-layout weight, then MatMul
			{OpType: "Transpose", Name: "t", Inputs: []string{"model.decoder.layers.0.fc2.weight"}, Outputs: []string{"wt"}, Attrs: []onnxpb.Attr{onnxpb.AInts("perm", 1, 0)}},
			{OpType: "MatMul", Name: "mm", Inputs: []string{"x", "wt"}, Outputs: []string{"y3"}},
			{OpType: "If", Name: "if", Inputs: []string{"c"}, Outputs: []string{"y4"}, Attrs: []onnxpb.Attr{onnxpb.AGraph("then_branch", branch), onnxpb.AGraph("else_branch", branch)}},
		},
		Initializers: []onnxpb.Tensor{
			{Name: "onnx::MatMul_7", DataType: onnxpb.Float, Dims: []int64{in, out}, Float32: wIO},
			{Name: "model.decoder.layers.0.fc1.weight", DataType: onnxpb.Float, Dims: []int64{out, in}, Float32: wOI},
			{Name: "model.decoder.layers.0.fc2.weight", DataType: onnxpb.Float, Dims: []int64{out, in}, Float32: wT},
			{Name: "onnx::MatMul_99", DataType: onnxpb.Float, Dims: []int64{in, out}, Float32: wBranch},
		},
		Inputs:  []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D("b", in)}, {Name: "c", ElemType: onnxpb.Bool, Shape: onnxpb.D(1)}},
		Outputs: []onnxpb.ValueInfo{{Name: "y1", ElemType: onnxpb.Float}, {Name: "y2", ElemType: onnxpb.Float}, {Name: "y3", ElemType: onnxpb.Float}, {Name: "y4", ElemType: onnxpb.Float}},
	}}
	b := m.Marshal()
	byName := map[string]*PEFTModule{}
	for i := range mods {
		byName[mods[i].Name] = &mods[i]
	}
	done, probs, err := mergeInto(b, byName, "")
	if err != nil || len(probs) > 0 || len(done) != 4 {
		t.Fatalf("merged %v, problems %v, %v", done, probs, err)
	}
	graphs, err := parseONNX(b)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []float32 {
		init := graphs[0].lookup(name)
		v := make([]float32, len(init.data)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(init.data[4*i:]))
		}
		return v
	}
	check := func(name string, w []float32, m PEFTModule, outFirst bool) {
		got := read(name)
		worst := 0.0
		for o := range out {
			for i := range in {
				var d float64
				for k := range r {
					d += float64(m.B[o*r+k]) * float64(m.A[k*in+i])
				}
				at := i*out + o
				if outFirst {
					at = o*in + i
				}
				worst = max(worst, math.Abs(float64(got[at])-(float64(w[at])+m.Scale*d)))
			}
		}
		if worst > 1e-6 {
			t.Errorf("%s: off W + scale·B·A by %g", name, worst)
		}
	}
	check("onnx::MatMul_7", wIO, mods[0], false)
	check("model.decoder.layers.0.fc1.weight", wOI, mods[1], true)
	check("model.decoder.layers.0.fc2.weight", wT, mods[2], true)
	check("onnx::MatMul_99", wBranch, mods[3], false)

	// A module whose weight has another shape is a problem, not a merge.
	bad := mod("model.decoder.layers.0.fc1")
	bad.In, bad.Out = out, in
	_, probs, _ = mergeInto(m.Marshal(), map[string]*PEFTModule{bad.Name: &bad}, "")
	if len(probs) != 1 || !strings.Contains(probs[0], `weight "model.decoder.layers.0.fc1.weight" of model.decoder.layers.0.fc1 is [5 6], the adapter's is [6 5]`) {
		t.Errorf("problems %v", probs)
	}
	if _, _, err := mergeInto([]byte("not a model at all"), byName, ""); err == nil {
		t.Error("garbage parsed")
	}
}

// TestMergeRelativeNames: Optimum exports the encoder from the encoder
// module, so its nodes are named "/layers.0/self_attn/q_proj/MatMul"; the
// file's role tells model.encoder.… from model.decoder.….
func TestMergeRelativeNames(t *testing.T) {
	const in, out, r = 4, 4, 2
	rnd := rand.New(rand.NewPCG(1, 2))
	w := normals(rnd, in*out)
	m := &onnxpb.Model{OpSets: []onnxpb.OpSet{{Version: 17}}, IRVersion: 8, Graph: onnxpb.Graph{Name: "enc",
		Nodes:        []onnxpb.Node{{OpType: "MatMul", Name: "/layers.0/self_attn/q_proj/MatMul", Inputs: []string{"x", "onnx::MatMul_3"}, Outputs: []string{"y"}}},
		Initializers: []onnxpb.Tensor{{Name: "onnx::MatMul_3", DataType: onnxpb.Float, Dims: []int64{in, out}, Float32: w}},
		Inputs:       []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D("b", in)}},
		Outputs:      []onnxpb.ValueInfo{{Name: "y", ElemType: onnxpb.Float}},
	}}
	mods := map[string]*PEFTModule{}
	for _, n := range []string{"model.encoder.layers.0.self_attn.q_proj", "model.decoder.layers.0.self_attn.q_proj"} {
		mods[n] = &PEFTModule{Name: n, Rank: r, In: in, Out: out, Scale: 1, A: normals(rnd, r*in), B: normals(rnd, out*r)}
	}
	done, probs, err := mergeInto(m.Marshal(), mods, fileRole("onnx/encoder_model.onnx"))
	if err != nil || len(probs) > 0 || !slices.Equal(done, []string{"model.encoder.layers.0.self_attn.q_proj"}) {
		t.Errorf("encoder file: merged %v, problems %v, %v", done, probs, err)
	}
	done, probs, _ = mergeInto(m.Marshal(), mods, "")
	if len(done) != 0 || len(probs) != 1 || !strings.Contains(probs[0], "could be any of model.decoder.layers.0.self_attn.q_proj, model.encoder.layers.0.self_attn.q_proj") {
		t.Errorf("no role: merged %v, problems %v", done, probs)
	}
	if fileRole("x/decoder_model_merged.onnx") != "decoder" || fileRole("model.onnx") != "" {
		t.Error("fileRole")
	}
}

func TestFloat16(t *testing.T) {
	for h, want := range map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x3555: 0.333251953125, 0x0001: 5.960464477539063e-08, 0x7bff: 65504, 0x8000: float32(math.Copysign(0, -1))} {
		if got := float16(h); got != want || math.Signbit(float64(got)) != math.Signbit(float64(want)) {
			t.Errorf("float16(%#04x) = %g, want %g", h, got, want)
		}
	}
	if !math.IsInf(float64(float16(0x7c00)), 1) || !math.IsNaN(float64(float16(0x7e00))) {
		t.Error("inf/NaN")
	}
}

func TestLoraKey(t *testing.T) {
	for in, want := range map[string][2]string{
		"model.encoder.layers.0.self_attn.q_proj.lora_A.weight":         {"model.encoder.layers.0.self_attn.q_proj", "A"},
		"model.decoder.layers.3.fc1.lora_B.default.weight":              {"model.decoder.layers.3.fc1", "B"},
		"model.encoder.layers.0.self_attn.q_proj.lora_magnitude_vector": {"", ""},
		"model.shared.lora_embedding_A":                                 {"", ""},
	} {
		m, w, _ := loraKey(in)
		if m != want[0] || w != want[1] {
			t.Errorf("%s: %q %q", in, m, w)
		}
	}
}

func normals(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}
