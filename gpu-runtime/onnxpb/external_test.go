package onnxpb

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// matMulModel is y = x·W + b with W [4, 300] and b [300]; with external
// set, W and b are moved to model.onnx_data (in that order).
func matMulModel(t testing.TB, dir string, external bool) (path string, w, b []float32) {
	t.Helper()
	w = make([]float32, 4*300)
	for i := range w {
		w[i] = float32(math.Sin(float64(i))) // not a pattern a bug could keep
	}
	b = make([]float32, 300)
	for i := range b {
		b[i] = float32(i) / 7
	}
	m := &Model{Graph: Graph{
		Name: "mm",
		Nodes: []Node{
			{OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"xw"}},
			{OpType: "Add", Inputs: []string{"xw", "b"}, Outputs: []string{"y"}},
		},
		Initializers: []Tensor{
			{Name: "W", DataType: Float, Dims: []int64{4, 300}, Float32: append([]float32(nil), w...)},
			{Name: "b", DataType: Float, Dims: []int64{300}, Float32: append([]float32(nil), b...)},
			{Name: "small", DataType: Int64, Dims: []int64{2}, Int64: []int64{1, -2}},
		},
		Inputs:  []ValueInfo{{Name: "x", ElemType: Float, Shape: D("batch", 4)}},
		Outputs: []ValueInfo{{Name: "y", ElemType: Float, Shape: D("batch", 300)}},
	}}
	if external {
		x, err := CreateExternal(filepath.Join(dir, "model.onnx_data"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := x.Move(&m.Graph.Initializers[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
	}
	path = filepath.Join(dir, "model.onnx")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path, w, b
}

func le(v []float32) []byte {
	var out []byte
	for _, x := range v {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x))
	}
	return out
}

func TestExternalDataRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path, w, b := matMulModel(t, dir, true)
	info, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.External) != 2 {
		t.Fatalf("external tensors %v, want W and b", info.External)
	}
	wantW := External{Location: "model.onnx_data", Offset: 0, Length: 4 * 300 * 4}
	wantB := External{Location: "model.onnx_data", Offset: 8192, Length: 300 * 4} // 4800 bytes of W, then the next page
	if info.External["W"] != wantW || info.External["b"] != wantB {
		t.Errorf("external entries %+v, want W %+v b %+v", info.External, wantW, wantB)
	}
	if _, ok := info.External["small"]; ok {
		t.Error("inline tensor reported as external")
	}
	for name, want := range map[string][]float32{"W": w, "b": b} {
		got, err := ReadExternal(path, info.External[name])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, le(want)) {
			t.Errorf("%s: external bytes differ from the tensor", name)
		}
	}
	if err := info.CheckExternal(); err != nil {
		t.Error(err)
	}
	st, _ := os.Stat(path)
	if st.Size() > 1024 {
		t.Errorf("model.onnx is %d bytes: the weights should be outside it", st.Size())
	}
	// the data file is exactly what the entries describe
	data, _ := os.ReadFile(filepath.Join(dir, "model.onnx_data"))
	if int64(len(data)) != wantB.Offset+wantB.Length {
		t.Errorf("data file %d bytes, want %d", len(data), wantB.Offset+wantB.Length)
	}

	// a truncated or missing data file is named
	os.Truncate(filepath.Join(dir, "model.onnx_data"), 9000)
	if err := info.CheckExternal(); err == nil || !strings.Contains(err.Error(), "model.onnx_data") || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated data: %v", err)
	}
	if _, err := ReadExternal(path, info.External["b"]); err == nil {
		t.Error("read past the end of a truncated file")
	}
	os.Remove(filepath.Join(dir, "model.onnx_data"))
	if err := info.CheckExternal(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("missing data: %v", err)
	}
}

func TestExternalLocationMustStayInFolder(t *testing.T) {
	for _, loc := range []string{"../secret", "/etc/passwd", "", "a/../../b"} {
		if _, err := (External{Location: loc, Length: 1}).Path("/m/model.onnx"); err == nil {
			t.Errorf("location %q accepted", loc)
		}
	}
	if p, err := (External{Location: "sub/w.bin"}).Path("/m/model.onnx"); err != nil || p != filepath.FromSlash("/m/sub/w.bin") {
		t.Errorf("sub/w.bin: %q %v", p, err)
	}
	// a model whose external_data says "../x" is read, and refused by the check
	dir := t.TempDir()
	m := &Model{Graph: Graph{Name: "g",
		Nodes:        []Node{{OpType: "Identity", Inputs: []string{"w"}, Outputs: []string{"y"}}},
		Initializers: []Tensor{{Name: "w", DataType: Float, Dims: []int64{1}, External: &External{Location: "../x", Length: 4}}},
		Outputs:      []ValueInfo{{Name: "y", ElemType: Float, Shape: D(1)}},
	}}
	path := filepath.Join(dir, "model.onnx")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := info.CheckExternal(); err == nil || !strings.Contains(err.Error(), "outside its folder") {
		t.Errorf("escaping location: %v", err)
	}
}

func TestExternalWriterRefusesTwice(t *testing.T) {
	x, err := CreateExternal(filepath.Join(t.TempDir(), "d"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	tn := Tensor{Name: "t", DataType: Int32, Dims: []int64{3}, Int32: []int32{1, -1, 7}}
	if err := x.Move(&tn); err != nil || tn.Int32 != nil || tn.External.Length != 12 || x.Size() != 12 {
		t.Fatalf("move: %v %+v size %d", err, tn, x.Size())
	}
	if err := x.Move(&tn); err == nil {
		t.Error("moved an external tensor again")
	}
	if err := x.Move(&Tensor{Name: "empty"}); err == nil {
		t.Error("moved a tensor without data")
	}
}
