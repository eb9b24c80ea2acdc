package embed

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/bertgen"
)

func TestMeanPoolNormalize(t *testing.T) {
	// Two rows of three positions, width 2; the second row's last position
	// is padding and must not count.
	hidden := []float32{1, 0, 3, 0, 2, 6, 0, 3, 0, 1, 100, 100}
	mask := []int64{1, 1, 1, 1, 1, 0}
	got := MeanPoolNormalize(hidden, mask, 2, 3, 2)
	// Row 0: mean (2, 2) -> (1/√2, 1/√2). Row 1: mean (0, 2) -> (0, 1).
	want := [][]float32{{float32(1 / math.Sqrt2), float32(1 / math.Sqrt2)}, {0, 1}}
	for i := range want {
		for k := range want[i] {
			if math.Abs(float64(got[i][k]-want[i][k])) > 1e-7 {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	}
	// No attended position, and an all-zero mean: zero vectors, not NaN.
	got = MeanPoolNormalize([]float32{1, 2, 0, 0}, []int64{0, 1}, 1, 2, 2)
	got = append(got, MeanPoolNormalize([]float32{1, 2}, []int64{0}, 1, 1, 2)...)
	for _, v := range got {
		for _, x := range v {
			if x != 0 {
				t.Fatalf("zero cases: %v", got)
			}
		}
	}
}

// TestLoadBadFolders: each broken folder is refused before ONNX Runtime
// loads anything, with the right code and the file named (these run
// without ONNX Runtime, and without cgo).
func TestLoadBadFolders(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good")
	if err := bertgen.Write(good, bertgen.Tiny()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, code, mention string
		breakIt             func(dir string) error
		opts                Options
	}{
		{"no folder", lecture.ENOTFOUND, "does not exist", func(dir string) error { return os.RemoveAll(dir) }, Options{}},
		{"file not folder", lecture.EINVALID, "is a file", func(dir string) error {
			os.RemoveAll(dir)
			return os.WriteFile(dir, []byte("x"), 0o644)
		}, Options{}},
		{"no config", lecture.ENOTFOUND, "config.json", func(dir string) error { return os.Remove(filepath.Join(dir, "config.json")) }, Options{}},
		{"bad config", lecture.EINVALID, "config.json", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"), 0o644)
		}, Options{}},
		{"no tokenizer config", lecture.ENOTFOUND, "tokenizer_config.json", func(dir string) error {
			return os.Remove(filepath.Join(dir, "tokenizer_config.json"))
		}, Options{}},
		{"no model", lecture.ENOTFOUND, "model.onnx", func(dir string) error { return os.Remove(filepath.Join(dir, "onnx", "model.onnx")) }, Options{}},
		{"corrupt model", lecture.EINVALID, "model.onnx", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "onnx", "model.onnx"), []byte("not a model at all"), 0o644)
		}, Options{}},
		{"wrong inputs", lecture.EINVALID, "attention_mask", func(dir string) error {
			return writeModel(dir, []pb.ValueInfo{{Name: "input_ids", ElemType: pb.Int64, Shape: pb.D("b", "s")}},
				[]pb.ValueInfo{{Name: "last_hidden_state", ElemType: pb.Float, Shape: pb.D("b", "s", 32)}})
		}, Options{}},
		{"int32 ids", lecture.EINVALID, "int32", func(dir string) error {
			return writeModel(dir, []pb.ValueInfo{{Name: "input_ids", ElemType: pb.Int32, Shape: pb.D("b", "s")}, {Name: "attention_mask", ElemType: pb.Int64, Shape: pb.D("b", "s")}},
				[]pb.ValueInfo{{Name: "last_hidden_state", ElemType: pb.Float, Shape: pb.D("b", "s", 32)}})
		}, Options{}},
		{"decoder", lecture.EINVALID, "past_key_values.0.key", func(dir string) error {
			return writeModel(dir, []pb.ValueInfo{{Name: "input_ids", ElemType: pb.Int64, Shape: pb.D("b", "s")}, {Name: "attention_mask", ElemType: pb.Int64, Shape: pb.D("b", "s")},
				{Name: "past_key_values.0.key", ElemType: pb.Float, Shape: pb.D("b", 4, "p", 8)}},
				[]pb.ValueInfo{{Name: "last_hidden_state", ElemType: pb.Float, Shape: pb.D("b", "s", 32)}})
		}, Options{}},
		{"no hidden output", lecture.EINVALID, "logits", func(dir string) error {
			return writeModel(dir, []pb.ValueInfo{{Name: "input_ids", ElemType: pb.Int64, Shape: pb.D("b", "s")}, {Name: "attention_mask", ElemType: pb.Int64, Shape: pb.D("b", "s")}},
				[]pb.ValueInfo{{Name: "logits", ElemType: pb.Float, Shape: pb.D("b", "s", 32)}})
		}, Options{}},
		{"width mismatch", lecture.EINVALID, "hidden_size 32", func(dir string) error {
			return writeModel(dir, []pb.ValueInfo{{Name: "input_ids", ElemType: pb.Int64, Shape: pb.D("b", "s")}, {Name: "attention_mask", ElemType: pb.Int64, Shape: pb.D("b", "s")}},
				[]pb.ValueInfo{{Name: "last_hidden_state", ElemType: pb.Float, Shape: pb.D("b", "s", 48)}})
		}, Options{}},
		{"max length beyond positions", lecture.EINVALID, "64 positions", func(string) error { return nil }, Options{MaxLength: 65}},
		{"unknown pooling", lecture.EINVALID, "max", func(string) error { return nil }, Options{Pooling: "max"}},
		{"negative batch", lecture.EINVALID, "batch size", func(string) error { return nil }, Options{BatchSize: -1}},
		{"no tokenizer", lecture.ENOTFOUND, "tokenizer.json", func(dir string) error { return os.Remove(filepath.Join(dir, "tokenizer.json")) }, Options{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if err := os.CopyFS(dir, os.DirFS(good)); err != nil {
				t.Fatal(err)
			}
			if err := c.breakIt(dir); err != nil {
				t.Fatal(err)
			}
			e, err := Load(dir, c.opts)
			if err == nil {
				e.Close()
				t.Fatal("loaded")
			}
			if code := lecture.ErrorCode(err); code != c.code || !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q (code %s), want code %s mentioning %q", err, code, c.code, c.mention)
			}
		})
	}
}

// writeModel replaces onnx/model.onnx with an Identity-only graph that
// declares the given inputs and outputs.
func writeModel(dir string, in, out []pb.ValueInfo) error {
	m := &pb.Model{Graph: pb.Graph{Name: "g", Inputs: in, Outputs: out}}
	for _, o := range out {
		m.Graph.Nodes = append(m.Graph.Nodes, pb.Node{OpType: "Identity", Inputs: []string{in[0].Name}, Outputs: []string{o.Name}})
	}
	return m.WriteFile(filepath.Join(dir, "onnx", "model.onnx"))
}
