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

// TestLastPositionThroughCast: logits that are a Cast of the lm_head's
// output (an fp16 model's float32 logits) get the Slice before the lm_head,
// not before the Cast, and the last position's values.
func TestLastPositionThroughCast(t *testing.T) {
	w := make([]float32, 24)
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	m := &onnxpb.Model{Graph: onnxpb.Graph{Name: "head",
		Nodes: []onnxpb.Node{
			{OpType: "MatMul", Name: "lm_head", Inputs: []string{"x", "W"}, Outputs: []string{"logits_raw"}},
			{OpType: "Identity", Inputs: []string{"logits_raw"}, Outputs: []string{"logits_id"}},
			{OpType: "Cast", Inputs: []string{"logits_id"}, Outputs: []string{"logits"}, Attrs: []onnxpb.Attr{onnxpb.AInt("to", int64(onnxpb.Float))}},
		},
		Initializers: []onnxpb.Tensor{{Name: "W", DataType: onnxpb.Float, Dims: []int64{4, 6}, Float32: w}},
		Inputs:       []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", "seq", 4)}},
		Outputs:      []onnxpb.ValueInfo{{Name: "logits", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", "seq", 6)}},
	}}
	dir := t.TempDir()
	path, last := filepath.Join(dir, "model.onnx"), filepath.Join(dir, "last.onnx")
	b := m.Marshal()
	os.WriteFile(path, b, 0o644)
	rw, err := onnxpb.LastPositionOnly(b, "logits")
	if err != nil {
		t.Fatal(err)
	}
	// the Slice takes the lm_head's input x, not the Cast's
	if !bytes.Contains(rw, []byte("transcept_last_position/x")) || bytes.Contains(rw, []byte("transcept_last_position/logits_")) {
		t.Error("the Slice is not before the lm_head")
	}
	os.WriteFile(last, rw, 0o644)
	info, err := onnxpb.Inspect(last)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := info.Output("logits"); o.String() != "logits float32[batch 1 6]" {
		t.Errorf("declared output %v", o)
	}
	if _, err := ort.Init(); err != nil {
		t.Skip(err)
	}
	x := make([]float32, 2*3*4)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	run := func(p string) ([]int64, []float32) {
		s, err := ort.NewSession(p, ort.Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		in, _ := ort.NewTensor([]int64{2, 3, 4}, x)
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
	if !slices.Equal(shape, []int64{2, 1, 6}) {
		t.Fatalf("shape %v", shape)
	}
	for bi := range 2 {
		if want := full[(bi*3+2)*6 : (bi*3+3)*6]; !slices.Equal(got[bi*6:bi*6+6], want) {
			t.Errorf("row %d: %v, want %v", bi, got[bi*6:bi*6+6], want)
		}
	}
}
