//go:build cgo

package bertgen

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
)

// TestGraphIsBERT runs the written model in ONNX Runtime and compares its
// last_hidden_state with a plain float64 implementation of BertModel's
// forward pass (written from Hugging Face's modeling_bert.py) on the same
// weights: a padded batch, non-zero token types, positions, masking.
func TestGraphIsBERT(t *testing.T) {
	if _, err := ort.Init(); err != nil {
		if os.Getenv("TRANSCEPT_REQUIRE_SERVICES") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	c := Tiny()
	dir := t.TempDir()
	if err := Write(dir, c); err != nil {
		t.Fatal(err)
	}
	if err := c.normalise(); err != nil {
		t.Fatal(err)
	}
	c.Vocab = 961
	w := map[string]pb.Tensor{}
	for _, ts := range Weights(&c) {
		w[ts.Name] = ts
	}
	ids := [][]int64{{2, 815, 131, 128, 162, 5, 900, 3}, {2, 40, 41, 3, 0, 0, 0, 0}}
	mask := [][]int64{{1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0, 0, 0}}
	types := [][]int64{{0, 0, 0, 0, 1, 1, 1, 1}, {0, 1, 0, 1, 0, 0, 0, 0}}
	batch, seq := len(ids), len(ids[0])

	s, err := ort.NewSession(filepath.Join(dir, "onnx", "model.onnx"), ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var in []ort.Value
	for _, name := range s.InputNames() {
		src := map[string][][]int64{"input_ids": ids, "attention_mask": mask, "token_type_ids": types}[name]
		var flat []int64
		for _, r := range src {
			flat = append(flat, r...)
		}
		v, err := ort.NewTensor([]int64{int64(batch), int64(seq)}, flat)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Destroy()
		in = append(in, v)
	}
	out := make([]ort.Value, 1)
	if err := s.Run(in, out); err != nil {
		t.Fatal(err)
	}
	defer out[0].Destroy()
	got, _ := ort.Data[float32](out[0])

	worst := 0.0
	for b := range batch {
		want := forward(&c, w, ids[b], mask[b], types[b])
		for i := range seq {
			if mask[b][i] == 0 {
				continue // padded positions are computed but meaningless
			}
			for k := range c.Hidden {
				d := math.Abs(float64(got[(b*seq+i)*c.Hidden+k]) - want[i][k])
				worst = max(worst, d)
				if d > 1e-4 {
					t.Fatalf("row %d position %d component %d: onnx %g, reference %g", b, i, k, got[(b*seq+i)*c.Hidden+k], want[i][k])
				}
			}
		}
	}
	t.Logf("max abs diff from the float64 BertModel: %.3g", worst)
}

// forward is BertModel(input_ids, attention_mask, token_type_ids)
// .last_hidden_state for one row, in float64.
func forward(c *Config, w map[string]pb.Tensor, ids, mask, types []int64) [][]float64 {
	h, n := c.Hidden, len(ids)
	get := func(name string) []float32 { return w[name].Float32 }
	row := func(name string, i int64) []float32 { return get(name)[int(i)*h : int(i+1)*h] }
	layerNorm := func(x []float64, name string) []float64 {
		mean, v := 0.0, 0.0
		for _, a := range x {
			mean += a
		}
		mean /= float64(len(x))
		for _, a := range x {
			v += (a - mean) * (a - mean)
		}
		v /= float64(len(x))
		g, b := get(name+".weight"), get(name+".bias")
		out := make([]float64, len(x))
		for k, a := range x {
			out[k] = (a-mean)/math.Sqrt(v+LayerNormEps)*float64(g[k]) + float64(b[k])
		}
		return out
	}
	linear := func(x []float64, name string) []float64 {
		wt, b := w[name+".weight"], get(name+".bias")
		in, outN := int(wt.Dims[0]), int(wt.Dims[1])
		out := make([]float64, outN)
		for j := range outN {
			s := float64(b[j])
			for i := range in {
				s += x[i] * float64(wt.Float32[i*outN+j])
			}
			out[j] = s
		}
		return out
	}
	x := make([][]float64, n)
	for i := range n {
		e := make([]float64, h)
		wr, pr, tr := row("embeddings.word_embeddings.weight", ids[i]), row("embeddings.position_embeddings.weight", int64(i)), row("embeddings.token_type_embeddings.weight", types[i])
		for k := range h {
			e[k] = float64(wr[k]) + float64(pr[k]) + float64(tr[k])
		}
		x[i] = layerNorm(e, "embeddings.LayerNorm")
	}
	heads, hd := c.Heads, h/c.Heads
	for l := range c.Layers {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		q, k, v := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for i := range n {
			q[i], k[i], v[i] = linear(x[i], p+"attention.self.query"), linear(x[i], p+"attention.self.key"), linear(x[i], p+"attention.self.value")
		}
		next := make([][]float64, n)
		for i := range n {
			ctx := make([]float64, h)
			for hh := range heads {
				scores := make([]float64, n)
				top := math.Inf(-1)
				for j := range n {
					if mask[j] == 0 {
						scores[j] = math.Inf(-1)
						continue
					}
					s := 0.0
					for d := range hd {
						s += q[i][hh*hd+d] * k[j][hh*hd+d]
					}
					scores[j] = s / math.Sqrt(float64(hd))
					top = max(top, scores[j])
				}
				sum := 0.0
				for j := range n {
					scores[j] = math.Exp(scores[j] - top)
					sum += scores[j]
				}
				for j := range n {
					for d := range hd {
						ctx[hh*hd+d] += scores[j] / sum * v[j][hh*hd+d]
					}
				}
			}
			a := linear(ctx, p+"attention.output.dense")
			for kk := range h {
				a[kk] += x[i][kk]
			}
			a = layerNorm(a, p+"attention.output.LayerNorm")
			f := linear(a, p+"intermediate.dense")
			for kk := range f {
				f[kk] = f[kk] / 2 * (1 + math.Erf(f[kk]/math.Sqrt2))
			}
			o := linear(f, p+"output.dense")
			for kk := range h {
				o[kk] += a[kk]
			}
			next[i] = layerNorm(o, p+"output.LayerNorm")
		}
		x = next
	}
	return x
}
