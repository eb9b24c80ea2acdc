package whisper

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/audio"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// moduleRoot is the folder holding go.mod, above the test's directory.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// dataDir is ../shared/data beside the module root, or $TRANSCEPT_EVAL_DATA.
func dataDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("TRANSCEPT_EVAL_DATA")
	if dir == "" {
		dir = filepath.Join(moduleRoot(t), "..", "shared", "data")
	}
	if _, err := os.Stat(dir); err != nil {
		svctest.Missing(t, "evaluation data not found at %s (set TRANSCEPT_EVAL_DATA)", dir)
	}
	return dir
}

func TestMelFilterBankMatchesNPZ(t *testing.T) {
	npz := filepath.Join(dataDir(t), "whisper-assets", "mel_filters.npz")
	if _, err := os.Stat(npz); err != nil {
		svctest.Missing(t, "%s not found", npz)
	}
	for _, n := range []int{80, 128} {
		want, err := LoadMelFilters(npz, n)
		if err != nil {
			t.Fatal(err)
		}
		got := MelFilterBank(n)
		var worst float64
		for i := range want {
			worst = max(worst, math.Abs(got[i]-want[i]))
		}
		t.Logf("mel_%d: max abs difference from mel_filters.npz %.2g", n, worst)
		if worst > 1e-6 {
			t.Errorf("mel_%d differs from mel_filters.npz by %g", n, worst)
		}
	}
}

func writeF32(t testing.TB, path string, x []float32) {
	t.Helper()
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readF32(t testing.TB, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}

// nodeReference checks that node and transformers.js are installed and
// returns the reference folder.
func nodeReference(t testing.TB) string {
	t.Helper()
	ref := filepath.Join(moduleRoot(t), "tests", "reference")
	if _, err := os.Stat(filepath.Join(ref, "node_modules", "@huggingface", "transformers")); err != nil {
		svctest.Missing(t, "%s/node_modules/@huggingface/transformers not installed; run `make reference`", ref)
	}
	if _, err := exec.LookPath("node"); err != nil {
		svctest.Missing(t, "node not found (Debian package nodejs)")
	}
	return ref
}

// TestLogMelMatchesTransformersJS decodes every clip of the shared audio
// folder, feeds the same samples to our extractor and to transformers.js's
// WhisperFeatureExtractor, and requires a max absolute difference ≤ 1e-4.
func TestLogMelMatchesTransformersJS(t *testing.T) {
	ref := nodeReference(t)
	clips, _ := filepath.Glob(filepath.Join(dataDir(t), "audio", "*"))
	dir := t.TempDir()
	var names []string
	var all []float32
	for _, c := range clips {
		if ext := filepath.Ext(c); ext == ".txt" {
			continue
		}
		x, err := audio.Decode(context.Background(), c, nil)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		name := strings.TrimSuffix(filepath.Base(c), filepath.Ext(c))
		writeF32(t, filepath.Join(dir, name+".f32"), x)
		names = append(names, name)
		all = append(all, x...)
	}
	if len(names) == 0 {
		svctest.Missing(t, "no audio clips in %s", filepath.Join(dataDir(t), "audio"))
	}
	// Edge cases: every clip end to end (over 30 s: cut), a quarter second
	// (reflect padding into the zeros), and silence (all at the floor).
	extra := map[string][]float32{"all-clips": all, "short": all[:4000], "silence": make([]float32, 16000)}
	for name, x := range extra {
		writeF32(t, filepath.Join(dir, name+".f32"), x)
		names = append(names, name)
	}
	for _, nMels := range []int{80, 128} {
		t.Run(fmt.Sprint(nMels), func(t *testing.T) {
			out := filepath.Join(dir, fmt.Sprint(nMels))
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			args := []string{filepath.Join(ref, "features-whisper.mjs"), fmt.Sprint(nMels), out}
			for _, n := range names {
				args = append(args, filepath.Join(dir, n+".f32"))
			}
			cmd := exec.Command("node", args...)
			cmd.Dir = ref
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("node features-whisper.mjs: %v\n%s", err, b)
			}
			fe, err := NewFeatureExtractor(nMels)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				x := readF32(t, filepath.Join(dir, n+".f32"))
				want := readF32(t, filepath.Join(out, n+".mel.f32"))
				got := fe.LogMel(x)
				if len(want) != len(got) {
					t.Fatalf("%s: reference has %d values, ours %d", n, len(want), len(got))
				}
				worst, at := 0.0, 0
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); d > worst {
						worst, at = d, i
					}
				}
				t.Logf("%-16s %6.2f s  max abs diff %.2e", n, float64(len(x))/SampleRate, worst)
				if worst > 1e-4 {
					t.Errorf("%s: max abs diff %g at mel %d frame %d (ours %g, transformers.js %g)",
						n, worst, at/ChunkFrames, at%ChunkFrames, got[at], want[at])
				}
			}
		})
	}
}
