package onnxpb

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// addModel is y = x + b with b an initializer that is also an input (so it
// is overridable), and a symbolic batch dimension.
func addModel() *Model {
	return &Model{
		ProducerName: "onnxpb-test",
		Graph: Graph{
			Name:  "add",
			Nodes: []Node{{OpType: "Add", Inputs: []string{"x", "b"}, Outputs: []string{"y"}}},
			Initializers: []Tensor{
				{Name: "b", DataType: Float, Dims: []int64{3}, Float32: []float32{1, 2, 3}},
			},
			Inputs: []ValueInfo{
				{Name: "x", ElemType: Float, Shape: D("batch", 3)},
				{Name: "b", ElemType: Float, Shape: D(3)},
			},
			Outputs: []ValueInfo{{Name: "y", ElemType: Float, Shape: D("batch", 3)}},
		},
		Metadata: map[string]string{"k": "v"},
	}
}

func TestInspectRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "add.onnx")
	if err := addModel().WriteFile(path); err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.IRVersion != DefaultIRVersion || info.Producer != "onnxpb-test" || info.Metadata["k"] != "v" {
		t.Errorf("header: ir %d producer %q metadata %v", info.IRVersion, info.Producer, info.Metadata)
	}
	if want := []OpSet{{Version: DefaultOpSet}}; !reflect.DeepEqual(info.OpSets, want) {
		t.Errorf("opsets %v, want %v", info.OpSets, want)
	}
	wantIn := []ValueInfo{
		{Name: "x", ElemType: Float, Shape: []Dim{{Param: "batch"}, {Value: 3}}},
		{Name: "b", ElemType: Float, Shape: []Dim{{Value: 3}}},
	}
	if !reflect.DeepEqual(info.Inputs, wantIn) {
		t.Errorf("inputs %v, want %v", info.Inputs, wantIn)
	}
	if got := info.RequiredInputs(); len(got) != 1 || got[0].Name != "x" {
		t.Errorf("required inputs %v, want [x]", got)
	}
	if !reflect.DeepEqual(info.Initializers, []string{"b"}) {
		t.Errorf("initializers %v", info.Initializers)
	}
	if y, ok := info.Output("y"); !ok || y.String() != "y float32[batch 3]" {
		t.Errorf("output y: %v %v", y, ok)
	}
}

func TestInspectBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := addModel().Marshal()
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty.onnx", nil, "empty"},
		{"text.onnx", []byte("this is not a model\n"), "not a valid ONNX model"},
		{"truncated.onnx", good[:len(good)/2], "not a valid ONNX model"},
		{"json.onnx", []byte(`{"graph": {}}`), "not a valid ONNX model"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Inspect(path)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FormatError", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q should name %s and say %q", err, path, c.want)
			}
		})
	}
	if _, err := Inspect(filepath.Join(dir, "missing.onnx")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
