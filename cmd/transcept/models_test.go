package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/models"
)

func TestModelsPullAndList(t *testing.T) {
	files := map[string]string{"config.json": `{"model_type": "bart"}`, "onnx/model.onnx": "weights"}
	m := models.Model{Name: "fixture", Repo: "test/fixture", Revision: "r1", Task: "tests", Default: true}
	for p, body := range files {
		sum := sha256.Sum256([]byte(body))
		m.Files = append(m.Files, models.File{Path: p, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
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
	modelList = []models.Model{m}
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
