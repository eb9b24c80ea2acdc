package testmodels

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
		sameFiles(t, a, b, []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model.onnx"})
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

// TestQwen25Config: the 0.5B shape writes Qwen2.5-0.5B-Instruct's
// config.json and generation_config.json values, with the special ids
// taken from the real tokenizer (its folder is too large to write in a
// unit test: tests/reference/causal-bench.sh does).
func TestQwen25Config(t *testing.T) {
	c := Qwen25_05B("")
	sp := qwenSpecials{EndOfText: 151643, IMEnd: 151645}
	cfg, gen := c.configJSON(sp), c.generationJSON(sp)
	want := map[string]any{"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
		"intermediate_size": 4864, "vocab_size": 151936, "head_dim": 64, "max_position_embeddings": 32768,
		"rope_theta": 1e6, "rms_norm_eps": 1e-6, "tie_word_embeddings": true, "bos_token_id": 151643, "eos_token_id": 151645}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("config.json %s = %v, want %v", k, cfg[k], v)
		}
	}
	if gen["repetition_penalty"] != 1.1 || gen["top_k"] != 20 || gen["top_p"] != 0.8 || gen["temperature"] != 0.7 ||
		gen["do_sample"] != true || gen["pad_token_id"] != 151643 || !slices.Equal(gen["eos_token_id"].([]int), []int{151645, 151643}) {
		t.Errorf("generation_config.json %v", gen)
	}
	if !c.ExternalData {
		t.Error("a 2 GB model must use external data")
	}
	// parameters: 151936·896 embedding + 24 layers + final norm ≈ 494 M
	d, f, kv := 896, 4864, 128
	layer := d + d*d + d + 2*(d*kv+kv) + d*d + d + 3*d*f
	if n := 151936*d + 24*layer + d; n < 494_000_000 || n > 494_100_000 {
		t.Errorf("%d parameters, want Qwen2.5-0.5B's 494.0 M", n)
	}

	tokDir := filepath.Join("..", "..", "reference", "node_modules", "@lenml", "tokenizer-qwen2_5", "models")
	got, err := readQwenSpecials(filepath.Join(tokDir, "tokenizer.json"))
	if errors.Is(err, os.ErrNotExist) {
		t.Logf("real Qwen2.5 tokenizer not installed (make reference): %v", err)
	} else if err != nil || got != sp {
		t.Errorf("real tokenizer specials %+v %v, want %+v", got, err, sp)
	}
	bad := filepath.Join(t.TempDir(), "tokenizer.json")
	os.WriteFile(bad, []byte(`{"added_tokens": [{"id": 5, "content": "<|endoftext|>"}]}`), 0o644)
	if _, err := readQwenSpecials(bad); err == nil || !strings.Contains(err.Error(), "not a Qwen tokenizer") {
		t.Errorf("tokenizer without <|im_end|>: %v", err)
	}
}

// TestWriteQwen2ExternalData: with ExternalData the large tensors go to
// onnx/model.onnx_data (deterministic too), model.onnx keeps the graph,
// and every external reference is inside the data file.
func TestWriteQwen2ExternalData(t *testing.T) {
	c := TinyQwen()
	c.ExternalData = true
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := WriteQwen2(d, c); err != nil {
			t.Fatal(err)
		}
	}
	sameFiles(t, a, b, []string{"onnx/model.onnx", "onnx/model.onnx_data"})
	info, err := onnxpb.Inspect(filepath.Join(a, "onnx/model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := info.CheckExternal(); err != nil {
		t.Error(err)
	}
	for _, name := range []string{"model.embed_tokens.weight", "model.layers.1.mlp.down_proj.weight", "lm_head.weight", "rope.cos"} {
		if e, ok := info.External[name]; !ok || e.Location != "model.onnx_data" || e.Offset%onnxpb.ExternalAlign != 0 {
			t.Errorf("%s: external %+v %v", name, e, ok)
		}
	}
	if _, ok := info.External["model.layers.0.input_layernorm.weight"]; ok {
		t.Error("a 256-byte tensor went to the data file (threshold 1 KiB)")
	}
	// writing the single-file layout over it removes the stale data file
	c.ExternalData = false
	if err := WriteQwen2(a, c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a, "onnx/model.onnx_data")); !os.IsNotExist(err) {
		t.Errorf("stale model.onnx_data left: %v", err)
	}
}
