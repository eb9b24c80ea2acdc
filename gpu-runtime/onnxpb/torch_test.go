package onnxpb_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/orttest"
)

// TestGroupedAttentionTorchExport: the regrouping finds both attention
// products in graphs PyTorch's own ONNX exporter wrote from transformers'
// Qwen2 attention code (testdata/gqa-*.onnx, written by
// tests/testkit/torch/export_gqa.py with Debian's python3-torch 1.13: the
// repeat's sizes read from the cache's Shape at run time, Expand's through
// Where(Equal(size, −1s), ones, size), the Reshape's head count a Mul of
// the cache's heads by the repeat; the scores divided after the product
// (eager), or the queries and keys scaled before it by a constant (sdpa)
// or by a scale computed from the query's Shape (sdpa-shape, as torch ≥
// 2.1 exports scaled_dot_product_attention)), removes the repeat and its
// shape arithmetic, and ONNX Runtime's logits and cache outputs are those
// of the graph as exported.
func TestGroupedAttentionTorchExport(t *testing.T) {
	for _, form := range []string{"eager", "sdpa", "sdpa-shape"} {
		path := filepath.Join("testdata", "gqa-"+form+".onnx")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		before := opCounts(t, b)
		rw, err := onnxpb.CausalCopy(b, "logits", onnxpb.Grouping{Heads: 4, KVHeads: 2, HeadDim: 8})
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		if rw.Grouped != 2 {
			t.Fatalf("%s: %d products rewritten, want 2", form, rw.Grouped)
		}
		var w bytes.Buffer
		rw.WriteTo(&w)
		after := opCounts(t, w.Bytes())
		t.Logf("%s: %d nodes before, %d after", form, total(before), total(after))
		for _, op := range []string{"Expand", "Where", "Equal", "ConstantOfShape"} {
			if after[op] != 0 {
				t.Errorf("%s: %d %s left", form, after[op], op)
			}
		}
		if d := dangling(t, w.Bytes()); len(d) != 0 {
			t.Errorf("%s: value_info left for values no node makes: %v", form, d)
		}
		if before["Expand"] != 2 {
			t.Fatalf("%s: the fixture has %d Expand, want 2", form, before["Expand"])
		}
		dir := t.TempDir()
		grouped := filepath.Join(dir, "grouped.onnx")
		os.WriteFile(grouped, w.Bytes(), 0o644)

		orttest.Need(t)
		for _, c := range []struct{ b, s, p int64 }{{2, 3, 4}, {1, 1, 6}, {3, 1, 1}} {
			fill := func(n int64, k int) []float32 {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(math.Sin(float64(i*k+3))) * 1.5
				}
				return x
			}
			total := c.s + c.p
			hidden, pk, pv := fill(c.b*c.s*32, 5), fill(c.b*2*c.p*8, 7), fill(c.b*2*c.p*8, 11)
			pos := make([]int64, c.b*c.s)
			for i := range pos {
				pos[i] = c.p + int64(i)%c.s
			}
			mask := make([]float32, c.b*c.s*total)
			for i := range c.s { // causal: key j visible to row i when j ≤ past + i
				for j := range total {
					if j > c.p+i {
						for bi := range c.b {
							mask[(bi*c.s+i)*total+j] = -1e9
						}
					}
				}
			}
			run := func(p string) [][]float32 {
				s, err := ort.NewSession(p, ort.Options{IntraOpThreads: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var in []ort.Value
				add := func(v ort.Value, err error) {
					if err != nil {
						t.Fatal(err)
					}
					in = append(in, v)
				}
				add(ort.NewTensor([]int64{c.b, c.s, 32}, hidden))
				add(ort.NewTensor([]int64{c.b, c.s}, pos))
				add(ort.NewTensor([]int64{c.b, 1, c.s, total}, mask))
				add(ort.NewTensor([]int64{c.b, 2, c.p, 8}, pk))
				add(ort.NewTensor([]int64{c.b, 2, c.p, 8}, pv))
				defer func() {
					for _, v := range in {
						v.Destroy()
					}
				}()
				out := make([]ort.Value, 3)
				if err := s.Run(in, out); err != nil {
					t.Fatal(err)
				}
				var res [][]float32
				for _, o := range out {
					y, _ := ort.Data[float32](o)
					res = append(res, append([]float32(nil), y...))
					o.Destroy()
				}
				return res
			}
			want, got := run(path), run(grouped)
			name := fmt.Sprintf("%s batch %d seq %d past %d", form, c.b, c.s, c.p)
			// logits: the copy keeps the last position
			for bi := range c.b {
				for j := range int64(40) {
					if w, g := want[0][(bi*c.s+c.s-1)*40+j], got[0][bi*40+j]; math.Abs(float64(w-g)) > 1e-5*max(1, math.Abs(float64(w))) {
						t.Fatalf("%s: logit %d of row %d: %g, as exported %g", name, j, bi, g, w)
					}
				}
			}
			for k := 1; k < 3; k++ { // present key and value: the same tensors
				if len(got[k]) != len(want[k]) {
					t.Fatalf("%s: output %d has %d values, want %d", name, k, len(got[k]), len(want[k]))
				}
				for i := range got[k] {
					if got[k][i] != want[k][i] {
						t.Fatalf("%s: output %d differs at %d", name, k, i)
					}
				}
			}
		}
	}
}

func total(m map[string]int) (n int) {
	for k, v := range m {
		if k != "initializer" {
			n += v
		}
	}
	return n
}

// dangling lists the value_info entries of a model's graph that name a
// value no node makes.
func dangling(t *testing.T, model []byte) []string {
	t.Helper()
	top, _ := onnxpb.Fields(model)
	made := map[string]bool{}
	var infos []string
	for _, f := range top {
		if !f.Bytes(onnxpb.FieldModelGraph) {
			continue
		}
		gf, _ := onnxpb.Fields(f.Payload)
		for _, x := range gf {
			switch {
			case x.Bytes(onnxpb.FieldGraphNode):
				nf, _ := onnxpb.Fields(x.Payload)
				for _, y := range nf {
					if o, ok := y.Str(onnxpb.FieldNodeOutput); ok {
						made[o] = true
					}
				}
			case x.Bytes(13): // value_info
				vf, _ := onnxpb.Fields(x.Payload)
				for _, y := range vf {
					if name, ok := y.Str(1); ok {
						infos = append(infos, name)
					}
				}
			}
		}
	}
	var out []string
	for _, name := range infos {
		if !made[name] {
			out = append(out, name)
		}
	}
	if len(infos) > 0 {
		t.Logf("%d value_info entries", len(infos))
	}
	return out
}
