package optimum

import (
	"path/filepath"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// DTypes are the weight types a folder may hold, as the hub's ONNX repos
// (and transformers.js's dtype option) name them: fp32 is model.onnx, q8
// model_quantized.onnx, q4 model_q4.onnx, fp16 model_fp16.onnx.
var DTypes = []string{"fp32", "q8", "q4", "fp16"}

// DTypeSuffix is the file-name suffix of dtype ("" for fp32 and "").
func DTypeSuffix(dtype string) (string, error) {
	switch dtype {
	case "", "fp32":
		return "", nil
	case "q8":
		return "_quantized", nil
	case "q4":
		return "_q4", nil
	case "fp16":
		return "_fp16", nil
	}
	return "", lecture.Errorf(lecture.EINVALID, "dtype %q: want one of %s", dtype, strings.Join(DTypes, ", "))
}

// DTypeFile is the path of a model file for dtype: DTypeFile(
// "x/onnx/encoder_model.onnx", "q4") is "x/onnx/encoder_model_q4.onnx".
func DTypeFile(path, dtype string) (string, error) {
	s, err := DTypeSuffix(dtype)
	if err != nil {
		return "", err
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + s + ext, nil
}

// HasDTypeSuffix reports whether name (a .onnx file's base name) is a
// quantised or half-precision variant rather than the float32 model.
func HasDTypeSuffix(name string) bool {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	for _, s := range []string{"_quantized", "_q4", "_fp16", "_q4f16", "_int8", "_uint8", "_bnb4"} {
		if strings.HasSuffix(base, s) {
			return true
		}
	}
	return false
}

// missingDType is the error for a folder without dtype's files.
func missingDType(dir, dtype, file string) error {
	return lecture.Errorf(lecture.ENOTFOUND, "model folder %s has no %s weights: %s is missing (make them with: transcept models quantize %s --dtype %s)",
		dir, dtype, file, dir, dtype)
}

// CheckDTypeFiles says which of files is missing when dtype is not fp32
// (whose files the loaders' own checks report).
func CheckDTypeFiles(dir, dtype string, files ...string) error {
	if dtype == "" || dtype == "fp32" {
		return nil
	}
	for _, f := range files {
		if !exists(f) {
			return missingDType(dir, dtype, f)
		}
	}
	return nil
}
