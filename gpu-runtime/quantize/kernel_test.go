package quantize

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
)

// TestKernelsMatchTheLayout: ONNX Runtime's MatMulNBits (4 and 8 bits,
// symmetric and not, K not a multiple of the block, the weight given
// directly and as Transpose of an initializer) and the q8 MatMulInteger
// chain compute X·B̂ with B̂ exactly the dequantised weight this package
// packs: the packing is what the kernels read.
func TestKernelsMatchTheLayout(t *testing.T) {
	if _, err := ort.Init(); err != nil {
		if os.Getenv("TRANSCEPT_REQUIRE_SERVICES") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	const k, n, rows = 80, 24, 3
	w := make([]float32, k*n)
	for i := range w {
		w[i] = float32(math.Sin(float64(i)*1.7) * (1 + float64(i%7)))
	}
	x := make([]float32, rows*k)
	for i := range x {
		x[i] = float32(math.Cos(float64(i) * 0.37))
	}
	at := func(i, j int) float32 { return w[i*n+j] }
	for _, c := range []struct {
		name       string
		o          Options
		transposed bool
	}{
		{"q4 asymmetric", Options{DType: "q4", Block: 32}, false},
		{"q4 symmetric", Options{DType: "q4", Block: 16, Symmetric: true}, false},
		{"q4 transposed weight", Options{DType: "q4", Block: 64}, true},
		{"8-bit blocks", Options{DType: "q4", Bits: 8, Block: 32}, false},
		{"q8", Options{DType: "q8"}, false},
		{"q8 transposed weight", Options{DType: "q8"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			g := onnxpb.Graph{Name: "mm",
				Nodes:   []onnxpb.Node{{OpType: "MatMul", Name: "mm", Inputs: []string{"x", "W"}, Outputs: []string{"y"}}},
				Inputs:  []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", k)}},
				Outputs: []onnxpb.ValueInfo{{Name: "y", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", n)}},
			}
			if c.transposed {
				wt := make([]float32, k*n) // stored [N, K]
				for i := range k {
					for j := range n {
						wt[j*k+i] = w[i*n+j]
					}
				}
				g.Initializers = []onnxpb.Tensor{{Name: "Wt", DataType: onnxpb.Float, Dims: []int64{n, k}, Float32: wt}}
				g.Nodes = append([]onnxpb.Node{{OpType: "Transpose", Inputs: []string{"Wt"}, Outputs: []string{"W"}, Attrs: []onnxpb.Attr{onnxpb.AInts("perm", 1, 0)}}}, g.Nodes...)
			} else {
				g.Initializers = []onnxpb.Tensor{{Name: "W", DataType: onnxpb.Float, Dims: []int64{k, n}, Float32: w}}
			}
			in := filepath.Join(dir, "model.onnx")
			if err := (&onnxpb.Model{Graph: g}).WriteFile(in); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "model_q.onnx")
			res, err := QuantizeFile(in, out, c.o)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Quantized) != 1 || res.BytesAfter >= res.BytesBefore {
				t.Fatalf("%+v", res)
			}
			s, err := ort.NewSession(out, ort.Options{IntraOpThreads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			xt, err := ort.NewTensor([]int64{rows, k}, x)
			if err != nil {
				t.Fatal(err)
			}
			defer xt.Destroy()
			outs := make([]ort.Value, 1)
			if err := s.Run([]ort.Value{xt}, outs); err != nil {
				t.Fatal(err)
			}
			defer outs[0].Destroy()
			y, err := ort.Data[float32](outs[0])
			if err != nil {
				t.Fatal(err)
			}
			// the reference: the same packing, dequantised here
			o := c.o
			_ = o.norm()
			var qw *qweight
			if o.DType == "q8" {
				qw = quantizeQ8("W", k, n, at)
			} else {
				qw = quantizeNBits("W", k, n, at, o.Bits, o.Block, o.Symmetric)
			}
			xs := make([]float64, len(x))
			for i, v := range x {
				xs[i] = float64(v)
			}
			if o.DType == "q8" { // DynamicQuantizeLinear's rounding of x
				lo, hi := 0.0, 0.0
				for _, v := range xs {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
				sc := float64(float32((hi - lo) / 255))
				zp := math.RoundToEven(-lo / sc)
				for i, v := range xs {
					xs[i] = (min(255, max(0, math.RoundToEven(v/sc)+zp)) - zp) * sc
				}
			}
			worst, norm := 0.0, 0.0
			for r := range rows {
				for j := range n {
					var want, exact float64
					for i := range k {
						want += xs[r*k+i] * float64(qw.deq(i, j))
						exact += float64(x[r*k+i]) * float64(w[i*n+j])
					}
					worst = max(worst, math.Abs(want-float64(y[r*n+j])))
					norm = max(norm, math.Abs(exact))
				}
			}
			if worst > 1e-4*norm {
				t.Errorf("ONNX Runtime's output differs from X·B̂ by %g (outputs up to %g)", worst, norm)
			}
		})
	}
}
