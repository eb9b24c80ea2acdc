package ort

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/shared/lecture"
)

// ModelInfo is a model's declared inputs, outputs and initializers.
type ModelInfo = onnxpb.Info

// Inspect reads a .onnx file's inputs and outputs without ONNX Runtime (and
// without loading its weights). A missing file is lecture.ENOTFOUND, a file
// that is not ONNX lecture.EINVALID; both name the file.
func Inspect(path string) (*ModelInfo, error) {
	info, err := onnxpb.Inspect(path)
	if err == nil {
		return info, nil
	}
	var fe *onnxpb.FormatError
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, lecture.Errorf(lecture.ENOTFOUND, "model file %s does not exist", path)
	case errors.As(err, &fe):
		return nil, lecture.Wrap(lecture.EINVALID, err, "model file %s is corrupt or not ONNX", path)
	}
	return nil, lecture.Wrap(lecture.EINVALID, err, "model file %s cannot be read", path)
}

// Expect is what a caller needs of a model: input and output names, each
// with an element type (onnxpb.Undefined accepts any).
type Expect struct {
	Inputs  map[string]onnxpb.DataType
	Outputs map[string]onnxpb.DataType
}

// Check reports, in one lecture.EINVALID error naming the file, every
// expected input or output the model lacks or declares with another element
// type.
func (e Expect) Check(info *ModelInfo) error {
	var probs []string
	check := func(kind string, want map[string]onnxpb.DataType, find func(string) (onnxpb.ValueInfo, bool), have []onnxpb.ValueInfo) {
		for _, name := range slices.Sorted(maps.Keys(want)) {
			v, ok := find(name)
			switch {
			case !ok:
				probs = append(probs, fmt.Sprintf("no %s %q (it has %s)", kind, name, names(have)))
			case want[name] != onnxpb.Undefined && v.ElemType != want[name]:
				probs = append(probs, fmt.Sprintf("%s %q is %s, want %s", kind, name, v.ElemType, want[name]))
			}
		}
	}
	check("input", e.Inputs, info.Input, info.Inputs)
	check("output", e.Outputs, info.Output, info.Outputs)
	if len(probs) > 0 {
		return lecture.Errorf(lecture.EINVALID, "model file %s does not fit: %s", info.Path, strings.Join(probs, "; "))
	}
	return nil
}

func names(vs []onnxpb.ValueInfo) string {
	if len(vs) == 0 {
		return "none"
	}
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.Name
	}
	return strings.Join(s, ", ")
}
