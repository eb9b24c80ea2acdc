package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/catalog"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

func TestModelsQuantize(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bart")
	if err := testmodels.WriteBART(dir, testmodels.Tiny()); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "q4")
	code, stdout, errs := runCLI(t, "", "models", "quantize", dir, "--dtype", "q4", "--block", "32", "--symmetric", "--out", out)
	if code != 0 || !strings.Contains(stdout, "onnx/encoder_model_q4.onnx") {
		t.Fatalf("quantize: exit %d, out %q, err %s", code, stdout, errs)
	}
	for _, p := range []string{"config.json", "tokenizer.json", "quantize.json", "onnx/decoder_model_merged_q4.onnx"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Error(err)
		}
	}
	if code, _, _ := runCLI(t, "", "models", "quantize", dir); code != exitUsage {
		t.Errorf("no --dtype: exit %d", code)
	}
	if code, _, errs := runCLI(t, "", "models", "quantize", dir, "--dtype", "q3"); code != exitUsage || !strings.Contains(errs, "q3") {
		t.Errorf("--dtype q3: exit %d, %s", code, errs)
	}
}

func TestModelsPullDType(t *testing.T) {
	files := map[string]string{"config.json": `{"model_type": "bart"}`, "onnx/model_q4.onnx": "q4 weights"}
	m := catalog.Model{Name: "fixture", Repo: "test/fixture", Revision: "r1", Task: "tests",
		Files: []catalog.File{{Path: "config.json"}, {Path: "onnx/model.onnx", Size: 7, SHA256: strings.Repeat("0", 64)}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[strings.TrimPrefix(r.URL.Path, "/test/fixture/resolve/r1/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	old := modelList
	modelList = []catalog.Model{m}
	defer func() { modelList = old }()
	dir := t.TempDir()
	t.Setenv("TRANSCEPT_MODELS_URL", srv.URL)
	t.Setenv("TRANSCEPT_MODELS_DIR", dir)
	if code, out, errs := runCLI(t, "", "models", "pull", "fixture", "--dtype", "q4"); code != 0 {
		t.Fatalf("pull --dtype q4: exit %d, out %q, err %s", code, out, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "fixture", "onnx", "model_q4.onnx")); string(b) != "q4 weights" {
		t.Errorf("model_q4.onnx = %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "fixture", "onnx", "model.onnx")); err == nil {
		t.Error("the fp32 file was pulled too")
	}
}
