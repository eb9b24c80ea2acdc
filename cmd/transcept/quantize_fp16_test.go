package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/tests/testkit/testmodels"
)

func TestModelsQuantizeFP16(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bart")
	if err := testmodels.WriteBART(dir, testmodels.Tiny()); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "fp16")
	code, stdout, errs := runCLI(t, "", "models", "quantize", dir, "--dtype", "fp16", "--out", out)
	if code != 0 || !strings.Contains(stdout, "onnx/encoder_model_fp16.onnx") || !strings.Contains(stdout, "island") {
		t.Fatalf("quantize fp16: exit %d, out %q, err %s", code, stdout, errs)
	}
	for _, p := range []string{"config.json", "tokenizer.json", "quantize.json", "onnx/encoder_model_fp16.onnx", "onnx/decoder_model_merged_fp16.onnx"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Error(err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, "quantize.json")); !strings.Contains(string(b), `"fp16"`) || !strings.Contains(string(b), "island_ops") {
		t.Errorf("quantize.json: %s", b)
	}
}
