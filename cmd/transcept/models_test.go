package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/catalog"
	"github.com/transcept/transcept/gpu-runtime/lora"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

func TestModelsPullAndList(t *testing.T) {
	files := map[string]string{"config.json": `{"model_type": "bart"}`, "onnx/model.onnx": "weights"}
	m := catalog.Model{Name: "fixture", Repo: "test/fixture", Revision: "r1", Task: "tests", Default: true}
	for p, body := range files {
		sum := sha256.Sum256([]byte(body))
		m.Files = append(m.Files, catalog.File{Path: p, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
	}
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

	code, out, errs := runCLI(t, "", "models", "pull")
	if code != 0 || strings.TrimSpace(out) != filepath.Join(dir, "fixture") {
		t.Fatalf("pull: exit %d, out %q, err %s", code, out, errs)
	}
	for p, body := range files {
		if b, _ := os.ReadFile(filepath.Join(dir, "fixture", p)); string(b) != body {
			t.Errorf("%s = %q", p, b)
		}
	}
	code, out, _ = runCLI(t, "", "models", "list")
	if code != 0 || !strings.Contains(out, "* fixture") || !strings.Contains(out, "pinned") || !strings.Contains(out, "(in "+dir) {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	if code, _, errs := runCLI(t, "", "models", "pull", "nope"); code != exitInvalid || !strings.Contains(errs, `unknown model "nope"`) {
		t.Errorf("unknown model: exit %d, %s", code, errs)
	}
	if code, _, _ := runCLI(t, "", "models"); code != exitUsage {
		t.Errorf("no subcommand: exit %d", code)
	}
	t.Setenv("TRANSCEPT_MODELS_URL", "http://127.0.0.1:1")
	t.Setenv("TRANSCEPT_MODELS_DIR", t.TempDir())
	if code, _, errs := runCLI(t, "", "models", "pull", "fixture"); code != exitFailure || !strings.Contains(errs, "cannot reach 127.0.0.1:1") {
		t.Errorf("offline: exit %d, %s", code, errs)
	}
}

// writePEFT writes a PEFT adapter folder for the tiny test BART: rank 2 on
// the first encoder layer's q_proj (A [r, in], B [out, r], torch layout).
func writePEFT(t *testing.T, dir string, d int) {
	t.Helper()
	const r = 2
	tensors := map[string][]float32{}
	shapes := map[string][]int{}
	mod := "base_model.model.model.encoder.layers.0.self_attn.q_proj."
	a, b := make([]float32, r*d), make([]float32, d*r)
	for i := range a {
		a[i], b[i] = float32(i%7)*0.05-0.1, float32(i%5)*0.04-0.08
	}
	tensors[mod+"lora_A.weight"], shapes[mod+"lora_A.weight"] = a, []int{r, d}
	tensors[mod+"lora_B.weight"], shapes[mod+"lora_B.weight"] = b, []int{d, r}
	header := map[string]any{}
	var data []byte
	for _, name := range []string{mod + "lora_A.weight", mod + "lora_B.weight"} {
		start := len(data)
		for _, v := range tensors[name] {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		header[name] = map[string]any{"dtype": "F32", "shape": shapes[name], "data_offsets": []int{start, len(data)}}
	}
	h, _ := json.Marshal(header)
	st := append(binary.LittleEndian.AppendUint64(nil, uint64(len(h))), h...)
	cfg := `{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"], "bias": "none", "task_type": "SEQ_2_SEQ_LM"}`
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), append(st, data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestModelsLoRA merges a PEFT adapter into a generated BART folder and
// converts it to an ONNX Runtime adapter file through the CLI, and refuses
// bad calls with usage, not-found and conflict errors.
func TestModelsLoRA(t *testing.T) {
	dir := t.TempDir()
	base, peft, merged := filepath.Join(dir, "base"), filepath.Join(dir, "peft"), filepath.Join(dir, "merged")
	c := testmodels.Tiny()
	if err := testmodels.WriteBART(base, c); err != nil {
		t.Fatal(err)
	}
	writePEFT(t, peft, c.DModel)

	code, out, errs := runCLI(t, "", "models", "merge-lora", "--adapter", peft, "--model", base, "--out", merged)
	if code != 0 || !strings.Contains(out, "encoder_model.onnx: 1 modules merged") || !strings.Contains(out, "TRANSCEPT_SUMMARY_MODEL="+merged) {
		t.Fatalf("merge-lora: exit %d\n%s\n%s", code, out, errs)
	}
	before, _ := os.ReadFile(filepath.Join(base, "onnx", "encoder_model.onnx"))
	after, _ := os.ReadFile(filepath.Join(merged, "onnx", "encoder_model.onnx"))
	if len(after) == 0 || string(before) == string(after) {
		t.Errorf("merged encoder (%d bytes) is missing or equals the base", len(after))
	}
	if _, err := os.Stat(filepath.Join(merged, "lora_merge.json")); err != nil {
		t.Errorf("no merge record: %v", err)
	}
	// Merging again into the same folder is refused, and leaves it as it is.
	if code, _, errs := runCLI(t, "", "models", "merge-lora", "--adapter", peft, "--model", base, "--out", merged); code == 0 || !strings.Contains(errs, "already exists") {
		t.Errorf("second merge: exit %d, %s", code, errs)
	}

	file := filepath.Join(dir, "a.onnx_adapter")
	if code, out, errs := runCLI(t, "", "models", "convert-lora", "--adapter", peft, "--out", file); code != 0 || !strings.Contains(out, "1 modules") {
		t.Fatalf("convert-lora: exit %d\n%s\n%s", code, out, errs)
	}
	a, err := lora.ReadFile(file)
	if err != nil || len(a.Params) != 2 {
		t.Fatalf("converted adapter: %v, %+v", err, a)
	}
	if code, _, errs := runCLI(t, "", "models", "convert-lora", "--adapter", peft, "--out", file); code == 0 || !strings.Contains(errs, "already exists") {
		t.Errorf("convert over an existing file: exit %d, %s", code, errs)
	}

	for _, args := range [][]string{
		{"models", "merge-lora", "--adapter", peft, "--out", filepath.Join(dir, "x")},
		{"models", "convert-lora", "--out", filepath.Join(dir, "y")},
		{"models", "convert-lora", "--adapter", peft, "--out", filepath.Join(dir, "z"), "--graph-scale", "0"},
	} {
		if code, _, _ := runCLI(t, "", args...); code != exitUsage {
			t.Errorf("%v: exit %d, want usage", args, code)
		}
	}
	if code, _, errs := runCLI(t, "", "models", "merge-lora", "--adapter", filepath.Join(dir, "none"), "--model", base, "--out", filepath.Join(dir, "m2")); code != exitNotFound || !strings.Contains(errs, "adapter_config.json") {
		t.Errorf("missing adapter: exit %d, %s", code, errs)
	}
}
