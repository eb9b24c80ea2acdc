package onnxpb_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
)

// TestLastPositionDynamicQuantized: a q8 lm_head (DynamicQuantizeLinear,
// MatMulInteger, Cast, Mul by the product of the scales, as models quantize
// and onnxruntime's quantize_dynamic write it) gets the Slice between
// DynamicQuantizeLinear and MatMulInteger, so the product is computed for
// the last position only and its values are exactly the full model's last
// row (the activations' scale is still the whole prompt's).
func TestLastPositionDynamicQuantized(t *testing.T) {
	const k, n = 4, 6
	w := make([]byte, k*n)
	for i := range w {
		w[i] = byte(128 + (i*37)%101 - 50)
	}
	scales := []float32{0.01, 0.02, 0.03, 0.015, 0.025, 0.05}
	m := &onnxpb.Model{Graph: onnxpb.Graph{Name: "head",
		Nodes: []onnxpb.Node{
			{OpType: "DynamicQuantizeLinear", Inputs: []string{"x"}, Outputs: []string{"x_q", "x_scale", "x_zp"}},
			{OpType: "MatMulInteger", Inputs: []string{"x_q", "W_q", "x_zp", "W_zp"}, Outputs: []string{"int32"}},
			{OpType: "Cast", Inputs: []string{"int32"}, Outputs: []string{"float"}, Attrs: []onnxpb.Attr{onnxpb.AInt("to", int64(onnxpb.Float))}},
			{OpType: "Mul", Inputs: []string{"x_scale", "W_scale"}, Outputs: []string{"scale"}},
			{OpType: "Mul", Name: "lm_head", Inputs: []string{"float", "scale"}, Outputs: []string{"logits"}},
		},
		Initializers: []onnxpb.Tensor{
			{Name: "W_q", DataType: onnxpb.Uint8, Dims: []int64{k, n}, Raw: w},
			{Name: "W_scale", DataType: onnxpb.Float, Dims: []int64{n}, Float32: scales},
			{Name: "W_zp", DataType: onnxpb.Uint8, Raw: []byte{128}},
		},
		Inputs:  []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", "seq", k)}},
		Outputs: []onnxpb.ValueInfo{{Name: "logits", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", "seq", n)}},
	}}
	dir := t.TempDir()
	path, last := filepath.Join(dir, "model.onnx"), filepath.Join(dir, "last.onnx")
	b := m.Marshal()
	os.WriteFile(path, b, 0o644)
	rw, err := onnxpb.LastPositionOnly(b, "logits")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(rw, []byte("transcept_last_position/x_q")) {
		t.Error("the Slice is not between DynamicQuantizeLinear and MatMulInteger")
	}
	os.WriteFile(last, rw, 0o644)
	if _, err := ort.Init(); err != nil {
		t.Skip(err)
	}
	// the last position's values are small, the others large: slicing
	// before DynamicQuantizeLinear would quantise them with another scale
	x := make([]float32, 2*3*k)
	for i := range x {
		x[i] = float32(i%7) - 3
		if (i/k)%3 == 2 {
			x[i] /= 9
		}
	}
	run := func(p string) ([]int64, []float32) {
		s, err := ort.NewSession(p, ort.Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		in, _ := ort.NewTensor([]int64{2, 3, k}, x)
		defer in.Destroy()
		out := make([]ort.Value, 1)
		if err := s.Run([]ort.Value{in}, out); err != nil {
			t.Fatal(err)
		}
		defer out[0].Destroy()
		y, _ := ort.Data[float32](out[0])
		return out[0].Shape(), append([]float32(nil), y...)
	}
	_, full := run(path)
	shape, got := run(last)
	if !slices.Equal(shape, []int64{2, 1, n}) {
		t.Fatalf("shape %v", shape)
	}
	for bi := range 2 {
		if want := full[(bi*3+2)*n : (bi*3+3)*n]; !slices.Equal(got[bi*n:bi*n+n], want) {
			t.Errorf("row %d: %v, want %v", bi, got[bi*n:bi*n+n], want)
		}
	}
}
