//go:build cgo

package causal

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/testmodels"
	"github.com/transcept/transcept/shared/lecture"
)

// TestExternalDataFolder: the same weights in onnx/model.onnx_data (ONNX
// external data, the layout of large onnx-community exports) load and give
// the same logits and tokens as the single-file folder; a missing or
// truncated data file is a clear error naming it.
func TestExternalDataFolder(t *testing.T) {
	needORT(t)
	c := testmodels.TinyQwen()
	c.ExternalData = true
	dir := t.TempDir()
	if err := testmodels.WriteQwen2(dir, c); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "onnx", "model.onnx_data"))
	if err != nil {
		t.Fatal(err)
	}
	small, _ := os.Stat(filepath.Join(dir, "onnx", "model.onnx"))
	if small.Size() > st.Size()/4 {
		t.Errorf("model.onnx %d bytes, model.onnx_data %d: the weights should be outside", small.Size(), st.Size())
	}
	ext, err := Load(dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	inline := loadTiny(t, false)
	prompts := [][]int{inline.Tokenizer.EncodePlain("the cat sat on the mat"), inline.Tokenizer.EncodePlain("ok")}
	a, err := Generate(context.Background(), ext, prompts, Options{MaxNewTokens: 16, RepetitionPenalty: 1.3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(context.Background(), inline, prompts, Options{MaxNewTokens: 16, RepetitionPenalty: 1.3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range prompts {
		if !slices.Equal(a.Tokens[i], b.Tokens[i]) || !slices.Equal(a.FirstLogits[i], b.FirstLogits[i]) {
			t.Errorf("row %d: external data gives %v, single file %v", i, a.Tokens[i], b.Tokens[i])
		}
	}

	data := filepath.Join(dir, "onnx", "model.onnx_data")
	os.Truncate(data, st.Size()/2)
	if _, _, err := Check(dir); lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), data) {
		t.Errorf("truncated data file: %v", err)
	}
	os.Remove(data)
	if _, _, err := Check(dir); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(err.Error(), data) {
		t.Errorf("missing data file: %v", err)
	}
}
