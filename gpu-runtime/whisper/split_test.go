package whisper

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// TestSplitDecoderFiles: the merged decoder split in two gives a step
// model fed the token and all four caches per layer, giving the logits
// and the self-attention caches, and a cross-attention model fed the
// encoder states, giving the encoder caches; every weight is in one of the
// two files only (their sizes add up to no more than the merged file's),
// and nothing is left behind in the folder on failure.
func TestSplitDecoderFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "whisper-tiny-random")
	c := testmodels.TinyWhisper()
	if err := testmodels.WriteWhisper(dir, c); err != nil {
		t.Fatal(err)
	}
	merged := filepath.Join(dir, "onnx", "decoder_model_merged.onnx")
	out := t.TempDir()
	step, cross, err := splitDecoder(merged, out)
	if err != nil || step == "" || cross == "" {
		t.Fatalf("split: %q, %q, %v", step, cross, err)
	}
	names := func(vs []onnxpb.ValueInfo) []string {
		var s []string
		for _, v := range vs {
			s = append(s, v.Name)
		}
		return s
	}
	si, err := ort.Inspect(step)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := ort.Inspect(cross)
	if err != nil {
		t.Fatal(err)
	}
	layers := c.DecoderLayers
	wantIn, wantOut, wantCross := []string{"input_ids"}, []string{"logits"}, []string(nil)
	for i := range layers {
		n := cacheNames("past_key_values", i)
		p := cacheNames("present", i)
		wantIn = append(wantIn, n[:]...)
		wantOut = append(wantOut, p[0], p[1])
		wantCross = append(wantCross, p[2], p[3])
	}
	if got := names(si.Inputs); !slices.Equal(got, wantIn) {
		t.Errorf("step inputs %v, want %v", got, wantIn)
	}
	if got := names(si.Outputs); !slices.Equal(got, wantOut) {
		t.Errorf("step outputs %v, want %v", got, wantOut)
	}
	if got := names(ci.Inputs); !slices.Equal(got, []string{"encoder_hidden_states"}) {
		t.Errorf("cross inputs %v", got)
	}
	if got := names(ci.Outputs); !slices.Equal(got, wantCross) {
		t.Errorf("cross outputs %v, want %v", got, wantCross)
	}
	size := func(p string) int64 {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	if s, x, m := size(step), size(cross), size(merged); s+x > m || x > m/2 {
		t.Errorf("step %d + cross %d bytes, merged %d: weights copied twice", s, x, m)
	}
	// a file that is not a merged decoder is not split, and leaves nothing
	empty := t.TempDir()
	for _, p := range []string{filepath.Join(dir, "onnx", "encoder_model.onnx"), step, cross} {
		if s, x, err := splitDecoder(p, empty); s != "" || x != "" || err != nil {
			t.Errorf("%s split: %q, %q, %v", filepath.Base(p), s, x, err)
		}
	}
	if _, _, err := splitDecoder(filepath.Join(dir, "missing.onnx"), empty); err == nil {
		t.Error("a missing file split without an error")
	}
	if left, _ := os.ReadDir(empty); len(left) != 0 {
		t.Errorf("%d files left behind", len(left))
	}
	t.Logf("step %d bytes, cross %d, merged %d", size(step), size(cross), size(merged))
}
