//go:build cgo

package ort

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// q8Model is y = x·W through DynamicQuantizeLinear + MatMulInteger with
// uint8 weights (zero point 128) and a float scale per column, as the hub's
// q8 files compute it. The weights stay within 128 ± 50, so the u8×s8
// kernels cannot saturate on any processor and int8 copies give the very
// same numbers everywhere (the test may force the conversion on).
func q8Model() *onnxpb.Model {
	const k, n = 16, 5
	w := make([]byte, k*n)
	for i := range w {
		w[i] = byte(128 + (i*53)%101 - 50)
	}
	return &onnxpb.Model{Graph: onnxpb.Graph{Name: "q8",
		Nodes: []onnxpb.Node{
			{OpType: "DynamicQuantizeLinear", Inputs: []string{"x"}, Outputs: []string{"xq", "xs", "xz"}},
			{OpType: "MatMulInteger", Inputs: []string{"xq", "W", "xz", "Z"}, Outputs: []string{"i32"}},
			{OpType: "Cast", Inputs: []string{"i32"}, Outputs: []string{"f"}, Attrs: []onnxpb.Attr{onnxpb.AInt("to", int64(onnxpb.Float))}},
			{OpType: "Mul", Inputs: []string{"xs", "S"}, Outputs: []string{"s"}},
			{OpType: "Mul", Inputs: []string{"f", "s"}, Outputs: []string{"y"}},
		},
		Initializers: []onnxpb.Tensor{
			{Name: "W", DataType: onnxpb.Uint8, Dims: []int64{k, n}, Raw: w},
			{Name: "Z", DataType: onnxpb.Uint8, Raw: []byte{128}},
			{Name: "S", DataType: onnxpb.Float, Dims: []int64{n}, Float32: []float32{0.01, 0.02, 0.03, 0.04, 0.05}},
		},
		Inputs:  []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D("rows", k)}},
		Outputs: []onnxpb.ValueInfo{{Name: "y", ElemType: onnxpb.Float, Shape: onnxpb.D("rows", n)}},
	}}
}

func runQ8(t *testing.T, path string, o Options) ([]float32, *Session) {
	t.Helper()
	o.IntraOpThreads = 1
	s, err := NewSession(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	x := make([]float32, 4*16)
	for i := range x {
		x[i] = float32((i*31)%23)/4 - 2.75
	}
	in, _ := NewTensor([]int64{4, 16}, x)
	defer in.Destroy()
	out := make([]Value, 1)
	if err := s.Run([]Value{in}, out); err != nil {
		t.Fatal(err)
	}
	defer out[0].Destroy()
	y, _ := Data[float32](out[0])
	return slices.Clone(y), s
}

func withVNNI(t *testing.T, v bool) {
	saved := hasVNNI
	hasVNNI = func() bool { return v }
	t.Cleanup(func() { hasVNNI = saved })
}

func TestInt8WeightsFollowTheProcessor(t *testing.T) {
	needORT(t)
	// Temporary copies go to os.TempDir(): give this test its own, so that
	// another package's test converting a model at the same moment (go test
	// runs packages side by side, all in /tmp) is not counted as left here.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	path := writeModel(t, q8Model())
	want, s := runQ8(t, path, Options{Int8Weights: "off"})
	if s.Int8WeightMatMuls() != 0 {
		t.Fatal("off: weights converted")
	}
	// what this machine does by default
	got, s := runQ8(t, path, Options{})
	if auto := hasVNNI(); (s.Int8WeightMatMuls() == 1) != auto {
		t.Errorf("auto on a processor with VNNI %v: %d MatMulIntegers on int8 weights", auto, s.Int8WeightMatMuls())
	}
	if !slices.Equal(got, want) {
		t.Errorf("auto: %v, want %v", got, want)
	}
	withVNNI(t, false)
	if _, s := runQ8(t, path, Options{}); s.Int8WeightMatMuls() != 0 {
		t.Error("converted without VNNI")
	}
	withVNNI(t, true)
	got, s = runQ8(t, path, Options{})
	if s.Int8WeightMatMuls() != 1 || !slices.Equal(got, want) {
		t.Errorf("forced: %d converted, y %v, want %v", s.Int8WeightMatMuls(), got, want)
	}
	if _, s := runQ8(t, path, Options{CUDA: true}); s.Int8WeightMatMuls() != 0 {
		t.Error("converted for the CUDA provider")
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, ".transcept-int8-*")); len(left) > 0 {
		t.Errorf("temporary copies left: %v", left)
	}

	// Through the optimised-model cache: the int8 copy is cached under its
	// own key (and replaces the uint8 one), later loads map it and agree.
	dir := t.TempDir()
	for range 2 {
		got, s = runQ8(t, path, Options{OptimizedCacheDir: dir})
		if s.Int8WeightMatMuls() != 1 || !slices.Equal(got, want) {
			t.Fatalf("cached: %d converted, y %v", s.Int8WeightMatMuls(), got)
		}
	}
	if !s.Cached() {
		t.Error("second load not from the cache")
	}
	if got, s = runQ8(t, path, Options{OptimizedCacheDir: dir, Int8Weights: "off"}); s.Int8WeightMatMuls() != 0 || !slices.Equal(got, want) {
		t.Errorf("cached, off: %d converted, y %v", s.Int8WeightMatMuls(), got)
	}
	if files := cacheFiles(t, dir); len(files) != 1 {
		t.Errorf("cache holds %v, want the current copy only", files)
	}

	// A private copy (ScratchModel) is converted in the file itself: no
	// second copy, and loading it again finds nothing left to convert.
	scratch := writeModel(t, q8Model())
	got, s = runQ8(t, scratch, Options{ScratchModel: true})
	if s.Int8WeightMatMuls() != 1 || !slices.Equal(got, want) {
		t.Errorf("scratch: %d converted, y %v, want %v", s.Int8WeightMatMuls(), got, want)
	}
	if got, s = runQ8(t, scratch, Options{}); s.Int8WeightMatMuls() != 0 || !slices.Equal(got, want) {
		t.Errorf("scratch loaded again: %d converted, y %v", s.Int8WeightMatMuls(), got)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, ".transcept-int8-*")); len(left) > 0 {
		t.Errorf("temporary copies left: %v", left)
	}

	// A model keeping its float scales in an external data file: the copy
	// goes beside it (ONNX Runtime looks there), and is removed.
	dir2 := t.TempDir()
	m := q8Model()
	moveExternal(t, &m.Graph.Initializers[2], filepath.Join(dir2, "q8.onnx_data"))
	ext := filepath.Join(dir2, "q8.onnx")
	if err := m.WriteFile(ext); err != nil {
		t.Fatal(err)
	}
	if got, s = runQ8(t, ext, Options{}); s.Int8WeightMatMuls() != 1 || !slices.Equal(got, want) {
		t.Errorf("external data: %d converted, y %v, want %v", s.Int8WeightMatMuls(), got, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir2, ".transcept-int8-*")); len(left) > 0 {
		t.Errorf("temporary copies left: %v", left)
	}

	// Where the copy cannot be written the model loads as it is (a warning),
	// and nothing is cached under the int8 key.
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	dir3 := t.TempDir()
	if got, s = runQ8(t, path, Options{OptimizedCacheDir: dir3}); s.Int8WeightMatMuls() != 0 || !slices.Equal(got, want) {
		t.Errorf("copy not writable: %d converted, y %v", s.Int8WeightMatMuls(), got)
	}
	if files := cacheFiles(t, dir3); len(files) != 0 {
		t.Errorf("cached %v under the int8 key without int8 weights", files)
	}

	if _, err := NewSession(path, Options{Int8Weights: "on"}); err == nil {
		t.Error("Int8Weights \"on\" accepted")
	}

	// a float model has nothing to convert
	if s, err := NewSession(writeModel(t, affineModel()), Options{}); err != nil || s.Int8WeightMatMuls() != 0 {
		t.Errorf("affine: %v, %d converted", err, s.Int8WeightMatMuls())
	} else {
		s.Close()
	}
}

func TestParseInt8Weights(t *testing.T) {
	for in, want := range map[string]string{"": "auto", "auto": "auto", "off": "off"} {
		if got, err := ParseInt8Weights(in); err != nil || got != want {
			t.Errorf("%q: %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"on", "yes", "OFF", "int8"} {
		if _, err := ParseInt8Weights(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
