package onnxpb_test

import (
	"math"
	"os"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
)

// TestExternalDataLoadsInORT: ONNX Runtime loads a model whose weights are
// in model.onnx_data and computes the same as the inline model.
func TestExternalDataLoadsInORT(t *testing.T) {
	if _, err := ort.Init(); err != nil {
		if os.Getenv("TRANSCEPT_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%v (TRANSCEPT_REQUIRE_SERVICES=1 requires it)", err)
		}
		t.Skipf("%v (or set TRANSCEPT_REQUIRE_SERVICES=1 to fail instead of skipping)", err)
	}
	x := []float32{1, -2, 0.5, 3, 0, 1, 1, -1}
	var w, b []float32
	run := func(external bool) []float32 {
		var path string
		path, w, b = onnxpb.MatMulModelForTest(t, t.TempDir(), external)
		s, err := ort.NewSession(path, ort.Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		in, err := ort.NewTensor([]int64{2, 4}, x)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Destroy()
		out := make([]ort.Value, 1)
		if err := s.Run([]ort.Value{in}, out); err != nil {
			t.Fatal(err)
		}
		defer out[0].Destroy()
		y, err := ort.Data[float32](out[0])
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), y...)
	}
	inline, ext := run(false), run(true)
	if len(ext) != 600 {
		t.Fatalf("%d outputs", len(ext))
	}
	for i := range inline {
		if inline[i] != ext[i] {
			t.Fatalf("y[%d] = %g with external data, %g inline", i, ext[i], inline[i])
		}
	}
	// the weights are the right ones: y = x·W + b by hand, in float64
	worst := 0.0
	for r := range 2 {
		for j := range 300 {
			want := float64(b[j])
			for k := range 4 {
				want += float64(x[r*4+k]) * float64(w[k*300+j])
			}
			worst = max(worst, math.Abs(want-float64(ext[r*300+j])))
		}
	}
	if worst > 1e-5 {
		t.Errorf("x·W + b differs from the hand computation by %g", worst)
	}
}
