package lora_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/lora"
	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/seq2seq"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// safetensors encodes F32 tensors as a safetensors file.
func safetensors(tensors map[string][]float32, shapes map[string][]int) []byte {
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range tensors {
			if !yield(k) {
				return
			}
		}
	}) {
		start := len(data)
		for _, v := range tensors[name] {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		header[name] = map[string]any{"dtype": "F32", "shape": shapes[name], "data_offsets": []int{start, len(data)}}
	}
	h, _ := json.Marshal(header)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), data...)
}

// peftFromAdapter writes the PEFT folder holding the same matrices as an
// .onnx_adapter of a LoRA test folder: PEFT keeps A [r, in] and B [out, r]
// (torch layout), the ONNX inputs are their transposes.
func peftFromAdapter(t *testing.T, adapterPath, dir string, l testmodels.LoRA, config map[string]any) {
	t.Helper()
	a, err := lora.ReadFile(adapterPath)
	if err != nil {
		t.Fatal(err)
	}
	tensors, shapes := map[string][]float32{}, map[string][]int{}
	for _, p := range a.Params {
		rows, cols := int(p.Dims[0]), int(p.Dims[1])
		v := make([]float32, rows*cols)
		for i := range rows {
			for j := range cols {
				v[j*rows+i] = math.Float32frombits(binary.LittleEndian.Uint32(p.Raw[4*(i*cols+j):]))
			}
		}
		key := "base_model.model." + p.Name
		tensors[key], shapes[key] = v, []int{cols, rows}
	}
	os.MkdirAll(dir, 0o755)
	cfg := map[string]any{"peft_type": "LORA", "r": l.Rank, "lora_alpha": float64(l.Scale()) * float64(l.Rank),
		"target_modules": []string{"q_proj", "v_proj"}, "bias": "none", "task_type": "SEQ_2_SEQ_LM", "base_model_name_or_path": "tiny-bart"}
	for k, v := range config {
		cfg[k] = v
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), safetensors(tensors, shapes), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMergePEFTEqualsTwin merges a PEFT adapter into a plain BART export
// (no LoRA inputs): the .onnx files come out byte for byte as the merged
// twin's that testmodels writes from the same matrices.
func TestMergePEFTEqualsTwin(t *testing.T) {
	l := testmodels.TinyLoRA()
	_, adapter, twin, c := loraBART(t, l, func(c *testmodels.Config) { c.SplitDecoder = true })
	root := t.TempDir()
	base, peftDir, out := filepath.Join(root, "base"), filepath.Join(root, "peft"), filepath.Join(root, "merged")
	if err := testmodels.WriteBART(base, c); err != nil {
		t.Fatal(err)
	}
	// a quantised variant beside the float32 files is left out
	q, _ := os.ReadFile(filepath.Join(base, "onnx", "encoder_model.onnx"))
	os.WriteFile(filepath.Join(base, "onnx", "encoder_model_quantized.onnx"), q, 0o644)
	peftFromAdapter(t, adapter, peftDir, l, nil)

	p, err := lora.ReadPEFT(peftDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Modules) != 12 || p.Modules[0].Scale != 2 || p.Modules[0].Rank != 4 {
		t.Fatalf("read %d modules, first %+v", len(p.Modules), p.Modules[0].Name)
	}
	res, err := lora.MergePEFT(p, base, out)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"encoder_model.onnx", "decoder_model_merged.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"} {
		got, err := os.ReadFile(filepath.Join(out, "onnx", f))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join(twin, "onnx", f))
		orig, _ := os.ReadFile(filepath.Join(base, "onnx", f))
		// decoder_with_past_model.onnx keeps the cross-attention k_proj
		// and v_proj weights that no node reads (the cache replaces
		// them): the merge leaves those alone, the twin has them merged;
		// the generation below shows the rest is the twin's.
		if !bytes.Equal(got, want) && f != "decoder_with_past_model.onnx" {
			t.Errorf("%s: merged file differs from the merged twin's", f)
		}
		if bytes.Equal(got, orig) {
			t.Errorf("%s: unchanged", f)
		}
	}
	wantFiles := map[string]int{"onnx/encoder_model.onnx": 4, "onnx/decoder_model_merged.onnx": 8, "onnx/decoder_model.onnx": 8, "onnx/decoder_with_past_model.onnx": 6}
	for f, n := range wantFiles {
		if got := len(res.Files[filepath.FromSlash(f)]); got != n {
			t.Errorf("%s: %d modules merged, want %d (%v)", f, got, n, res.Files)
		}
	}
	if !slices.Equal(res.Skipped, []string{filepath.Join("onnx", "encoder_model_quantized.onnx")}) {
		t.Errorf("skipped %v", res.Skipped)
	}
	if _, err := os.Stat(filepath.Join(out, "onnx", "encoder_model_quantized.onnx")); err == nil {
		t.Error("the quantised variant was copied with base weights")
	}
	for _, f := range []string{"config.json", "tokenizer.json", "generation_config.json"} {
		a, _ := os.ReadFile(filepath.Join(base, f))
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s not copied: %v", f, err)
		}
	}
	// The decoder pair alone (without the merged decoder) generates what
	// the twin's pair does, to the last bit.
	if _, err := ort.Init(); err == nil {
		pair := func(dir string) *optimum.Seq2Seq {
			cp := filepath.Join(t.TempDir(), "pair")
			if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(cp, "onnx", "decoder_model_merged.onnx"))
			return load(t, cp)
		}
		m, tw := pair(out), pair(twin)
		ids, mask := batch(m)
		a, err := seq2seq.Greedy(m, ids, mask, seq2seq.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := seq2seq.Greedy(tw, ids, mask, seq2seq.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(a.IDs, b.IDs, slices.Equal) || maxDiff(a.FirstLogits, b.FirstLogits) != 0 {
			t.Errorf("decoder pair: merged %v, twin %v (logits differ by %g)", a.IDs, b.IDs, maxDiff(a.FirstLogits, b.FirstLogits))
		}
	} else if os.Getenv(requireEnv) == "1" {
		t.Fatal(err)
	}

	rec, err := os.ReadFile(filepath.Join(out, lora.MergeRecordFile))
	if err != nil || !strings.Contains(string(rec), `"adapter": "peft"`) || !strings.Contains(string(rec), `"adapter_sha256"`) {
		t.Errorf("merge record %s: %v", rec, err)
	}

	// The folder exists now: a second merge into it is refused.
	if _, err := lora.MergePEFT(p, base, out); lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second merge: %v", err)
	}
}

func TestMergePEFTRefused(t *testing.T) {
	l := testmodels.TinyLoRA()
	_, adapter, _, c := loraBART(t, l, nil)
	root := t.TempDir()
	peftDir := filepath.Join(root, "peft")
	peftFromAdapter(t, adapter, peftDir, l, nil)
	p, err := lora.ReadPEFT(peftDir)
	if err != nil {
		t.Fatal(err)
	}
	// another model: d_model 48, and one with fewer layers
	wider, shallow := filepath.Join(root, "wider"), filepath.Join(root, "shallow")
	cw := c
	cw.DModel = 48
	cs := c
	cs.EncoderLayers, cs.DecoderLayers = 1, 1
	if err := testmodels.WriteBART(wider, cw); err != nil {
		t.Fatal(err)
	}
	if err := testmodels.WriteBART(shallow, cs); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		dir  string
		want []string
	}{
		{wider, []string{`weight "model.encoder.layers.0.self_attn.q_proj.weight" of model.encoder.layers.0.self_attn.q_proj is [48 48], the adapter's is [32 32]`}},
		{shallow, []string{"no model file has a float32 linear weight for model.decoder.layers.1.encoder_attn.q_proj"}},
	} {
		out := filepath.Join(root, "out-"+filepath.Base(x.dir))
		_, err := lora.MergePEFT(p, x.dir, out)
		if lecture.ErrorCode(err) != lecture.EINVALID {
			t.Errorf("%s: %v", x.dir, err)
			continue
		}
		for _, w := range append(x.want, peftDir, x.dir, "an adapter for another model") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nlacks %q", x.dir, err, w)
			}
		}
		for _, left := range []string{out, out + ".partial"} {
			if _, serr := os.Stat(left); serr == nil {
				t.Errorf("%s: a refused merge left %s", x.dir, left)
			}
		}
		t.Log(err)
	}

	// Configs and files a merge cannot take.
	for _, x := range []struct {
		name   string
		config map[string]any
		break_ func(dir string)
		code   string
		want   string
	}{
		{"dora", map[string]any{"use_dora": true}, nil, lecture.EINVALID, "use_dora"},
		{"not-lora", map[string]any{"peft_type": "IA3"}, nil, lecture.EINVALID, `peft_type is "IA3"`},
		{"saved-modules", map[string]any{"modules_to_save": []string{"lm_head"}}, nil, lecture.EINVALID, "modules_to_save"},
		{"no-weights", nil, func(d string) { os.Remove(filepath.Join(d, "adapter_model.safetensors")) }, lecture.ENOTFOUND, "adapter_model.safetensors"},
		{"no-config", nil, func(d string) { os.Remove(filepath.Join(d, "adapter_config.json")) }, lecture.ENOTFOUND, "adapter_config.json"},
		{"corrupt-weights", nil, func(d string) {
			os.WriteFile(filepath.Join(d, "adapter_model.safetensors"), []byte("\xff\xff\xff\xff\x00\x00\x00\x00{}"), 0o644)
		}, lecture.EINVALID, "not a safetensors file"},
		{"truncated-weights", nil, func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, "adapter_model.safetensors"))
			os.WriteFile(filepath.Join(d, "adapter_model.safetensors"), b[:len(b)-10], 0o644)
		}, lecture.EINVALID, "offsets"},
	} {
		dir := filepath.Join(root, x.name)
		peftFromAdapter(t, adapter, dir, l, x.config)
		if x.break_ != nil {
			x.break_(dir)
		}
		_, err := lora.ReadPEFT(dir)
		if lecture.ErrorCode(err) != x.code || !strings.Contains(err.Error(), x.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: %v (want %s naming %q and the folder)", x.name, err, x.code, x.want)
		}
	}
}

func ExampleMergePEFT() {
	p, err := lora.ReadPEFT("adapters/lecture-style")
	if err != nil {
		fmt.Println(lecture.ErrorMessage(err))
		return
	}
	res, err := lora.MergePEFT(p, "models/distilbart-cnn-6-6", "models/distilbart-cnn-6-6+lecture-style")
	if err != nil {
		fmt.Println(lecture.ErrorMessage(err))
		return
	}
	fmt.Println(res.Files)
}

// TestPEFTToAdapter converts a PEFT folder back into the .onnx_adapter it
// was made from (same bytes), and folds another alpha into B.
func TestPEFTToAdapter(t *testing.T) {
	l := testmodels.TinyLoRA()
	_, adapter, _, _ := loraBART(t, l, nil)
	dir := filepath.Join(t.TempDir(), "peft")
	peftFromAdapter(t, adapter, dir, l, nil)
	p, err := lora.ReadPEFT(dir)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := lora.ReadFile(adapter)
	if err != nil {
		t.Fatal(err)
	}
	// ReadPEFT orders modules by name: the same parameters, sorted.
	slices.SortStableFunc(orig.Params, func(a, b lora.Param) int {
		return strings.Compare(a.Name[:strings.LastIndex(a.Name, ".lora_")], b.Name[:strings.LastIndex(b.Name, ".lora_")])
	})
	want, _ := orig.Marshal()
	got, err := p.Adapter(float64(l.Scale())).Marshal()
	if err != nil || !bytes.Equal(got, want) || len(orig.Params) != 24 {
		t.Errorf("PEFT → adapter differs from the original adapter's parameters (%v)", err)
	}
	// lora_alpha 3× the graph's: B carries the factor 3.
	dir3 := filepath.Join(t.TempDir(), "peft3")
	peftFromAdapter(t, adapter, dir3, l, map[string]any{"lora_alpha": 3 * float64(l.Scale()) * float64(l.Rank)})
	p3, err := lora.ReadPEFT(dir3)
	if err != nil {
		t.Fatal(err)
	}
	a1, a3 := p.Adapter(float64(l.Scale())), p3.Adapter(float64(l.Scale()))
	for i := range a1.Params {
		x, y := a1.Params[i], a3.Params[i]
		for j := 0; j < len(x.Raw); j += 4 {
			vx := math.Float32frombits(binary.LittleEndian.Uint32(x.Raw[j:]))
			vy := math.Float32frombits(binary.LittleEndian.Uint32(y.Raw[j:]))
			f := float32(1)
			if strings.Contains(x.Name, "lora_B") {
				f = 3
			}
			if math.Abs(float64(vy-f*vx)) > 1e-6*math.Abs(float64(vy)) {
				t.Fatalf("%s[%d]: %g, want %g·%g", x.Name, j/4, vy, f, vx)
			}
		}
	}
}
