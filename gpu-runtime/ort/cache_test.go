//go:build cgo

package ort

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// cachedAffine opens the affine model through the cache in dir and returns
// y for x = [[1 1] [2 -1]], whether the session ran from the cache, and
// what was logged.
func cachedAffine(t *testing.T, path, dir string) ([]float32, bool, string) {
	t.Helper()
	var log bytes.Buffer
	s, err := NewSession(path, Options{OptimizedCacheDir: dir, IntraOpThreads: 1,
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return runAffine(t, s, []float32{1, 1, 2, -1}, 2), s.Cached(), log.String()
}

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var affineWant = []float32{1 + 3 + 10, 2 + 4 + 20, 2 - 3 + 10, 4 - 4 + 20}

func TestCacheIsWrittenThenUsed(t *testing.T) {
	needORT(t)
	path, dir := writeModel(t, affineModel()), filepath.Join(t.TempDir(), "cache")
	y, cached, log := cachedAffine(t, path, dir)
	if cached || !slices.Equal(y, affineWant) || !strings.Contains(log, "optimised model cached") {
		t.Fatalf("first load: y %v cached %v, log:\n%s", y, cached, log)
	}
	files := cacheFiles(t, dir)
	if len(files) != 1 || !strings.HasPrefix(filepath.Base(files[0]), "affine-") || filepath.Ext(files[0]) != ".ort" {
		t.Fatalf("cache folder holds %v, want one affine-*.ort", files)
	}
	for range 2 {
		y, cached, log = cachedAffine(t, path, dir)
		if !cached || !slices.Equal(y, affineWant) || strings.Contains(log, "WARN") {
			t.Fatalf("later load: y %v cached %v, log:\n%s", y, cached, log)
		}
	}
	if got := cacheFiles(t, dir); !slices.Equal(got, files) {
		t.Errorf("cache folder changed to %v", got)
	}
}

// A changed source model (new weights, new modification time) must not be
// served from the old cache file, which is replaced.
func TestCacheFollowsTheSource(t *testing.T) {
	needORT(t)
	path, dir := writeModel(t, affineModel()), t.TempDir()
	cachedAffine(t, path, dir)
	old := cacheFiles(t, dir)

	m := affineModel()
	m.Graph.Initializers[1] = onnxpb.Tensor{Name: "b", DataType: onnxpb.Float, Dims: []int64{2}, Float32: []float32{100, 200}}
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	want := []float32{1 + 3 + 100, 2 + 4 + 200, 2 - 3 + 100, 4 - 4 + 200}
	y, cached, _ := cachedAffine(t, path, dir)
	if cached || !slices.Equal(y, want) {
		t.Fatalf("after the source changed: y %v (want %v), cached %v", y, want, cached)
	}
	now := cacheFiles(t, dir)
	if len(now) != 1 || slices.Equal(now, old) {
		t.Errorf("cache files %v before, %v after: want the old one replaced", old, now)
	}
	if y, cached, _ = cachedAffine(t, path, dir); !cached || !slices.Equal(y, want) {
		t.Errorf("second load after the change: y %v cached %v", y, cached)
	}
}

// A damaged cache file is refused with a warning; the source model serves
// and the file is written again.
func TestCorruptCacheFallsBackToTheSource(t *testing.T) {
	needORT(t)
	damage := map[string]func([]byte) []byte{
		"byte flipped": func(b []byte) []byte { b[len(b)/3] ^= 0x40; return b },
		"truncated":    func(b []byte) []byte { return b[:len(b)/2] },
		"empty":        func([]byte) []byte { return nil },
		"not a model":  func(b []byte) []byte { return bytes.Repeat([]byte("x"), len(b)) },
		"trailer only": func(b []byte) []byte { return b[len(b)-trailerSize:] },
		// a whole, well-sealed file that ONNX Runtime cannot read
		"sealed garbage": func(b []byte) []byte {
			garbage := bytes.Repeat([]byte{0x5a}, 4096)
			tr := b[len(b)-trailerSize:]
			return append(garbage, resealed(t, garbage, tr)...)
		},
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			path, dir := writeModel(t, affineModel()), t.TempDir()
			cachedAffine(t, path, dir)
			file := cacheFiles(t, dir)[0]
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, f(b), 0o644); err != nil {
				t.Fatal(err)
			}
			y, cached, log := cachedAffine(t, path, dir)
			if cached || !slices.Equal(y, affineWant) {
				t.Fatalf("y %v cached %v, want the source's answer", y, cached)
			}
			if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "rejected") || !strings.Contains(log, "optimised model cached") {
				t.Errorf("want a warning and a rebuilt cache, log:\n%s", log)
			}
			if y, cached, _ = cachedAffine(t, path, dir); !cached || !slices.Equal(y, affineWant) {
				t.Errorf("after the rebuild: y %v cached %v", y, cached)
			}
		})
	}
}

// resealed is a trailer like tr (same key) for payload.
func resealed(t *testing.T, payload, tr []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	tmp := filepath.Join(dir, "x.ort")
	if err := os.WriteFile(tmp, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	copy(key[:], tr[len(tr)-32:])
	e := &cacheEntry{Path: filepath.Join(dir, "y.ort"), Prefix: filepath.Join(dir, "y-"), KeyHash: key}
	if err := sealCacheFile(tmp, e); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkCacheFile(b, key); err != nil {
		t.Fatalf("resealed file does not check: %v", err)
	}
	return b[len(payload):]
}

// A cache folder that cannot be made costs only the speed.
func TestUnusableCacheFolder(t *testing.T) {
	needORT(t)
	path := writeModel(t, affineModel())
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	y, cached, log := cachedAffine(t, path, filepath.Join(notDir, "cache"))
	if cached || !slices.Equal(y, affineWant) || !strings.Contains(log, "level=WARN") {
		t.Errorf("y %v cached %v, log:\n%s", y, cached, log)
	}
}

func TestCacheKeyCoversTheSettings(t *testing.T) {
	path, dir := writeModel(t, affineModel()), t.TempDir()
	all, err := newCacheEntry(dir, path, "1.30.0", &Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]func() (*cacheEntry, error){
		"ort version": func() (*cacheEntry, error) { return newCacheEntry(dir, path, "1.31.0", &Options{}) },
		"optimisation": func() (*cacheEntry, error) {
			return newCacheEntry(dir, path, "1.30.0", &Options{Optimization: OptimizeBasic})
		},
	} {
		other, err := e()
		if err != nil {
			t.Fatal(err)
		}
		if other.Path == all.Path || other.KeyHash == all.KeyHash || other.Prefix != all.Prefix {
			t.Errorf("%s: same cache file %s (prefix %s vs %s)", name, other.Path, other.Prefix, all.Prefix)
		}
	}
	same, _ := newCacheEntry(dir, path, "1.30.0", &Options{IntraOpThreads: 7, NoPrepack: true})
	if same.Path != all.Path {
		t.Errorf("thread count and prepacking changed the cache file: %s vs %s", same.Path, all.Path)
	}
}

// The cached copy holds the weights of the model's external data file too:
// a data file replaced beside an unchanged graph file (new weights, same
// layout) must not be served from the old copy.
func TestCacheFollowsTheDataFile(t *testing.T) {
	needORT(t)
	dir, cache := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "affine.onnx")
	write := func(w []float32, data string) {
		t.Helper()
		m := affineModel()
		m.Graph.Initializers[0].Float32 = w
		moveExternal(t, &m.Graph.Initializers[0], data)
		m.Graph.Initializers[0].External.Location = "affine.onnx_data"
		if err := m.WriteFile(path); err != nil {
			t.Fatal(err)
		}
	}
	write([]float32{1, 2, 3, 4}, filepath.Join(dir, "affine.onnx_data"))
	if y, _, _ := cachedAffine(t, path, cache); !slices.Equal(y, affineWant) {
		t.Fatalf("first load: y %v, want %v", y, affineWant)
	}
	if y, cached, _ := cachedAffine(t, path, cache); !cached || !slices.Equal(y, affineWant) {
		t.Fatalf("second load: y %v cached %v", y, cached)
	}
	// new weights in a new data file, moved over the old one; the graph
	// file is put back exactly as it was, time included
	st, _ := os.Stat(path)
	graph, _ := os.ReadFile(path)
	write([]float32{5, 6, 7, 8}, filepath.Join(dir, "new.onnx_data"))
	if err := os.WriteFile(path, graph, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, st.ModTime(), st.ModTime())
	if err := os.Rename(filepath.Join(dir, "new.onnx_data"), filepath.Join(dir, "affine.onnx_data")); err != nil {
		t.Fatal(err)
	}
	want := []float32{1*5 + 1*7 + 10, 1*6 + 1*8 + 20, 2*5 - 7 + 10, 2*6 - 8 + 20}
	if y, cached, _ := cachedAffine(t, path, cache); cached || !slices.Equal(y, want) {
		t.Fatalf("after the data file changed: y %v (want %v), cached %v", y, want, cached)
	}
}

// moveExternal moves initializer x's data into a new external data file.
func moveExternal(t *testing.T, x *onnxpb.Tensor, data string) {
	t.Helper()
	w, err := onnxpb.CreateExternal(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Move(x); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
