package catalog

import (
	"slices"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

func TestWithDType(t *testing.T) {
	m, _ := Lookup(List, "distilbart-cnn-6-6")
	q, err := WithDType(m[0], "q4")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range q.Files {
		paths = append(paths, f.Path)
	}
	for _, want := range []string{"config.json", "tokenizer.json", "onnx/encoder_model_q4.onnx", "onnx/decoder_model_merged_q4.onnx"} {
		if !slices.Contains(paths, want) {
			t.Errorf("q4 files %v lack %s", paths, want)
		}
	}
	if slices.Contains(paths, "onnx/encoder_model.onnx") {
		t.Errorf("q4 files %v keep the fp32 encoder", paths)
	}
	if m[0].Files[len(m[0].Files)-1].Path != "onnx/decoder_model_merged.onnx" {
		t.Error("WithDType changed the list's own files")
	}
	q8, _ := WithDType(m[0], "q8")
	if !slices.ContainsFunc(q8.Files, func(f File) bool { return f.Path == "onnx/encoder_model_quantized.onnx" }) {
		t.Errorf("q8: %v", q8.Files)
	}
	if _, err := WithDType(m[0], "int2"); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("unknown dtype: %v", err)
	}
}
