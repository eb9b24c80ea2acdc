package bart_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// TestSuiteSummarizer checks the wiring of TRANSCEPT_SUMMARIZER=bart: the
// errors people see and a loaded engine.
func TestSuiteSummarizer(t *testing.T) {
	cfg := func(kv ...string) *config.Config {
		m := map[string]string{"TRANSCEPT_SUMMARIZER": "bart", "TRANSCEPT_LOG_LEVEL": "warn", "TRANSCEPT_ORT_CACHE_DIR": t.TempDir()}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		c, err := config.FromMap(m)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	_, err := wire.Summarizer(cfg())
	if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(lecture.ErrorMessage(err), "TRANSCEPT_SUMMARY_MODEL") {
		t.Errorf("no folder: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "absent")
	_, err = wire.Summarizer(cfg("TRANSCEPT_SUMMARY_MODEL", missing))
	if lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(lecture.ErrorMessage(err), "TRANSCEPT_SUMMARY_MODEL="+missing) {
		t.Errorf("missing folder: %v", err)
	}
	empty := t.TempDir()
	_, err = wire.Summarizer(cfg("TRANSCEPT_SUMMARY_MODEL", empty))
	if lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(lecture.ErrorMessage(err), "config.json") {
		t.Errorf("folder without files: %v", err)
	}

	if _, err := ort.Init(); err != nil {
		t.Skipf("loading needs ONNX Runtime: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "tiny-bart")
	if err := testmodels.WriteBART(dir, testmodels.Tiny()); err != nil {
		t.Fatal(err)
	}
	s, err := wire.Summarizer(cfg("TRANSCEPT_SUMMARY_MODEL", dir, "TRANSCEPT_ORT_THREADS", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "bart" || !strings.HasPrefix(s.Model(), "tiny-bart@") {
		t.Errorf("engine %s %s", s.Name(), s.Model())
	}
	// With the optimised-model cache and without prepacking, a first load
	// writes the cache, a second reads it, and both summarise as the plain
	// engine does.
	text := []lecture.Sentence{{Text: "In part one we discuss entropy and why it matters for the second law."}, {Text: "Heat engines turn heat into work."}}
	want, err := s.Summarize(context.Background(), text, lecture.SummarizeOptions{Ratio: 1})
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "ort-cache")
	for round := range 2 {
		cs, err := wire.Summarizer(cfg("TRANSCEPT_SUMMARY_MODEL", dir, "TRANSCEPT_ORT_THREADS", "1", "TRANSCEPT_ORT_CACHE_DIR", cache, "TRANSCEPT_ORT_PREPACK", "false"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := cs.Summarize(context.Background(), text, lecture.SummarizeOptions{Ratio: 1})
		if err != nil || !reflect.DeepEqual(got.Bullets, want.Bullets) {
			t.Errorf("round %d with the cache: %+v (%v), want %+v", round, got.Bullets, err, want.Bullets)
		}
		files, _ := os.ReadDir(cache)
		if len(files) < 2 {
			t.Errorf("round %d: the cache folder holds %d files, want the encoder's and the decoder's", round, len(files))
		}
	}
	if _, err := config.FromMap(map[string]string{"TRANSCEPT_ORT_PREPACK": "maybe"}); err == nil || !strings.Contains(err.Error(), "TRANSCEPT_ORT_PREPACK") {
		t.Errorf("bad TRANSCEPT_ORT_PREPACK: %v", err)
	}

	bad := filepath.Join(t.TempDir(), "x.onnx_adapter")
	os.WriteFile(bad, []byte("junk"), 0o644)
	_, err = wire.Summarizer(cfg("TRANSCEPT_SUMMARY_MODEL", dir, "TRANSCEPT_SUMMARY_ADAPTER", bad))
	if err == nil || !strings.Contains(lecture.ErrorMessage(err), "TRANSCEPT_SUMMARY_ADAPTER="+bad) {
		t.Errorf("bad adapter: %v", err)
	}

	// A LoRA export with its adapter: the engine's identity names both, and
	// it summarises; the same adapter on the plain export is refused.
	root := t.TempDir()
	loraDir, adapter := filepath.Join(root, "lora-bart"), filepath.Join(root, "style.onnx_adapter")
	c := testmodels.Tiny()
	c.EOSBias, c.MinLength = 0, 8 // random weights: let it say something
	if err := testmodels.WriteBARTLoRA(loraDir, adapter, "", c, testmodels.TinyLoRA()); err != nil {
		t.Fatal(err)
	}
	s, err = wire.Summarizer(cfg("TRANSCEPT_SUMMARY_MODEL", loraDir, "TRANSCEPT_SUMMARY_ADAPTER", adapter, "TRANSCEPT_ORT_THREADS", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Model(), "lora-bart@") || !strings.Contains(s.Model(), "+style.onnx_adapter@") {
		t.Errorf("engine with adapter %s", s.Model())
	}
	sum, err := s.Summarize(context.Background(), []lecture.Sentence{
		{Text: "In part one we discuss entropy and why it matters for the second law."}, {Text: "Heat engines turn heat into work."}}, lecture.SummarizeOptions{Ratio: 1})
	if err != nil || sum.Model != s.Model() || len(sum.Bullets) == 0 {
		t.Errorf("summary with the adapter: %+v, %v", sum, err)
	}
	_, err = wire.Summarizer(cfg("TRANSCEPT_SUMMARY_MODEL", dir, "TRANSCEPT_SUMMARY_ADAPTER", adapter))
	if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(lecture.ErrorMessage(err), "TRANSCEPT_SUMMARY_ADAPTER="+adapter) ||
		!strings.Contains(lecture.ErrorMessage(err), "an adapter for another model") {
		t.Errorf("adapter on a model without LoRA inputs: %v", err)
	}
}

// TestSuiteSummarizerNoLibrary runs a child process whose TRANSCEPT_ORT_LIB
// points nowhere: the error names the setting and how to get the library.
func TestSuiteSummarizerNoLibrary(t *testing.T) {
	if os.Getenv("SUMMARIZE_CHILD") == "1" {
		dir := os.Getenv("SUMMARIZE_DIR")
		c, _ := config.FromMap(map[string]string{"TRANSCEPT_SUMMARIZER": "bart", "TRANSCEPT_SUMMARY_MODEL": dir})
		_, err := wire.Summarizer(c)
		os.Stdout.WriteString(lecture.ErrorCode(err) + "|" + lecture.ErrorMessage(err))
		return
	}
	if !ort.Available {
		t.Skip("built without cgo: every ONNX Runtime call fails before looking for the library")
	}
	dir := filepath.Join(t.TempDir(), "tiny-bart")
	if err := testmodels.WriteBART(dir, testmodels.Tiny()); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteSummarizerNoLibrary$")
	cmd.Env = append(os.Environ(), "SUMMARIZE_CHILD=1", "SUMMARIZE_DIR="+dir, "TRANSCEPT_ORT_LIB="+filepath.Join(t.TempDir(), "no-libonnxruntime.so"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := string(out)
	if !strings.HasPrefix(got, lecture.EUNAVAILABLE+"|") || !strings.Contains(got, "TRANSCEPT_SUMMARY_MODEL="+dir) ||
		!strings.Contains(got, "make ort") || !strings.Contains(got, "TRANSCEPT_ORT_LIB") {
		t.Errorf("missing library: %s", got)
	}
}
