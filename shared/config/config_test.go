package config

import (
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

func TestDefaults(t *testing.T) {
	c, err := FromMap(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.StoreDir != "./data" || c.Summarizer != "extractive" || c.SummaryRatio != 0.3 || c.ChunkTokens != 512 || c.MaxUploadBytes != 50<<20 ||
		c.VAD != "auto" || c.VADThreshold != 0.5 || c.ORTPrepack != "auto" || c.ORTInt8Weights != "auto" || c.QASpin {
		t.Errorf("defaults: %+v", c)
	}
}

// The optimised-model cache is on by default, in the user's cache folder
// (make bench-defaults: BART fp32 loads in 1.9 s instead of 4.2 s).
func TestORTDefaults(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/var/cache/u")
	c, err := FromMap(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ORTCacheDir != "/var/cache/u/transcept/ort" {
		t.Errorf("cache folder %q", c.ORTCacheDir)
	}
	if c, _ := FromMap(map[string]string{"TRANSCEPT_ORT_CACHE_DIR": "off"}); c.ORTCacheDir != "" {
		t.Errorf("off: cache folder %q", c.ORTCacheDir)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if c, _ := FromMap(nil); c.ORTCacheDir != "" {
		t.Errorf("no cache folder to be found: %q", c.ORTCacheDir)
	}
	if c, _ := FromMap(map[string]string{"TRANSCEPT_ORT_CACHE_DIR": "/srv/ort"}); c.ORTCacheDir != "/srv/ort" {
		t.Errorf("cache folder %q", c.ORTCacheDir)
	}
}

// Prepacking by engine and dtype (make bench-defaults): everything but the
// instruct LM's float files under auto; true and false for every model.
func TestPrepackDefaults(t *testing.T) {
	c, err := FromMap(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{EngineSummary, EngineWhisper} {
		for _, d := range []string{"", "fp32", "fp16", "q8", "q4"} {
			if !c.Prepack(e, d) {
				t.Errorf("auto, %s %q: not prepacked", e, d)
			}
		}
	}
	for d, want := range map[string]bool{"": false, "fp32": false, "fp16": false, "q8": true, "q4": true} {
		if c.Prepack(EngineLM, d) != want {
			t.Errorf("auto, LM %q: prepack %v", d, !want)
		}
	}
	for v, want := range map[string]bool{"true": true, "1": true, "false": false, "FALSE": false} {
		c, err := FromMap(map[string]string{"TRANSCEPT_ORT_PREPACK": v})
		if err != nil {
			t.Fatal(err)
		}
		if c.Prepack(EngineLM, "fp32") != want || c.Prepack(EngineSummary, "q4") != want {
			t.Errorf("%s: prepack %v", v, !want)
		}
	}
}

func TestBadValuesNameTheKey(t *testing.T) {
	_, err := FromMap(map[string]string{"TRANSCEPT_SUMMARY_RATIO": "2", "TRANSCEPT_SUMMARIZER": "gpt", "MINIO_ENDPOINT": "x:9000", "TRANSCEPT_CACHE_TTL": "soon",
		"TRANSCEPT_VAD": "maybe", "TRANSCEPT_VAD_THRESHOLD": "1.5", "TRANSCEPT_ORT_PREPACK": "yes please", "TRANSCEPT_QA_SPIN": "fast", "TRANSCEPT_ORT_INT8_WEIGHTS": "on"})
	if lecture.ErrorCode(err) != lecture.EINVALID {
		t.Fatalf("want EINVALID, got %v", err)
	}
	for _, k := range []string{"TRANSCEPT_SUMMARY_RATIO", "TRANSCEPT_SUMMARIZER", "MINIO_ACCESS_KEY", "TRANSCEPT_CACHE_TTL",
		"TRANSCEPT_VAD=", "TRANSCEPT_VAD_THRESHOLD", "TRANSCEPT_ORT_PREPACK", "TRANSCEPT_QA_SPIN", "TRANSCEPT_ORT_INT8_WEIGHTS"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error does not name %s: %v", k, err)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("REDIS_URL", "redis://user:pw@host:6379/0"); got != "redis://***@host:6379/0" {
		t.Errorf("got %q", got)
	}
	if got := Redact("MINIO_SECRET_KEY", "s3cr3t"); got != "***" {
		t.Errorf("got %q", got)
	}
	if !strings.Contains(Table(), "| `REDIS_URL` |") {
		t.Error("table lacks REDIS_URL")
	}
}

func TestGetLookupReadTheEnvironment(t *testing.T) {
	t.Setenv("TRANSCEPT_ORT_LIB", "/x/libonnxruntime.so.1")
	t.Setenv("TRANSCEPT_LOG_LEVEL", "")
	if v, ok := Lookup("TRANSCEPT_ORT_LIB"); v != "/x/libonnxruntime.so.1" || !ok {
		t.Errorf("Lookup: %q %v", v, ok)
	}
	if v := Get("TRANSCEPT_LOG_LEVEL"); v != "info" {
		t.Errorf("Get of an empty setting: %q, want the default", v)
	}
	if m := Environ(); m["TRANSCEPT_ORT_LIB"] != "/x/libonnxruntime.so.1" {
		t.Errorf("Environ lacks TRANSCEPT_ORT_LIB")
	}
	defer func() {
		if recover() == nil {
			t.Error("Get of a setting that is not in Settings did not panic")
		}
	}()
	Get("TRANSCEPT_NO_SUCH_SETTING")
}
