package catalog

import (
	"strings"

	"github.com/transcept/transcept/gpu-runtime/optimum"
)

// WithDType is m with its onnx/*.onnx files replaced by dtype's, as the
// hub's ONNX repos name them (q8: onnx/encoder_model_quantized.onnx, q4:
// onnx/encoder_model_q4.onnx, fp16: …_fp16.onnx); "" and fp32 keep m. The
// pinned sizes and sums are the fp32 files', so the dtype's files are
// unpinned (a pull says so and prints what it got).
func WithDType(m Model, dtype string) (Model, error) {
	if _, err := optimum.DTypeSuffix(dtype); err != nil {
		return m, err
	}
	if dtype == "" || dtype == "fp32" {
		return m, nil
	}
	files := make([]File, len(m.Files))
	for i, f := range m.Files {
		if strings.HasPrefix(f.Path, "onnx/") && strings.HasSuffix(f.Path, ".onnx") {
			p, _ := optimum.DTypeFile(f.Path, dtype)
			f = File{Path: p}
		}
		files[i] = f
	}
	m.Files = files
	return m, nil
}
