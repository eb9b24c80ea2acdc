package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/api"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/svctest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// qwenFolder writes a random-weight Qwen2 folder with Qwen2.5-Instruct's
// chat template (from the chat package's fixtures).
func qwenFolder(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "qwen")
	c := testmodels.TinyQwen()
	c.MaxPositions = 4096
	if err := testmodels.WriteQwen2(dir, c); err != nil {
		t.Fatal(err)
	}
	var fix, cfg map[string]any
	b, err := os.ReadFile("../gpu-runtime/chat/testdata/qwen2.5-instruct.json")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(b, &fix)
	p := filepath.Join(dir, "tokenizer_config.json")
	b, _ = os.ReadFile(p)
	_ = json.Unmarshal(b, &cfg)
	cfg["chat_template"] = fix["chat_template"]
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLanguageModelAnswersStream configures TRANSCEPT_QA_MODEL and asks
// through the HTTP API with ?stream=1: tokens arrive as server-sent events
// and the final answer cites only passages of the lecture. The model has
// random weights, so the test checks structure, not wording.
func TestLanguageModelAnswersStream(t *testing.T) {
	if _, err := ort.Init(); err != nil {
		if os.Getenv(svctest.RequireEnv) == "1" {
			t.Fatalf("ONNX Runtime: %v", err)
		}
		t.Skipf("ONNX Runtime not available (make ort): %v", err)
	}
	c, err := config.FromMap(map[string]string{"TRANSCEPT_STORE_DIR": t.TempDir(), "TRANSCEPT_QA_MODEL": qwenFolder(t), "TRANSCEPT_ORT_CACHE_DIR": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := wire.New(context.Background(), c, log)
	if err != nil {
		t.Fatal(err)
	}
	if s.Service.LM == nil || s.Service.LM.Name() != "rag" {
		t.Fatalf("the language-model answerer is not configured: %v", s.Service.LM)
	}
	srv := httptest.NewServer((&api.Server{Svc: s.Service, Metrics: s.Metrics, Log: log, MaxBody: 1 << 20}).Handler())
	defer srv.Close()
	text := "1\n00:00:01,000 --> 00:00:06,000\nToday we study entropy in isolated systems.\n\n2\n00:03:00,000 --> 00:03:09,000\nThe Carnot efficiency depends only on the reservoir temperatures.\n"
	body, _ := json.Marshal(map[string]string{"text": text, "question": "What does the Carnot efficiency depend on?"})
	resp, err := http.Post(srv.URL+"/qa?stream=1", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	tokens := 0
	var final lecture.Answer
	for _, block := range strings.Split(strings.TrimSpace(string(raw)), "\n\n") {
		lines := strings.SplitN(block, "\n", 2)
		switch lines[0] {
		case "event: token":
			tokens++
		case "event: answer":
			_ = json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "data: ")), &final)
		}
	}
	if tokens == 0 || !final.Covered || final.Engine != "" && final.Engine != "rag" || len(final.Citations) == 0 {
		t.Fatalf("tokens %d, answer %+v", tokens, final)
	}
	for _, c := range final.Citations {
		if c.Span.Start != 1 && c.Span.Start != 180 {
			t.Errorf("citation outside the lecture's passages: %+v", c)
		}
	}
	// Off-topic: not covered, and the model is not asked.
	body, _ = json.Marshal(map[string]string{"text": text, "question": "Who painted the Mona Lisa?"})
	resp, _ = http.Post(srv.URL+"/qa", "application/json", bytes.NewReader(body))
	var off lecture.Answer
	_ = json.NewDecoder(resp.Body).Decode(&off)
	resp.Body.Close()
	if off.Covered || off.Text != "This lecture does not cover that." {
		t.Errorf("off-topic: %+v", off)
	}
}
