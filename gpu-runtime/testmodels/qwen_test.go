package testmodels

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/tokenizer"
)

func TestWriteQwen2DeterministicLayout(t *testing.T) {
	for _, tied := range []bool{false, true} {
		c := TinyQwen()
		c.Tied = tied
		a, b := t.TempDir(), t.TempDir()
		for _, d := range []string{a, b} {
			if err := WriteQwen2(d, c); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model.onnx"} {
			x, err := os.ReadFile(filepath.Join(a, f))
			if err != nil {
				t.Fatal(err)
			}
			y, _ := os.ReadFile(filepath.Join(b, f))
			if !bytes.Equal(x, y) {
				t.Errorf("%s differs between two runs with the same seed", f)
			}
		}
		info, err := onnxpb.Inspect(filepath.Join(a, "onnx/model.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		var in, out []string
		for _, v := range info.Inputs {
			in = append(in, v.Name)
		}
		for _, v := range info.Outputs {
			out = append(out, v.Name)
		}
		wantIn := []string{"input_ids", "attention_mask", "position_ids",
			"past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value"}
		wantOut := []string{"logits", "present.0.key", "present.0.value", "present.1.key", "present.1.value"}
		if !slices.Equal(in, wantIn) || !slices.Equal(out, wantOut) {
			t.Errorf("inputs %v outputs %v", in, out)
		}
		pk, _ := info.Input("past_key_values.0.key")
		if s := pk.Shape; len(s) != 4 || s[1].Value != 2 || s[2].Param != "past_sequence_length" || s[3].Value != 16 {
			t.Errorf("cache shape %v, want [batch_size 2 past_sequence_length 16]", s)
		}
		_, hasHead := info.Input("lm_head.weight")
		if hasHead {
			t.Error("lm_head is an input")
		}
	}
	c := TinyQwen()
	c.Heads, c.KVHeads = 4, 3
	if err := WriteQwen2(t.TempDir(), c); err == nil {
		t.Error("4 heads over 3 key/value heads accepted")
	}
}

func TestQwenTinyTokenizer(t *testing.T) {
	dir := t.TempDir()
	tj, cj := QwenTinyTokenizer()
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cj, 0o644)
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != QwenTinyTokenizerSize {
		t.Errorf("vocab %d, want %d", tok.VocabSize(), QwenTinyTokenizerSize)
	}
	s := "<|im_start|>user\nthe café<|im_end|>"
	ids := tok.EncodePlain(s)
	if ids[0] != QwenIMStart || ids[len(ids)-1] != QwenIMEnd {
		t.Errorf("ids %v: want <|im_start|> … <|im_end|>", ids)
	}
	if got := tok.DecodeRaw(ids); got != s {
		t.Errorf("round trip %q", got)
	}
	if sp := tok.Special(); sp.EOS != QwenIMEnd || sp.PAD != QwenEndOfText || sp.BOS != tokenizer.NoToken {
		t.Errorf("special %+v", sp)
	}
}
