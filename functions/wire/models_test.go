package wire

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/registry"
	"github.com/transcept/transcept/shared/text"
	"github.com/transcept/transcept/shared/transcript"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/svctest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// A tiny random BART pushed to the registry and aliased champion is what
// TRANSCEPT_SUMMARY_MODEL=registry://tiny@champion loads: resolved once,
// fetched into the cache, verified, reported as tiny@<version>.
func TestRegistrySummaryModel(t *testing.T) {
	orttest.Need(t)
	t.Run("fs", func(t *testing.T) {
		dir := t.TempDir()
		registrySummaryModel(t, map[string]string{"TRANSCEPT_STORE_DIR": dir})
	})
	t.Run("minio", func(t *testing.T) {
		srv := svctest.StartMinIO(t)
		registrySummaryModel(t, map[string]string{"TRANSCEPT_STORE_DIR": t.TempDir(),
			"MINIO_ENDPOINT": srv.Endpoint, "MINIO_ACCESS_KEY": srv.AccessKey, "MINIO_SECRET_KEY": srv.SecretKey})
	})
}

func registrySummaryModel(t *testing.T, settings map[string]string) {
	ctx := context.Background()
	cacheDir := t.TempDir()
	folder := filepath.Join(t.TempDir(), "tiny-bart")
	if err := testmodels.WriteBART(folder, testmodels.Tiny()); err != nil {
		t.Fatal(err)
	}
	settings["TRANSCEPT_SUMMARIZER"] = "bart"
	settings["TRANSCEPT_SUMMARY_MODEL"] = "registry://tiny@champion"
	settings["TRANSCEPT_MODEL_CACHE_DIR"] = cacheDir
	c, err := config.FromMap(settings)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Store(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(st)
	v, err := reg.Push(ctx, folder, "tiny", registry.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Alias(ctx, "tiny", "champion", v.ID, "test", "first", ""); err != nil {
		t.Fatal(err)
	}

	var logs strings.Builder
	s, err := New(ctx, c, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := filepath.Join(cacheDir, "tiny", v.ID); s.Config.SummaryModel != want {
		t.Errorf("SummaryModel = %s, want the fetched folder %s", s.Config.SummaryModel, want)
	}
	if s.Service.Summarizer.Name() != "bart" {
		t.Fatalf("summarizer %s", s.Service.Summarizer.Name())
	}
	tr, err := transcript.Parse([]byte("The lecture covers photosynthesis. Plants turn light into sugar. Chlorophyll absorbs red and blue light."), transcript.Text)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Service.Summarizer.Summarize(ctx, text.Sentences(tr), lecture.SummarizeOptions{}); err != nil {
		t.Fatalf("Summarize with the registry model: %v", err)
	}
	if !strings.Contains(logs.String(), "version="+v.String()) {
		t.Errorf("the resolved version is not in the logs:\n%s", logs.String())
	}
	rec := httptest.NewRecorder()
	s.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(body), `model="`+v.String()+`"`) || !strings.Contains(string(body), `stage="summarize"`) {
		t.Errorf("transcept_engine_info does not name %s:\n%s", v, grepLines(string(body), "transcept_engine_info"))
	}

	srv, err := s.API(ctx, func(lecture.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"TRANSCEPT_SUMMARY_MODEL":"`+v.String()+`"`) {
		t.Errorf("/readyz does not report the resolved version %s: %d %s", v, rec.Code, rec.Body.String())
	}

	// The alias moving does not change a running process; a missing alias
	// is an error naming the setting.
	c.SummaryModel = "registry://tiny@canary"
	if _, err := New(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "TRANSCEPT_SUMMARY_MODEL=registry://tiny@canary") {
		t.Fatalf("a missing alias: %v", err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
