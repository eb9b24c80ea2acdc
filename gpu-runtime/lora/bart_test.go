package lora_test

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/lora"
	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/seq2seq"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// loraBART writes a tiny LoRA BART folder, its adapter and its merged twin;
// c is testmodels.Tiny() with EOS not favoured (so rows run to max length
// and every step is compared) and mutate applied.
func loraBART(t *testing.T, l testmodels.LoRA, mutate func(*testmodels.Config)) (dir, adapter, merged string, c testmodels.Config) {
	t.Helper()
	c = testmodels.Tiny()
	c.EOSBias = 0
	if mutate != nil {
		mutate(&c)
	}
	root := t.TempDir()
	dir, adapter, merged = filepath.Join(root, "lora"), filepath.Join(root, "tiny.onnx_adapter"), filepath.Join(root, "merged")
	if err := testmodels.WriteBARTLoRA(dir, adapter, merged, c, l); err != nil {
		t.Fatal(err)
	}
	return dir, adapter, merged, c
}

func inspect(t *testing.T, path string) *onnxpb.Info {
	t.Helper()
	info, err := onnxpb.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func paramNames(a *lora.Adapter) []string {
	if a == nil {
		return nil
	}
	var s []string
	for _, p := range a.Params {
		s = append(s, p.Name)
	}
	return s
}

// TestSplitBART splits an encoder-decoder adapter over the four model files
// of an Optimum BART export (no ONNX Runtime needed).
func TestSplitBART(t *testing.T) {
	dir, adapterPath, _, _ := loraBART(t, testmodels.TinyLoRA(), func(c *testmodels.Config) { c.SplitDecoder = true })
	a, err := lora.ReadFile(adapterPath)
	if err != nil {
		t.Fatal(err)
	}
	onnx := func(name string) *onnxpb.Info { return inspect(t, filepath.Join(dir, "onnx", name)) }
	enc, merged, dec, withPast := onnx("encoder_model.onnx"), onnx("decoder_model_merged.onnx"), onnx("decoder_model.onnx"), onnx("decoder_with_past_model.onnx")

	// 2 encoder layers × self_attn + 2 decoder layers × (self_attn, encoder_attn), × q_proj, v_proj, × A, B.
	if len(a.Params) != (2*1+2*2)*2*2 {
		t.Fatalf("adapter has %d parameters: %v", len(a.Params), paramNames(a))
	}
	parts, err := lora.Split(adapterPath, a, enc, merged, nil, dec, withPast)
	if err != nil {
		t.Fatal(err)
	}
	if parts[2] != nil {
		t.Errorf("a nil model got a share: %v", paramNames(parts[2]))
	}
	var encWant, decWant, pastWant []string
	for _, n := range paramNames(a) {
		switch {
		case strings.HasPrefix(n, "model.encoder."):
			encWant = append(encWant, n)
		case strings.HasPrefix(n, "model.decoder."):
			decWant = append(decWant, n)
			// the with-past decoder reads the cross-attention keys and
			// values from the cache: it has no k_proj/v_proj there
			if !strings.Contains(n, "encoder_attn.v_proj") {
				pastWant = append(pastWant, n)
			}
		default:
			t.Errorf("parameter %q is neither the encoder's nor the decoder's", n)
		}
	}
	for i, want := range [][]string{encWant, decWant, nil, decWant, pastWant} {
		if got := paramNames(parts[i]); !slices.Equal(got, want) {
			t.Errorf("share %d:\n got %v\nwant %v", i, got, want)
		}
	}
	if want := "model.encoder.layers.0.self_attn.q_proj.lora_A.weight"; encWant[0] != want {
		t.Errorf("first parameter %q, want %q", encWant[0], want)
	}
	in, _ := enc.Input(encWant[0])
	if len(in.Shape) != 2 || in.Shape[0].Value != 32 || in.Shape[1].Param != "lora_r" {
		t.Errorf("%s declared %v, want [32 lora_r]", encWant[0], in.Shape)
	}

	// An adapter for another model, in several ways: each error names the
	// adapter file and every model file, and says what differs.
	other := func(mutate func(*lora.Adapter)) *lora.Adapter {
		b := &lora.Adapter{Params: slices.Clone(a.Params)}
		mutate(b)
		return b
	}
	wider, _, _, _ := loraBART(t, testmodels.TinyLoRA(), func(c *testmodels.Config) { c.DModel, c.Heads = 48, 4 })
	widerAdapter, err := lora.ReadFile(filepath.Join(filepath.Dir(wider), "tiny.onnx_adapter"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		a    *lora.Adapter
		want []string
	}{
		{"unknown", other(func(b *lora.Adapter) {
			b.Params = append(b.Params, lora.Float32("model.decoder.layers.0.fc1.lora_A.weight", []int64{32, 4}, make([]float32, 128)),
				lora.Float32("model.decoder.layers.0.fc1.lora_B.weight", []int64{4, 64}, make([]float32, 256)))
		}), []string{`no model file has an input "model.decoder.layers.0.fc1.lora_A.weight"`, `"model.decoder.layers.0.fc1.lora_B.weight"`}},
		{"wider-model", widerAdapter, []string{`"model.encoder.layers.0.self_attn.q_proj.lora_A.weight" has shape [48 4] in the adapter, [32 lora_r] in the model`,
			"encoder_model.onnx: ", "decoder_with_past_model.onnx: "}},
		{"rank", other(func(b *lora.Adapter) {
			b.Params[1] = lora.Float32(b.Params[1].Name, []int64{3, 32}, make([]float32, 96))
		}), []string{`"model.encoder.layers.0.self_attn.q_proj.lora_A.weight" has rank 4, "model.encoder.layers.0.self_attn.q_proj.lora_B.weight" rank 3`}},
		{"half", other(func(b *lora.Adapter) { b.Params = b.Params[1:] }),
			[]string{`"model.encoder.layers.0.self_attn.q_proj.lora_B.weight" has no "model.encoder.layers.0.self_attn.q_proj.lora_A.weight"`}},
		{"type", other(func(b *lora.Adapter) {
			b.Params[0] = lora.Param{Name: b.Params[0].Name, Dims: b.Params[0].Dims, DataType: onnxpb.Double, Raw: make([]byte, 8*32*4)}
		}), []string{`"model.encoder.layers.0.self_attn.q_proj.lora_A.weight" is float64 in the adapter, float32 in the model`}},
		{"empty", &lora.Adapter{}, []string{"holds no parameters"}},
	} {
		_, err := lora.Split(adapterPath, c.a, enc, merged, dec, withPast)
		if lecture.ErrorCode(err) != lecture.EINVALID {
			t.Errorf("%s: %v, want EINVALID", c.name, err)
			continue
		}
		msg := err.Error()
		for _, w := range append(c.want, adapterPath, enc.Path, merged.Path, dec.Path, withPast.Path, "an adapter for another model") {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %s\nlacks %q", c.name, msg, w)
			}
		}
	}
}

const requireEnv = "TRANSCEPT_REQUIRE_SERVICES"

func load(t *testing.T, dir string) *optimum.Seq2Seq {
	t.Helper()
	m, err := optimum.LoadSeq2Seq(dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func maxDiff(a, b [][]float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return math.Inf(1)
		}
		for j := range a[i] {
			d = max(d, math.Abs(float64(a[i][j]-b[i][j])))
		}
	}
	return d
}

// batch is two padded rows of the tiny tokenizer's ids.
func batch(m *optimum.Seq2Seq) (ids, mask [][]int) {
	return seq2seq.Pad([][]int{
		m.Tokenizer.Encode("the cat sat on the mat and the dog ran"),
		m.Tokenizer.Encode("a hat"),
	}, m.Generation.PadTokenID)
}

// TestBARTAdapterEqualsMergedTwin is the proof: generation with the adapter
// active (split per session) gives the token ids of the folder whose
// weights are W + scale·A·B, greedy and beam, and differs from the base
// model's.
func TestBARTAdapterEqualsMergedTwin(t *testing.T) {
	orttest.Need(t)
	for _, c := range []struct {
		name   string
		lora   testmodels.LoRA
		mutate func(*testmodels.Config)
	}{
		{"merged-decoder q_proj,v_proj rank 4", testmodels.TinyLoRA(), nil},
		{"merged-decoder all projections rank 2", testmodels.LoRA{Rank: 2, Alpha: 3, Seed: 11,
			Targets: []string{"q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"}}, nil},
		// the older pair: one decoder share serves both decoders, so the
		// targets must be the same in both (cross-attention k/v are not)
		{"decoder pair q_proj rank 8", testmodels.LoRA{Rank: 8, Seed: 5, Targets: []string{"q_proj", "out_proj"}},
			func(c *testmodels.Config) { c.SplitDecoder, c.NoMerged = true, true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, adapterPath, mergedDir, cfg := loraBART(t, c.lora, c.mutate)
			baseDir := filepath.Join(t.TempDir(), "base")
			if err := testmodels.WriteBART(baseDir, cfg); err != nil {
				t.Fatal(err)
			}
			m, twin, base := load(t, dir), load(t, mergedDir), load(t, baseDir)
			ad, err := lora.LoadPerSession(adapterPath, m.Encoder, m.Decoder, m.DecoderWithPast)
			if err != nil {
				t.Fatal(err)
			}
			defer ad.Close()
			if ad.RunOptions(0) == nil || ad.RunOptions(1) == nil {
				t.Fatal("the encoder or the decoder got no share")
			}
			if m.DecoderWithPast != nil && !slices.Equal(paramNames(ad.Part(1)), paramNames(ad.Part(2))) {
				t.Fatalf("decoder shares differ: %v vs %v", paramNames(ad.Part(1)), paramNames(ad.Part(2)))
			}
			ids, mask := batch(m)
			with := seq2seq.Options{EncoderRunOptions: ad.RunOptions(0), DecoderRunOptions: ad.RunOptions(1)}

			gen := func(f func(*optimum.Seq2Seq, [][]int, [][]int, seq2seq.Options) (*seq2seq.Result, error), m *optimum.Seq2Seq, o seq2seq.Options) *seq2seq.Result {
				t.Helper()
				r, err := f(m, ids, mask, o)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			for _, g := range []struct {
				name string
				f    func(*optimum.Seq2Seq, [][]int, [][]int, seq2seq.Options) (*seq2seq.Result, error)
				o    seq2seq.Options
			}{
				{"greedy", seq2seq.Greedy, seq2seq.Options{}},
				{"beam 4", seq2seq.Beam, seq2seq.Options{NumBeams: 4, NumReturnSequences: 2}},
			} {
				o := g.o
				o.EncoderRunOptions, o.DecoderRunOptions = with.EncoderRunOptions, with.DecoderRunOptions
				adapted := gen(g.f, m, o)
				merged := gen(g.f, twin, g.o)
				plain := gen(g.f, m, g.o) // the LoRA folder without the adapter
				baseline := gen(g.f, base, g.o)

				if !slices.EqualFunc(adapted.IDs, merged.IDs, slices.Equal) {
					t.Errorf("%s: ids with the adapter\n%v\nmerged twin\n%v", g.name, adapted.IDs, merged.IDs)
				}
				d := maxDiff(adapted.FirstLogits, merged.FirstLogits)
				if d > 1e-4 {
					t.Errorf("%s: first-step logits differ from the merged twin's by %g > 1e-4", g.name, d)
				}
				if slices.EqualFunc(adapted.IDs, baseline.IDs, slices.Equal) {
					t.Errorf("%s: the adapter does not change the ids %v", g.name, adapted.IDs)
				}
				change := maxDiff(adapted.FirstLogits, baseline.FirstLogits)
				if !slices.EqualFunc(plain.IDs, baseline.IDs, slices.Equal) || maxDiff(plain.FirstLogits, baseline.FirstLogits) > 1e-5 {
					t.Errorf("%s: without the adapter the LoRA folder is not the base model: %v vs %v", g.name, plain.IDs, baseline.IDs)
				}
				t.Logf("%s: ids %v; first-step logits: adapter moves them up to %.3f, |adapter − merged| ≤ %.2g", g.name, adapted.IDs[0], change, d)
			}
		})
	}
}
