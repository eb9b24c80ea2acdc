package quantize_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/bart"
	"github.com/transcept/transcept/gpu-runtime/causal"
	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/quantize"
	"github.com/transcept/transcept/gpu-runtime/whisper"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

func needORT(t *testing.T) {
	t.Helper()
	if _, err := ort.Init(); err != nil {
		if os.Getenv("TRANSCEPT_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%v (TRANSCEPT_REQUIRE_SERVICES=1 requires it)", err)
		}
		t.Skipf("%v (or set TRANSCEPT_REQUIRE_SERVICES=1 to fail instead of skipping)", err)
	}
}

func tinyBART(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bart")
	c := testmodels.Tiny()
	// wider than the default tiny model, so that blocks of 32 along K and
	// the sizes mean something: d_model 128, FFN 512
	c.DModel, c.FFN = 128, 512
	if err := testmodels.WriteBART(dir, c); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestQuantizedBART quantises a random-weight BART folder to q8 and q4,
// checks the files and the record, loads them in ONNX Runtime and compares
// them with float32: first-step logits, greedy tokens over 64 steps.
//
// Bounds: q8 (per-channel 8-bit weights, 8-bit dynamic activations) keeps
// the logits' cosine ≥ 0.99; q4 (4-bit blocks of 32) ≥ 0.95. Random
// weights are a hard case for quantisation (no outliers, but no redundancy
// either, and logits of a random model are nearly flat, so greedy choices
// flip on small differences): token agreement is reported, and bounded only
// loosely (q8 ≥ 50%).
func TestQuantizedBART(t *testing.T) {
	needORT(t)
	dir := tinyBART(t)
	out := filepath.Join(t.TempDir(), "quantized")
	for _, d := range []quantize.Options{{DType: "q8", QuantizeEmbeddings: true}, {DType: "q4", Block: 32, QuantizeEmbeddings: true}} {
		rec, err := quantize.Folder(dir, out, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range rec.Summary() {
			t.Log(l)
		}
		// whole files, embeddings included: q8 ≤ 30%, q4 ≤ 35% of float32
		if ratio, max := float64(rec.BytesAfter)/float64(rec.BytesBefore), map[string]float64{"q8": 0.30, "q4": 0.35}[d.DType]; ratio > max {
			t.Errorf("%s: files %.1f%% of float32, want ≤ %.0f%%", d.DType, 100*ratio, 100*max)
		}
		for _, f := range rec.Files {
			// quantised weights' bytes against their float32 bytes: 8 bits
			// plus a scale per column; 4 bits plus a float32 scale per 32
			ratio := float64(f.WeightBytesAfter) / float64(f.WeightBytesBefore)
			if max := map[string]float64{"q8": 0.30, "q4": 0.35}[d.DType]; ratio > max {
				t.Errorf("%s %s: weights %.1f%% of float32, want ≤ %.0f%%", d.DType, f.In, 100*ratio, 100*max)
			}
			if len(f.Quantized) == 0 {
				t.Errorf("%s: nothing quantised", f.In)
			}
			for _, n := range f.Quantized {
				min := map[string]float64{"q8": 0.999, "q4": 0.98}[d.DType]
				if n.Op == "Gather" {
					if n.RelErr > 0.01 {
						t.Errorf("%s: embedding rounding error %.4f", n.Weight, n.RelErr)
					}
					continue
				}
				if n.Cosine < min {
					t.Errorf("%s %s: MatMul output cosine %.5f < %v", d.DType, n.Weight, n.Cosine, min)
				}
			}
		}
	}
	for _, name := range []string{"config.json", "generation_config.json", "tokenizer.json", "quantize.json",
		"onnx/encoder_model_quantized.onnx", "onnx/decoder_model_merged_quantized.onnx", "onnx/encoder_model_q4.onnx", "onnx/decoder_model_merged_q4.onnx"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	var recs map[string]quantize.Record
	b, _ := os.ReadFile(filepath.Join(out, "quantize.json"))
	if err := json.Unmarshal(b, &recs); err != nil || recs["q8"].DType != "q8" || recs["q4"].Block != 32 {
		t.Fatalf("quantize.json: %v %s", err, b)
	}
	// the tied lm_head (MatMul over Transpose(model.shared.weight)) is quantised
	found := false
	for _, f := range recs["q4"].Files {
		for _, n := range f.Quantized {
			found = found || n.Weight == "model.shared.weight_T"
		}
	}
	if !found {
		t.Error("the lm_head was not quantised")
	}

	// the dtype's files are what the loader opens; a dtype without files is
	// a clear error
	if _, _, err := optimum.CheckSeq2SeqDType(dir, "q4"); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(err.Error(), "encoder_model_q4.onnx") {
		t.Errorf("missing q4 files: %v", err)
	}
	f, _, err := optimum.CheckSeq2SeqDType(out, "q4")
	if err != nil || filepath.Base(f.Encoder) != "encoder_model_q4.onnx" {
		t.Fatalf("%v %+v", err, f)
	}

	qs, err := quantize.Compare(dir, out, []string{"q8", "q4"}, quantize.CompareOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var tab bytes.Buffer
	quantize.WriteTable(&tab, qs)
	t.Log("\n" + tab.String())
	for _, q := range qs[1:] {
		minCos := map[string]float64{"q8": 0.99, "q4": 0.95}[q.DType]
		if q.LogitCosine < minCos {
			t.Errorf("%s: logits cosine %.5f < %v", q.DType, q.LogitCosine, minCos)
		}
	}
	if qs[1].TokenAgreement < 0.5 {
		t.Errorf("q8: greedy agreement %.2f < 0.5", qs[1].TokenAgreement)
	}
}

// TestDTypeLoaders: the Whisper and decoder-only loaders open the dtype's
// files (ort.Options.DType), which load and run in ONNX Runtime after the
// rewrite, and name the missing file when a dtype has none.
func TestDTypeLoaders(t *testing.T) {
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
		if _, err := quantize.Folder(dir, "", quantize.Options{DType: "q8"}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := whisper.LoadModel(wdir, ort.Options{IntraOpThreads: 1, DType: "q8"})
	if err != nil {
		t.Fatal(err)
	}
	if p := w.Encoder.Path(); filepath.Base(p) != "encoder_model_quantized.onnx" {
		t.Errorf("whisper q8 encoder: %s", p)
	}
	w.Close()
	if _, err := whisper.LoadModel(wdir, ort.Options{DType: "q4"}); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(err.Error(), "encoder_model_q4.onnx") {
		t.Errorf("whisper without q4 files: %v", err)
	}
	m, err := causal.Load(qdir, ort.Options{IntraOpThreads: 1, DType: "q8"})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(m.Files.Model) != "model_quantized.onnx" {
		t.Errorf("causal q8: %s", m.Files.Model)
	}
	if got, want := m.RegroupedAttention(), 2*m.Files.Layers; got != want {
		t.Errorf("causal q8: %d attention products regrouped, want %d", got, want)
	}
	m.Session.Close()
	if _, err := causal.Load(qdir, ort.Options{DType: "q4"}); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(err.Error(), "model_q4.onnx") {
		t.Errorf("causal without q4 files: %v", err)
	}
	if _, err := causal.Load(qdir, ort.Options{DType: "int3"}); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("unknown dtype: %v", err)
	}
}

// TestSummarizerDType: the BART summariser loads q8 weights through
// bart.Options.DType and its identity (part of the summary cache keys)
// says so.
func TestSummarizerDType(t *testing.T) {
	needORT(t)
	dir := tinyBART(t)
	if _, err := quantize.Folder(dir, "", quantize.Options{DType: "q8"}); err != nil {
		t.Fatal(err)
	}
	fp, err := bart.Load(dir, bart.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	q, err := bart.Load(dir, bart.Options{IntraOpThreads: 1, DType: "q8"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if fp.Model() == q.Model() || !strings.HasSuffix(q.Model(), ":q8") {
		t.Errorf("identities %q and %q", fp.Model(), q.Model())
	}
	if _, err := bart.Load(dir, bart.Options{DType: "q4"}); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(err.Error(), "encoder_model_q4.onnx") {
		t.Errorf("missing q4: %v", err)
	}
}
