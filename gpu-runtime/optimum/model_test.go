package optimum

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

func tinyFolder(t *testing.T, edit func(c *testmodels.Config)) string {
	t.Helper()
	c := testmodels.Tiny()
	if edit != nil {
		edit(&c)
	}
	dir := t.TempDir()
	if err := testmodels.WriteBART(dir, c); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckSeq2SeqGood(t *testing.T) {
	for _, split := range []bool{false, true} {
		dir := tinyFolder(t, func(c *testmodels.Config) { c.SplitDecoder, c.NoMerged = split, split })
		f, tok, err := CheckSeq2Seq(dir)
		if err != nil {
			t.Fatal(err)
		}
		if f.Merged == split || f.Layers != 2 || f.Heads != 4 || f.HeadDim != 8 || f.Vocab != testmodels.TinyTokenizerSize {
			t.Errorf("split=%v: %+v", split, f)
		}
		g := f.Generation
		if g.DecoderStartTokenID != 2 || !g.IsEOS(2) || g.ForcedEOSTokenID != 2 || g.ForcedBOSTokenID != -1 || g.MaxLength != 20 || g.PadTokenID != 1 {
			t.Errorf("generation %+v", g)
		}
		if tok.VocabSize() != testmodels.TinyTokenizerSize {
			t.Errorf("tokenizer vocab %d", tok.VocabSize())
		}
	}
}

// wrongNames is an encoder whose input is called "ids".
func wrongNames() *onnxpb.Model {
	return &onnxpb.Model{Graph: onnxpb.Graph{Name: "wrong",
		Nodes:   []onnxpb.Node{{OpType: "Identity", Inputs: []string{"ids"}, Outputs: []string{"last_hidden_state"}}},
		Inputs:  []onnxpb.ValueInfo{{Name: "ids", ElemType: onnxpb.Int64, Shape: onnxpb.D("b", "s")}},
		Outputs: []onnxpb.ValueInfo{{Name: "last_hidden_state", ElemType: onnxpb.Int64, Shape: onnxpb.D("b", "s")}},
	}}
}

func TestCheckSeq2SeqBad(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string)
		code   string
		words  []string
	}{
		{"missing config", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "config.json")) },
			lecture.ENOTFOUND, []string{"config.json"}},
		{"config not JSON", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "config.json"), "{not json") },
			lecture.EINVALID, []string{"config.json", "not valid JSON"}},
		{"not encoder-decoder", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "config.json"), `{"model_type":"gpt2","decoder_layers":2}`)
		}, lecture.EINVALID, []string{"config.json", "gpt2", "encoder-decoder"}},
		{"missing encoder", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "onnx", "encoder_model.onnx")) },
			lecture.ENOTFOUND, []string{"encoder_model.onnx"}},
		{"missing decoder", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "onnx", "decoder_model_merged.onnx")) },
			lecture.ENOTFOUND, []string{"decoder_model_merged.onnx", "decoder_with_past_model.onnx"}},
		{"corrupt decoder", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "onnx", "decoder_model_merged.onnx"), "this is not a protobuf at all \xff\xff\xff")
		}, lecture.EINVALID, []string{"decoder_model_merged.onnx", "corrupt"}},
		{"truncated decoder", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "onnx", "decoder_model_merged.onnx")
			b, _ := os.ReadFile(p)
			write(t, p, string(b[:len(b)/2]))
		}, lecture.EINVALID, []string{"decoder_model_merged.onnx"}},
		{"wrong input names", func(t *testing.T, dir string) {
			if err := wrongNames().WriteFile(filepath.Join(dir, "onnx", "encoder_model.onnx")); err != nil {
				t.Fatal(err)
			}
		}, lecture.EINVALID, []string{"encoder_model.onnx", `no input "input_ids"`, "ids", `"last_hidden_state" is int64, want float32`}},
		{"fewer decoder layers than config", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "config.json"), strings.Replace(read(t, filepath.Join(dir, "config.json")), `"decoder_layers": 2`, `"decoder_layers": 3`, 1))
		}, lecture.EINVALID, []string{"decoder_model_merged.onnx", "past_key_values.2.decoder.key"}},
		{"vocab_size disagrees with logits", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "config.json"), strings.Replace(read(t, filepath.Join(dir, "config.json")), `"vocab_size": 301`, `"vocab_size": 500`, 1))
		}, lecture.EINVALID, []string{"decoder_model_merged.onnx", "301", "vocab_size 500"}},
		{"tokenizer of another model", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "tokenizer.json")
			var tj map[string]any
			if err := json.Unmarshal([]byte(read(t, p)), &tj); err != nil {
				t.Fatal(err)
			}
			tj["added_tokens"] = append(tj["added_tokens"].([]any), map[string]any{"id": 50264, "content": "<extra>",
				"single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true})
			b, _ := json.Marshal(tj)
			write(t, p, string(b))
		}, lecture.EINVALID, []string{"tokenizer.json", "50264", "vocabulary of 301", "another model"}},
		{"missing tokenizer", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "tokenizer.json")) },
			lecture.ENOTFOUND, []string{"tokenizer.json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tinyFolder(t, nil)
			tc.break_(t, dir)
			_, _, err := CheckSeq2Seq(dir)
			if err == nil {
				t.Fatal("no error")
			}
			if lecture.ErrorCode(err) != tc.code {
				t.Errorf("code %q, want %q: %v", lecture.ErrorCode(err), tc.code, err)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
		})
	}
}

func TestCheckSeq2SeqSplitPairMissingHalf(t *testing.T) {
	dir := tinyFolder(t, func(c *testmodels.Config) { c.SplitDecoder, c.NoMerged = true, true })
	os.Remove(filepath.Join(dir, "onnx", "decoder_with_past_model.onnx"))
	_, _, err := CheckSeq2Seq(dir)
	if lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(fmt_(err), "decoder_with_past_model.onnx") {
		t.Errorf("got %v", err)
	}
}

func fmt_(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
