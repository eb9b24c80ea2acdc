package onnxpb_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
)

// lmHead is logits = relu(x)·W, x [batch, seq, 4], W [4, 6] in external data.
func lmHead(t *testing.T, dir string) string {
	w := make([]float32, 24)
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	m := &onnxpb.Model{Graph: onnxpb.Graph{Name: "head",
		Nodes: []onnxpb.Node{
			{OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"h"}},
			{OpType: "MatMul", Name: "lm_head", Inputs: []string{"h", "W"}, Outputs: []string{"logits"}},
		},
		Initializers: []onnxpb.Tensor{{Name: "W", DataType: onnxpb.Float, Dims: []int64{4, 6}, Float32: w}},
		Inputs:       []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", "seq", 4)}},
		Outputs:      []onnxpb.ValueInfo{{Name: "logits", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", "seq", 6)}},
	}}
	x, err := onnxpb.CreateExternal(filepath.Join(dir, "model.onnx_data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Move(&m.Graph.Initializers[0]); err != nil {
		t.Fatal(err)
	}
	x.Close()
	path := filepath.Join(dir, "model.onnx")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLastPositionOnly(t *testing.T) {
	dir := t.TempDir()
	path := lmHead(t, dir)
	b, _ := os.ReadFile(path)
	rw, err := onnxpb.LastPositionOnly(b, "logits")
	if err != nil {
		t.Fatal(err)
	}
	var streamed bytes.Buffer
	if err := onnxpb.WriteLastPositionOnly(&streamed, b, "logits"); err != nil || !bytes.Equal(streamed.Bytes(), rw) {
		t.Errorf("WriteLastPositionOnly: %d bytes (err %v), LastPositionOnly %d bytes: want the same bytes", streamed.Len(), err, len(rw))
	}
	last := filepath.Join(dir, "last.onnx")
	os.WriteFile(last, rw, 0o644)
	info, err := onnxpb.Inspect(last)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := info.Output("logits"); o.String() != "logits float32[batch 1 6]" {
		t.Errorf("declared output %v", o)
	}
	if e := info.External["W"]; e.Location != "model.onnx_data" || e.Length != 96 {
		t.Errorf("external reference not kept: %+v", info.External)
	}
	if _, err := onnxpb.LastPositionOnly(b, "nope"); err == nil || !strings.Contains(err.Error(), `no node makes "nope"`) {
		t.Errorf("unknown output: %v", err)
	}
	if _, err := onnxpb.LastPositionOnly([]byte("not a model"), "logits"); err == nil {
		t.Error("garbage accepted")
	}

	if _, err := ort.Init(); err != nil {
		if os.Getenv("TRANSCEPT_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%v (TRANSCEPT_REQUIRE_SERVICES=1 requires it)", err)
		}
		t.Skipf("%v (or set TRANSCEPT_REQUIRE_SERVICES=1 to fail instead of skipping)", err)
	}
	x := make([]float32, 2*3*4) // batch 2, seq 3
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
	fullShape, full := run(path)
	lastShape, got := run(last)
	if len(fullShape) != 3 || fullShape[1] != 3 || len(lastShape) != 3 || lastShape[1] != 1 {
		t.Fatalf("shapes %v and %v", fullShape, lastShape)
	}
	for bi := range 2 {
		for j := range 6 {
			if want := full[(bi*3+2)*6+j]; got[bi*6+j] != want {
				t.Errorf("batch %d logit %d: %g, full model's last position %g", bi, j, got[bi*6+j], want)
			}
		}
	}
}
