package quantize_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/bart"
	"github.com/transcept/transcept/gpu-runtime/causal"
	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/quantize"
	"github.com/transcept/transcept/gpu-runtime/whisper"
	"github.com/transcept/transcept/tests/testkit/svctest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// TestFloat16Bits: IEEE binary16 rounding to nearest even, subnormals,
// overflow, and the converter's clamping of what fp16 cannot hold.
func TestFloat16Bits(t *testing.T) {
	for _, c := range []struct {
		x    float32
		bits uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65520, 0x7c00}, {65519, 0x7bff},
		{float32(math.Inf(-1)), 0xfc00}, {5.960464477539063e-08, 0x0001}, {2.98e-08, 0x0000}, {2.99e-08, 0x0001},
		{6.103515625e-05, 0x0400}, {1.0009765625, 0x3c01}, {1.00048828125, 0x3c00}, {1.00146484375, 0x3c02}, // ties to even
		{0.333333343, 0x3555}, {-1e-3, 0x9419},
	} {
		if got := quantize.Float16Bits(c.x); got != c.bits {
			t.Errorf("Float16Bits(%g) = %#04x, want %#04x", c.x, got, c.bits)
		}
	}
	// every finite half survives the round trip through float32
	for h := range 0x7c00 {
		if got := quantize.Float16Bits(quantize.Float16Value(uint16(h))); got != uint16(h) {
			t.Fatalf("%#04x -> %g -> %#04x", h, quantize.Float16Value(uint16(h)), got)
		}
	}
	// a model with a constant past fp16's range, a tiny one and an
	// ordinary one: clamped, raised to the smallest subnormal, rounded
	dir := t.TempDir()
	g := onnxpb.Graph{Name: "g",
		Nodes:        []onnxpb.Node{{OpType: "Add", Inputs: []string{"x", "c"}, Outputs: []string{"y"}}},
		Initializers: []onnxpb.Tensor{{Name: "c", DataType: onnxpb.Float, Dims: []int64{4}, Float32: []float32{-3.4e38, 1e-9, -1e-9, 0.1}}},
		Inputs:       []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D(4)}},
		Outputs:      []onnxpb.ValueInfo{{Name: "y", ElemType: onnxpb.Float, Shape: onnxpb.D(4)}},
	}
	in := filepath.Join(dir, "m.onnx")
	if err := (&onnxpb.Model{Graph: g}).WriteFile(in); err != nil {
		t.Fatal(err)
	}
	st, err := quantize.ConvertFP16File(in, filepath.Join(dir, "m_fp16.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Clamped != 1 || st.Tiny != 2 || st.Values != 4 || st.Converted != 1 || st.Casts != 2 {
		t.Errorf("stats %+v", st)
	}
	if _, err := ort.Init(); err == nil {
		s, err := ort.NewSession(filepath.Join(dir, "m_fp16.onnx"), ort.Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		x, _ := ort.NewTensor([]int64{4}, []float32{0, 0, 0, 0})
		defer x.Destroy()
		y := []ort.Value{{}}
		if err := s.Run([]ort.Value{x}, y); err != nil {
			t.Fatal(err)
		}
		defer y[0].Destroy()
		v, _ := ort.Data[float32](y[0])
		if want := []float32{-65504, 5.9604645e-08, -5.9604645e-08, 0.099975586}; !slicesEqual(v, want) {
			t.Errorf("y = %v, want %v", v, want)
		}
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkFP16Files: every graph input and output of the fp16 files has the
// element type the float32 file declares; the files are about half.
func checkFP16Files(t *testing.T, rec *quantize.FP16Record, dir, out string) {
	t.Helper()
	for _, l := range rec.Summary() {
		t.Log(l)
	}
	for _, f := range rec.Files {
		a, err := onnxpb.Inspect(filepath.Join(dir, f.In))
		if err != nil {
			t.Fatal(err)
		}
		b, err := onnxpb.Inspect(filepath.Join(out, f.Out))
		if err != nil {
			t.Fatal(err)
		}
		types := func(vs []onnxpb.ValueInfo) map[string]onnxpb.DataType {
			m := map[string]onnxpb.DataType{}
			for _, v := range vs {
				m[v.Name] = v.ElemType
			}
			return m
		}
		for _, pair := range [][2][]onnxpb.ValueInfo{{a.Inputs, b.Inputs}, {a.Outputs, b.Outputs}} {
			ta, tb := types(pair[0]), types(pair[1])
			if len(ta) != len(tb) {
				t.Errorf("%s: %d inputs/outputs, float32 has %d", f.Out, len(tb), len(ta))
			}
			for n, ty := range ta {
				if tb[n] != ty {
					t.Errorf("%s: %s is %s, float32 file has %s", f.Out, n, tb[n], ty)
				}
			}
		}
		// weights are nearly all of a file: half, plus a little for the
		// float32 layer-norm weights and the graph itself
		if r := float64(f.BytesAfter) / float64(f.BytesBefore); r < 0.45 || r > 0.6 {
			t.Errorf("%s: %.1f%% of float32, want about half", f.Out, 100*r)
		}
		if f.Islands["LayerNormalization"]+f.Islands["ReduceMean"]+f.Islands["Softmax"] == 0 {
			t.Errorf("%s: no float32 islands: %v", f.Out, f.Islands)
		}
	}
}

// TestFP16BART converts a random-weight BART folder (the merged decoder's
// If branches included) to fp16, checks the files and loads them through
// the dtype the runtime takes, and compares them with float32 on ONNX
// Runtime's CPU provider: first-step logits and 64 greedy steps.
//
// Tolerance: fp16 keeps 11 significant bits, a relative rounding error of
// at most 2⁻¹¹ ≈ 4.9e-4 per value (about 2.8e-4 on average); weights and
// activations are rounded once per op through 2+2 layers and the lm_head,
// with float32 accumulation inside the kernels, and independent roundings
// add up roughly as their root sum of squares, damped by the layer norms:
// a few 1e-4 (measured here 6e-4). A logits relative error ≤ 0.005 and a
// cosine ≥ 0.9999 leave a margin of ~8 for other seeds and shapes while
// failing any real mistake (a weight left unscaled or a cast in the wrong
// place gives errors of order 1).
func TestFP16BART(t *testing.T) {
	needORT(t)
	dir := tinyBART(t)
	out := filepath.Join(t.TempDir(), "fp16")
	rec, err := quantize.FolderFP16(dir, out)
	if err != nil {
		t.Fatal(err)
	}
	checkFP16Files(t, rec, dir, out)
	for _, name := range []string{"config.json", "tokenizer.json", "onnx/encoder_model_fp16.onnx", "onnx/decoder_model_merged_fp16.onnx"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	var recs map[string]json.RawMessage
	b, _ := os.ReadFile(filepath.Join(out, "quantize.json"))
	if err := json.Unmarshal(b, &recs); err != nil || recs["fp16"] == nil {
		t.Fatalf("quantize.json: %v %s", err, b)
	}
	// the summariser loads them through its dtype, and says so in its
	// identity (part of the summary cache keys)
	sum, err := bart.Load(out, bart.Options{IntraOpThreads: 1, DType: "fp16"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(sum.Model(), ":fp16") {
		t.Errorf("summariser identity %q", sum.Model())
	}
	sum.Close()
	qs, err := quantize.Compare(dir, out, []string{"fp16"}, quantize.CompareOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var tab bytes.Buffer
	quantize.WriteTable(&tab, qs)
	t.Log("\n" + tab.String())
	q := qs[1]
	if q.LogitRelErr > 0.005 || q.LogitCosine < 0.9999 {
		t.Errorf("fp16 logits: relative error %.5f (want ≤ 0.005), cosine %.6f (want ≥ 0.9999)", q.LogitRelErr, q.LogitCosine)
	}
	if q.TokenAgreement < 0.95 {
		t.Errorf("fp16 greedy agreement %.3f < 0.95", q.TokenAgreement)
	}
}

// TestFP16WhisperQwen: tiny Whisper and Qwen2 folders converted to fp16
// load through ort.Options.DType "fp16" and give float32's tokens and
// (Qwen) first logits within fp16's tolerance.
func TestFP16WhisperQwen(t *testing.T) {
	needORT(t)
	wdir := filepath.Join(t.TempDir(), "whisper")
	if err := testmodels.WriteWhisper(wdir, testmodels.TinyWhisper()); err != nil {
		t.Fatal(err)
	}
	qdir := filepath.Join(t.TempDir(), "qwen")
	qc := testmodels.TinyQwen()
	qc.ExternalData = true // weights in model.onnx_data: read from there, written inline
	if err := testmodels.WriteQwen2(qdir, qc); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{wdir, qdir} {
		rec, err := quantize.FolderFP16(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		checkFP16Files(t, rec, dir, dir)
	}

	t.Run("whisper", func(t *testing.T) {
		var ids [2][]int
		var enc [2][]float32
		for i, dtype := range []string{"fp32", "fp16"} {
			var log bytes.Buffer
			m, err := whisper.LoadModel(wdir, ort.Options{IntraOpThreads: 1, DType: dtype, Logger: slog.New(slog.NewTextHandler(&log, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			// the If's outputs keep their names and float32 (the casts are
			// in the branches), so the decoder is split into its with-past
			// steps and cross-attention projection for fp16 too
			if !strings.Contains(log.String(), "split: with-past steps and cross-attention projection") {
				t.Errorf("%s: whisper decoder loaded without being split:\n%s", dtype, log.String())
			}
			r := rand.New(rand.NewPCG(3, 4))
			feats := make([]float32, m.Features.NMels()*whisper.ChunkFrames)
			for j := range feats {
				feats[j] = float32(r.NormFloat64() * 0.5)
			}
			if ids[i], err = m.Generate(feats, whisper.DecodeOptions{MaxLength: 24}); err != nil {
				t.Fatal(err)
			}
			x, _ := ort.NewTensor([]int64{1, int64(m.Features.NMels()), whisper.ChunkFrames}, feats)
			y := []ort.Value{{}}
			if err := m.Encoder.Run([]ort.Value{x}, y); err != nil {
				t.Fatal(err)
			}
			enc[i], _ = ort.Data[float32](y[0])
			enc[i] = append([]float32(nil), enc[i]...)
			x.Destroy()
			y[0].Destroy()
		}
		rel, cos := compare(enc[0], enc[1])
		t.Logf("encoder states: relative error %.5f, cosine %.6f; tokens fp32 %v fp16 %v", rel, cos, ids[0], ids[1])
		if rel > 0.005 || cos < 0.9999 {
			t.Errorf("whisper encoder: relative error %.5f, cosine %.6f", rel, cos)
		}
		if !intsEqual(ids[0], ids[1]) {
			t.Errorf("whisper tokens differ: %v vs %v", ids[0], ids[1])
		}
	})

	t.Run("qwen", func(t *testing.T) {
		var res [2]*causal.Result
		for i, dtype := range []string{"fp32", "fp16"} {
			m, err := causal.Load(qdir, ort.Options{IntraOpThreads: 1, DType: dtype})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if dtype == "fp16" && filepath.Base(m.Files.Model) != "model_fp16.onnx" {
				t.Errorf("causal fp16 loaded %s", m.Files.Model)
			}
			if got, want := m.RegroupedAttention(), 2*m.Files.Layers; got != want {
				t.Errorf("causal %s: %d attention products regrouped, want %d", dtype, got, want)
			}
			prompts := [][]int{{5, 9, 13, 21, 7, 30}, {11, 4, 8}}
			if res[i], err = causal.Generate(context.Background(), m, prompts, causal.Options{MaxNewTokens: 32, MinNewTokens: 32}); err != nil {
				t.Fatal(err)
			}
		}
		for r := range res[0].FirstLogits {
			rel, cos := compare(res[0].FirstLogits[r], res[1].FirstLogits[r])
			t.Logf("row %d: first logits relative error %.5f, cosine %.6f", r, rel, cos)
			if rel > 0.005 || cos < 0.9999 {
				t.Errorf("qwen row %d: relative error %.5f, cosine %.6f", r, rel, cos)
			}
			if !intsEqual(res[0].Tokens[r], res[1].Tokens[r]) {
				t.Errorf("qwen row %d tokens differ: %v vs %v", r, res[0].Tokens[r], res[1].Tokens[r])
			}
		}
	})
}

func compare(a, b []float32) (rel, cos float64) {
	var dd, aa, bb, ab float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dd += (x - y) * (x - y)
		aa += x * x
		bb += y * y
		ab += x * y
	}
	return math.Sqrt(dd / aa), ab / math.Sqrt(aa*bb)
}

func intsEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFP16TransformersJS: transformers.js (tests/reference/seq2seq-greedy.mjs
// with dtype fp16) loads our onnx/*_fp16.onnx files as it loads the hub's,
// feeding float32 caches as their metadata says, and generates what it
// generates from the float32 files; its first-step logits agree with
// float32's within fp16's tolerance (see TestFP16BART).
func TestFP16TransformersJS(t *testing.T) {
	ref, err := filepath.Abs(filepath.Join("..", "..", "tests", "reference"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := osexec.LookPath("node")
	if _, serr := os.Stat(filepath.Join(ref, "node_modules", "@huggingface", "transformers")); err != nil || serr != nil {
		svctest.Missing(t, "node or transformers.js is missing (run `make reference`)")
	}
	dir := filepath.Join(t.TempDir(), "bart")
	if err := testmodels.WriteBART(dir, testmodels.Tiny()); err != nil {
		t.Fatal(err)
	}
	if _, err := quantize.FolderFP16(dir, ""); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Cases []struct {
			Name        string    `json:"name"`
			OutputIDs   [][]int   `json:"output_ids"`
			FirstLogits []float32 `json:"first_logits"`
		} `json:"cases"`
	}
	var res [2]result
	for i, dtype := range []string{"fp32", "fp16"} {
		cmd := osexec.Command(node, "seq2seq-greedy.mjs", dir, dtype)
		cmd.Dir = ref
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node seq2seq-greedy.mjs %s: %v\n%s", dtype, err, stderr.String())
		}
		if err := json.Unmarshal(out, &res[i]); err != nil {
			t.Fatal(err)
		}
	}
	if len(res[0].Cases) == 0 || len(res[0].Cases) != len(res[1].Cases) {
		t.Fatalf("cases: %d and %d", len(res[0].Cases), len(res[1].Cases))
	}
	for k, c := range res[0].Cases {
		h := res[1].Cases[k]
		rel, cos := compare(c.FirstLogits, h.FirstLogits)
		t.Logf("%s: first logits relative error %.5f, cosine %.6f", c.Name, rel, cos)
		if rel > 0.005 || cos < 0.9999 {
			t.Errorf("%s: fp16 logits relative error %.5f, cosine %.6f", c.Name, rel, cos)
		}
		for r := range c.OutputIDs {
			if !intsEqual(c.OutputIDs[r], h.OutputIDs[r]) {
				t.Errorf("%s row %d: fp32 %v, fp16 %v", c.Name, r, c.OutputIDs[r], h.OutputIDs[r])
			}
		}
	}
}

// TestFP16ExternalData: past FP16InlineLimit the float16 weights go to
// onnx/model_fp16.onnx_data (the input's external data read, nothing left
// pointing at it: the copy in another folder loads alone), and the model
// generates what the inline one does.
func TestFP16ExternalData(t *testing.T) {
	needORT(t)
	dir := filepath.Join(t.TempDir(), "qwen")
	qc := testmodels.TinyQwen()
	qc.ExternalData = true
	if err := testmodels.WriteQwen2(dir, qc); err != nil {
		t.Fatal(err)
	}
	inline := filepath.Join(t.TempDir(), "inline")
	if _, err := quantize.FolderFP16(dir, inline); err != nil {
		t.Fatal(err)
	}
	old := quantize.FP16InlineLimit
	quantize.FP16InlineLimit = 0
	defer func() { quantize.FP16InlineLimit = old }()
	ext := filepath.Join(t.TempDir(), "external")
	rec, err := quantize.FolderFP16(dir, ext)
	if err != nil {
		t.Fatal(err)
	}
	checkFP16Files(t, rec, dir, ext)
	info, err := onnxpb.Inspect(filepath.Join(ext, "onnx", "model_fp16.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.External) == 0 {
		t.Fatal("no external data")
	}
	for name, e := range info.External {
		if e.Location != "model_fp16.onnx_data" {
			t.Errorf("%s lies in %s", name, e.Location)
		}
	}
	if err := info.CheckExternal(); err != nil {
		t.Fatal(err)
	}
	var toks [2][][]int
	for i, d := range []string{inline, ext} {
		m, err := causal.Load(d, ort.Options{IntraOpThreads: 1, DType: "fp16"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := causal.Generate(context.Background(), m, [][]int{{5, 9, 13, 21}}, causal.Options{MaxNewTokens: 16, MinNewTokens: 16})
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		toks[i] = res.Tokens
	}
	if !intsEqual(toks[0][0], toks[1][0]) {
		t.Errorf("inline %v, external %v", toks[0], toks[1])
	}
}
