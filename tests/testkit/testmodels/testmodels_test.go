package testmodels

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/tokenizer"
)

// sameFiles checks that the files are byte-identical in folders a and b
// (two runs with the same seed) and returns their total size.
func sameFiles(t *testing.T, a, b string, files []string) int {
	t.Helper()
	total := 0
	for _, f := range files {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		y, _ := os.ReadFile(filepath.Join(b, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed", f)
		}
		total += len(x)
	}
	return total
}

func TestWriteBARTDeterministicLayout(t *testing.T) {
	c := Tiny()
	c.SplitDecoder = true
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := WriteBART(d, c); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
		"onnx/encoder_model.onnx", "onnx/decoder_model_merged.onnx", "onnx/decoder_model.onnx", "onnx/decoder_with_past_model.onnx"}
	total := sameFiles(t, a, b, files)
	if total > 2<<20 {
		t.Errorf("tiny folder is %d bytes, want < 2 MB", total)
	}

	enc, err := onnxpb.Inspect(filepath.Join(a, "onnx/encoder_model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(enc.Inputs); !slices.Equal(got, []string{"input_ids", "attention_mask"}) {
		t.Errorf("encoder inputs %v", got)
	}
	if got := names(enc.Outputs); !slices.Equal(got, []string{"last_hidden_state"}) {
		t.Errorf("encoder outputs %v", got)
	}
	dec, err := onnxpb.Inspect(filepath.Join(a, "onnx/decoder_model_merged.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	wantIn := []string{"input_ids", "encoder_attention_mask", "encoder_hidden_states"}
	wantOut := []string{"logits"}
	for i := range c.DecoderLayers {
		for _, p := range []string{"decoder.key", "decoder.value", "encoder.key", "encoder.value"} {
			wantIn = append(wantIn, "past_key_values."+string(rune('0'+i))+"."+p)
			wantOut = append(wantOut, "present."+string(rune('0'+i))+"."+p)
		}
	}
	wantIn = append(wantIn, "use_cache_branch")
	if got := names(dec.Inputs); !slices.Equal(got, wantIn) {
		t.Errorf("merged decoder inputs\n got %v\nwant %v", got, wantIn)
	}
	if got := names(dec.Outputs); !slices.Equal(got, wantOut) {
		t.Errorf("merged decoder outputs\n got %v\nwant %v", got, wantOut)
	}
	pk, _ := dec.Input("past_key_values.0.decoder.key")
	if got := pk.Shape; len(got) != 4 || got[1].Value != 4 || got[2].Param != "past_decoder_sequence_length" || got[3].Value != 8 {
		t.Errorf("cache input shape %v, want [batch_size 4 past_decoder_sequence_length 8]", got)
	}
}

func TestTinyTokenizerLoads(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeTokenizer(dir, ""); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != TinyTokenizerSize {
		t.Errorf("vocab %d, want %d", tok.VocabSize(), TinyTokenizerSize)
	}
	ids := tok.Encode("the cat and the hat")
	if ids[0] != 0 || ids[len(ids)-1] != 2 {
		t.Errorf("ids %v: want <s> … </s>", ids)
	}
	if got := tok.Decode(ids); got != "the cat and the hat" {
		t.Errorf("round trip %q", got)
	}
}

func TestWriteBARTLoRA(t *testing.T) {
	c := Tiny()
	c.SplitDecoder = true
	l := TinyLoRA()
	files := []string{"config.json", "tokenizer.json", "onnx/encoder_model.onnx", "onnx/decoder_model_merged.onnx",
		"onnx/decoder_model.onnx", "onnx/decoder_with_past_model.onnx"}
	var roots []string
	for range 2 {
		r := t.TempDir()
		if err := WriteBARTLoRA(filepath.Join(r, "lora"), filepath.Join(r, "a.onnx_adapter"), filepath.Join(r, "merged"), c, l); err != nil {
			t.Fatal(err)
		}
		roots = append(roots, r)
	}
	var all []string
	for _, f := range files {
		all = append(all, "lora/"+f, "merged/"+f)
	}
	for _, f := range append(all, "a.onnx_adapter") {
		x, err := os.ReadFile(filepath.Join(roots[0], f))
		if err != nil {
			t.Fatal(err)
		}
		if y, _ := os.ReadFile(filepath.Join(roots[1], f)); !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seeds", f)
		}
	}
	// The merged twin is a plain folder: the base model's inputs, other weights.
	base := t.TempDir()
	if err := WriteBART(base, c); err != nil {
		t.Fatal(err)
	}
	for _, f := range files[2:] {
		b, _ := os.ReadFile(filepath.Join(base, f))
		m, _ := os.ReadFile(filepath.Join(roots[0], "merged", f))
		bi, err := onnxpb.Inspect(filepath.Join(base, f))
		if err != nil {
			t.Fatal(err)
		}
		mi, err := onnxpb.Inspect(filepath.Join(roots[0], "merged", f))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != len(m) || bytes.Equal(b, m) || !slices.Equal(names(bi.Inputs), names(mi.Inputs)) {
			t.Errorf("%s: merged twin should be the base graph with other weights", f)
		}
	}
	// The LoRA folder declares A and B with rank-0 defaults.
	enc, err := onnxpb.Inspect(filepath.Join(roots[0], "lora/onnx/encoder_model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"input_ids", "attention_mask"}
	for i := range c.EncoderLayers {
		for _, p := range []string{"q_proj", "v_proj"} {
			a, b := LoRAParamNames(fmt.Sprintf("model.encoder.layers.%d.self_attn.%s", i, p))
			want = append(want, a, b)
		}
	}
	if got := names(enc.Inputs); !slices.Equal(got, want) {
		t.Errorf("LoRA encoder inputs\n got %v\nwant %v", got, want)
	}
	if got := names(enc.RequiredInputs()); !slices.Equal(got, want[:2]) {
		t.Errorf("LoRA encoder required inputs %v, want %v", got, want[:2])
	}
	for _, bad := range []LoRA{{Rank: 0}, {Rank: 2, Targets: []string{"qkv"}}} {
		if err := WriteBARTLoRA(filepath.Join(t.TempDir(), "x"), filepath.Join(t.TempDir(), "a"), "", c, bad); err == nil {
			t.Errorf("LoRA %+v accepted", bad)
		}
	}
}

func names(vs []onnxpb.ValueInfo) []string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Name)
	}
	return s
}
