package bertgen

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
)

func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := Write(d, Tiny()); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model.onnx"} {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		y, _ := os.ReadFile(filepath.Join(b, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two writes of the same config", f)
		}
	}
	c := Tiny()
	c.Seed = 2
	other := t.TempDir()
	if err := Write(other, c); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(filepath.Join(a, "onnx/model.onnx"))
	y, _ := os.ReadFile(filepath.Join(other, "onnx/model.onnx"))
	if bytes.Equal(x, y) {
		t.Error("seed 2 gives the same weights as seed 1")
	}
}

func TestFolder(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, Tiny()); err != nil {
		t.Fatal(err)
	}
	info, err := onnxpb.Inspect(filepath.Join(dir, "onnx", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"input_ids", "attention_mask", "token_type_ids"} {
		if v, ok := info.Input(n); !ok || v.ElemType != onnxpb.Int64 || len(v.Shape) != 2 {
			t.Errorf("input %s: %v %v", n, v, ok)
		}
	}
	if v, ok := info.Output("last_hidden_state"); !ok || v.ElemType != onnxpb.Float || len(v.Shape) != 3 || v.Shape[2].Value != 32 {
		t.Errorf("output: %v %v", v, ok)
	}
	var cfg map[string]any
	raw, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg["model_type"] != "bert" || cfg["hidden_size"] != 32.0 || cfg["vocab_size"] != 961.0 {
		t.Errorf("config.json: %v %v", cfg, err)
	}
	raw, _ = os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg["model_max_length"] != 24.0 || cfg["tokenizer_class"] != "BertTokenizer" {
		t.Errorf("tokenizer_config.json: %v %v", cfg, err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []Config{
		{Hidden: 30, Layers: 1, Heads: 4, Intermediate: 8, MaxPositions: 8},
		{Hidden: 32, Layers: 0, Heads: 4, Intermediate: 8, MaxPositions: 8},
		{Hidden: 32, Layers: 1, Heads: 4, Intermediate: 8, MaxPositions: 8, MaxLength: 9},
		{Hidden: 32, Layers: 1, Heads: 4, Intermediate: 8, MaxPositions: 8, Vocab: 10},
		{Hidden: 32, Layers: 1, Heads: 4, Intermediate: 8, MaxPositions: 8, Tokenizer: "/nonexistent"},
	} {
		if err := Write(t.TempDir(), c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
