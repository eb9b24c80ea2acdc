//go:build cgo

package ort

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/shared/lecture"
)

const requireEnv = "TRANSCEPT_REQUIRE_SERVICES"

// needORT loads ONNX Runtime or skips (fails under TRANSCEPT_REQUIRE_SERVICES=1).
func needORT(t *testing.T) Runtime {
	t.Helper()
	rt, err := Init()
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%v (%s=1 requires it)", err, requireEnv)
		}
		t.Skipf("%v (or set %s=1 to fail instead of skipping)", err, requireEnv)
	}
	return rt
}

func writeModel(t *testing.T, m *onnxpb.Model) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), m.Graph.Name+".onnx")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// affineModel computes y = x·W + b for x [batch, 2], W = [[1 2] [3 4]], b = [10 20].
func affineModel() *onnxpb.Model {
	return &onnxpb.Model{Graph: onnxpb.Graph{
		Name: "affine",
		Nodes: []onnxpb.Node{
			{OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"xw"}},
			{OpType: "Add", Inputs: []string{"xw", "b"}, Outputs: []string{"y"}},
		},
		Initializers: []onnxpb.Tensor{
			{Name: "W", DataType: onnxpb.Float, Dims: []int64{2, 2}, Float32: []float32{1, 2, 3, 4}},
			{Name: "b", DataType: onnxpb.Float, Dims: []int64{2}, Float32: []float32{10, 20}},
		},
		Inputs:  []onnxpb.ValueInfo{{Name: "x", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", 2)}},
		Outputs: []onnxpb.ValueInfo{{Name: "y", ElemType: onnxpb.Float, Shape: onnxpb.D("batch", 2)}},
	}}
}

func TestInitReportsVersion(t *testing.T) {
	rt := needORT(t)
	if rt.Version < MinVersion || !strings.Contains(rt.Version, ".") {
		t.Errorf("ONNX Runtime version %q, want ≥ %s", rt.Version, MinVersion)
	}
	if rt.Library == "" {
		t.Error("no library path reported")
	}
	t.Logf("ONNX Runtime %s from %s", rt.Version, rt.Library)
	again, err := Init()
	if err != nil || again != rt {
		t.Errorf("second Init = %v, %v; want the first result", again, err)
	}
}

func runAffine(t *testing.T, s *Session, x []float32, batch int64) []float32 {
	t.Helper()
	in, err := NewTensor([]int64{batch, 2}, x)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	out := []Value{{}}
	if err := s.Run([]Value{in}, out); err != nil {
		t.Fatal(err)
	}
	defer out[0].Destroy()
	if got := out[0].Shape(); !slices.Equal(got, []int64{batch, 2}) {
		t.Fatalf("output shape %v", got)
	}
	y, err := Data[float32](out[0])
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(y)
}

func TestSessionRunsWithEveryOption(t *testing.T) {
	needORT(t)
	path := writeModel(t, affineModel())
	cases := []struct {
		name string
		opts Options
	}{
		{"defaults", Options{}},
		{"two-intra-threads", Options{IntraOpThreads: 2, InterOpThreads: 1}},
		{"optimize-extended", Options{Optimization: OptimizeExtended}},
		{"optimize-basic", Options{Optimization: OptimizeBasic}},
		{"optimize-none", Options{Optimization: OptimizeNone, IntraOpThreads: 1}},
		{"no-prepack", Options{NoPrepack: true}},
		{"config-entry", Options{ConfigEntries: map[string]string{"session.intra_op.allow_spinning": "0"}}},
	}
	x := []float32{1, 1, 2, -1} // two rows
	want := []float32{1 + 3 + 10, 2 + 4 + 20, 2 - 3 + 10, 4 - 4 + 20}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSession(path, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Provider() != ProviderCPU || s.FallbackReason() != "" {
				t.Errorf("provider %s (%q), want cpu with no fallback", s.Provider(), s.FallbackReason())
			}
			if !slices.Equal(s.InputNames(), []string{"x"}) || !slices.Equal(s.OutputNames(), []string{"y"}) {
				t.Errorf("names %v -> %v", s.InputNames(), s.OutputNames())
			}
			if got := runAffine(t, s, x, 2); !slices.Equal(got, want) {
				t.Errorf("y = %v, want %v", got, want)
			}
		})
	}
}

// TestProfilePrefix: a session made with ProfilePrefix writes ONNX
// Runtime's per-operator trace when it is closed, with one model_run per
// Run and the affine model's operators timed.
func TestProfilePrefix(t *testing.T) {
	needORT(t)
	path := writeModel(t, affineModel())
	prefix := filepath.Join(t.TempDir(), "prof")
	s, err := NewSession(path, Options{IntraOpThreads: 1, ProfilePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		runAffine(t, s, []float32{1, 2}, 1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(prefix + "_*.json")
	if len(files) != 1 {
		t.Fatalf("profiles %v, want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var evs []struct {
		Cat  string `json:"cat"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(b, &evs); err != nil {
		t.Fatalf("profile is not a JSON trace: %v", err)
	}
	runs, kernels := 0, 0
	for _, e := range evs {
		if e.Cat == "Session" && e.Name == "model_run" {
			runs++
		}
		if e.Cat == "Node" && strings.HasSuffix(e.Name, "_kernel_time") {
			kernels++
		}
	}
	if runs != 3 || kernels < 3 {
		t.Errorf("profile has %d model runs and %d kernel times, want 3 and at least 3", runs, kernels)
	}
}

func TestPreallocatedOutputIsReused(t *testing.T) {
	needORT(t)
	s, err := NewSession(writeModel(t, affineModel()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := []float32{0, 0}
	in, _ := NewTensor([]int64{1, 2}, x)
	defer in.Destroy()
	out, err := NewEmptyTensor[float32]([]int64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Destroy()
	buf, _ := Data[float32](out)
	for step, v := range []float32{0, 1, 2} {
		x[0], x[1] = v, v // the tensor reads x in place
		outs := []Value{out}
		if err := s.Run([]Value{in}, outs); err != nil {
			t.Fatal(err)
		}
		want := []float32{4*v + 10, 6*v + 20}
		if !slices.Equal(buf, want) {
			t.Errorf("step %d: y = %v, want %v", step, buf, want)
		}
	}
	if _, err := Data[int64](out); err == nil || !strings.Contains(err.Error(), "FLOAT") {
		t.Errorf("Data[int64] of a float tensor: %v", err)
	}
}

// On a machine without CUDA (the npm library is CPU-only) asking for CUDA
// must fall back to the CPU, say why, and still compute the right answer.
func TestCUDAFallsBackToCPU(t *testing.T) {
	needORT(t)
	s, err := NewSession(writeModel(t, affineModel()), Options{CUDA: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Provider() == ProviderCUDA {
		t.Skip("CUDA execution provider is present here; the fallback path is not reachable")
	}
	if s.Provider() != ProviderCPU || !strings.Contains(s.FallbackReason(), "CUDA") {
		t.Errorf("provider %s, fallback %q", s.Provider(), s.FallbackReason())
	}
	t.Logf("fallback reason: %s", s.FallbackReason())
	if got := runAffine(t, s, []float32{1, 0}, 1); !slices.Equal(got, []float32{11, 22}) {
		t.Errorf("y = %v", got)
	}
}

func TestBadModelsNameTheFile(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.onnx")
	os.WriteFile(garbage, []byte("not a model"), 0o644)
	// Valid protobuf, but the graph uses an operator that does not exist.
	bogus := affineModel()
	bogus.Graph.Name = "bogus"
	bogus.Graph.Nodes[1].OpType = "NoSuchOp"
	bogusPath := writeModel(t, bogus)
	good := writeModel(t, affineModel())

	cases := []struct {
		name, path string
		opts       Options
		code       string
		says       []string
	}{
		{"missing", filepath.Join(dir, "missing.onnx"), Options{}, lecture.ENOTFOUND, []string{"missing.onnx", "does not exist"}},
		{"garbage", garbage, Options{}, lecture.EINVALID, []string{garbage, "not ONNX"}},
		{"unknown-op", bogusPath, Options{}, lecture.EINVALID, []string{bogusPath, "NoSuchOp"}},
		{"wrong-input-name", good, Options{InputNames: []string{"input_ids"}}, lecture.EINVALID, []string{good, `no input "input_ids" (it has x)`}},
		{"wrong-output-name", good, Options{OutputNames: []string{"logits"}}, lecture.EINVALID, []string{good, `no output "logits" (it has y)`}},
		{"negative-threads", good, Options{IntraOpThreads: -1}, lecture.EINVALID, []string{good, "thread counts"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSession(c.path, c.opts)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if lecture.ErrorCode(err) != c.code {
				t.Errorf("code %s, want %s (%v)", lecture.ErrorCode(err), c.code, err)
			}
			for _, w := range c.says {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestExpectCheck(t *testing.T) {
	path := writeModel(t, affineModel())
	info, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	ok := Expect{Inputs: map[string]onnxpb.DataType{"x": onnxpb.Float}, Outputs: map[string]onnxpb.DataType{"y": 0}}
	if err := ok.Check(info); err != nil {
		t.Errorf("fitting expectation: %v", err)
	}
	bad := Expect{Inputs: map[string]onnxpb.DataType{"x": onnxpb.Int64, "attention_mask": onnxpb.Int64}}
	err = bad.Check(info)
	for _, w := range []string{path, `no input "attention_mask" (it has x)`, `input "x" is float32, want int64`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not say %q", err, w)
		}
	}
}

// The library cannot be unloaded in a process, so the missing-library cases
// run in a child process (this test binary, re-executed).
func TestMissingLibraryIsAClearError(t *testing.T) {
	if os.Getenv("ORT_TEST_CHILD") == "1" {
		_, err := Init()
		if err == nil {
			t.Fatal("Init succeeded")
		}
		if lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
			t.Fatalf("code %s: %v", lecture.ErrorCode(err), err)
		}
		// Everything else says the same, and nothing crashes.
		if _, err2 := NewSession("any.onnx", Options{}); err2 == nil || err2.Error() != err.Error() {
			t.Fatalf("NewSession after failed Init: %v", err2)
		}
		if _, err2 := NewTensor([]int64{1}, []float32{1}); err2 == nil {
			t.Fatal("NewTensor after failed Init succeeded")
		}
		os.Stdout.WriteString("CHILD-ERROR: " + err.Error() + "\n")
		return
	}
	notLib := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	os.WriteFile(notLib, []byte("not a shared library"), 0o644)
	cases := []struct {
		name, lib string
		says      []string
	}{
		{"absent", filepath.Join(t.TempDir(), "nope.so"), []string{"TRANSCEPT_ORT_LIB=", "nope.so", "make ort", "onnxruntime-node", "release archive"}},
		{"not-a-library", notLib, []string{notLib, "does not load", "make ort", "TRANSCEPT_ORT_LIB", "release archive"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMissingLibraryIsAClearError$", "-test.v")
			cmd.Env = append(os.Environ(), "ORT_TEST_CHILD=1", LibraryEnv+"="+c.lib)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child failed: %v\n%s", err, out)
			}
			msg := string(out)
			if !strings.Contains(msg, "CHILD-ERROR: ") {
				t.Fatalf("child printed no error:\n%s", out)
			}
			for _, w := range c.says {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not say %q:\n%s", w, msg)
				}
			}
		})
	}
}
