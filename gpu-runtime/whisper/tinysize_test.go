//go:build cgo

package whisper

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/audio"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/testmodels"
)

// TestWhisperTinySizeSideBySide (only with TRANSCEPT_WHISPER_BENCH=1: it
// writes a 150 MB folder and takes minutes) decodes jfk's 11 s with a
// random model of whisper-tiny's shape (51865 tokens), greedy with and
// without timestamps, in transformers.js (tests/reference/whisper-asr.mjs:
// generate() and the pipeline, so each case decodes twice there) and here,
// requires identical token ids and logs both times.
func TestWhisperTinySizeSideBySide(t *testing.T) {
	if os.Getenv("TRANSCEPT_WHISPER_BENCH") != "1" {
		t.Skip("set TRANSCEPT_WHISPER_BENCH=1 to run (150 MB folder, minutes)")
	}
	needORT(t)
	ref := nodeReference(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "whisper-tiny-size-random")
	if err := testmodels.WriteWhisper(model, testmodels.WhisperTinySize()); err != nil {
		t.Fatal(err)
	}
	x, err := audio.Decode(context.Background(), filepath.Join(dataDir(t), "audio", "jfk.flac"), nil)
	if err != nil {
		t.Fatal(err)
	}
	writeF32(t, filepath.Join(dir, "jfk.f32"), x)
	cmd := exec.Command("node", filepath.Join(ref, "whisper-asr.mjs"), model, dir, filepath.Join(dir, "jfk.f32"))
	cmd.Dir, cmd.Stderr = ref, os.Stderr
	start := time.Now()
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	nodeTime := time.Since(start)
	var r asrReference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	m, err := LoadModel(model, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	load := time.Since(start)
	var decode time.Duration
	tokens := 0
	for _, c := range r.Cases {
		start := time.Now()
		ids, err := m.Generate(m.Features.LogMel(x), DecodeOptions{Language: "en", Timestamps: c.ReturnTimestamps})
		if err != nil {
			t.Fatal(err)
		}
		decode += time.Since(start)
		tokens += len(ids)
		if !slices.Equal(ids, c.IDs) {
			t.Errorf("timestamps=%v: ids differ\n got %v\nwant %v", c.ReturnTimestamps, ids, c.IDs)
		}
	}
	t.Logf("transformers.js: %v for load + %d cases × (generate + pipeline); ours: load %v, %d cases once each %v (%d tokens, %.1f ms/token)",
		nodeTime.Round(time.Millisecond), len(r.Cases), load.Round(time.Millisecond), len(r.Cases),
		decode.Round(time.Millisecond), tokens, float64(decode.Milliseconds())/float64(tokens))
}
