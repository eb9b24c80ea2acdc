package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/api"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/svctest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// TestWhisperModelTranscribes configures TRANSCEPT_WHISPER_MODEL with a
// random-weight Whisper folder and sends a real recording through the
// OpenAI-compatible endpoint and through the pipeline. Random weights give
// arbitrary words: the test checks the structure (timestamps, formats,
// status), not the text.
func TestWhisperModelTranscribes(t *testing.T) {
	if _, err := ort.Init(); err != nil {
		if os.Getenv(svctest.RequireEnv) == "1" {
			t.Fatalf("ONNX Runtime: %v", err)
		}
		t.Skipf("ONNX Runtime not available (make ort): %v", err)
	}
	clip := filepath.Join(eval.DataDir(), "audio", "jfk.flac")
	if _, err := os.Stat(clip); err != nil {
		if os.Getenv(svctest.RequireEnv) == "1" {
			t.Fatalf("evaluation data: %v", err)
		}
		t.Skipf("evaluation data missing: %v", err)
	}
	model := filepath.Join(t.TempDir(), "whisper-tiny")
	if err := testmodels.WriteWhisper(model, testmodels.TinyWhisper()); err != nil {
		t.Fatal(err)
	}
	c, err := config.FromMap(map[string]string{"TRANSCEPT_STORE_DIR": t.TempDir(), "TRANSCEPT_WHISPER_MODEL": model, "TRANSCEPT_LANGUAGE": "en",
		"TRANSCEPT_ORT_CACHE_DIR": t.TempDir()}) // not the user's cache
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := wire.New(context.Background(), c, log)
	if err != nil {
		t.Fatal(err)
	}
	bus := s.StartBus()
	defer bus.Close()
	srv := httptest.NewServer((&api.Server{Svc: s.Service, Publish: bus.Publish, Metrics: s.Metrics, Log: log, MaxBody: 1 << 20}).Handler())
	defer srv.Close()
	audio, _ := os.ReadFile(clip)

	post := func(path string, fields map[string]string) (int, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range fields {
			_ = mw.WriteField(k, v)
		}
		fw, _ := mw.CreateFormFile("file", "jfk.flac")
		_, _ = fw.Write(audio)
		_ = mw.Close()
		resp, err := http.Post(srv.URL+path, mw.FormDataContentType(), &buf)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post("/v1/audio/transcriptions", map[string]string{"model": "whisper-1", "response_format": "verbose_json"})
	if code != 200 {
		t.Fatalf("transcription: %d %s", code, body)
	}
	var v struct {
		Task     string `json:"task"`
		Segments []struct {
			Start, End float64
		} `json:"segments"`
	}
	_ = json.Unmarshal([]byte(body), &v)
	if v.Task != "transcribe" {
		t.Errorf("verbose_json: %s", body)
	}
	for _, sg := range v.Segments {
		if sg.Start < 0 || sg.End < sg.Start || sg.Start > 30 {
			t.Errorf("segment times out of order or outside the window: %+v", sg)
		}
	}
	// The pipeline: upload the recording, wait for it to be transcribed.
	code, body = post("/lectures", nil)
	if code != 202 {
		t.Fatalf("upload: %d %s", code, body)
	}
	var up struct{ ID string }
	_ = json.Unmarshal([]byte(body), &up)
	deadline := time.Now().Add(60 * time.Second)
	var l lecture.Lecture
	for time.Now().Before(deadline) {
		l, _ = getLecture(srv.URL, up.ID)
		if l.Status == lecture.StatusReady || l.Status == lecture.StatusFailed || l.Stages["transcribe"].Status == lecture.StatusReady {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := l.Stages["transcribe"]; st.Status != lecture.StatusReady && !(l.Status == lecture.StatusFailed && strings.Contains(l.Error.Message, "no words")) {
		t.Errorf("recording not transcribed by the pipeline: %+v %+v", l.Stages, l.Error)
	}
}

func getLecture(base, id string) (lecture.Lecture, error) {
	var l lecture.Lecture
	resp, err := http.Get(base + "/lectures/" + id)
	if err != nil {
		return l, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&l)
	return l, err
}
