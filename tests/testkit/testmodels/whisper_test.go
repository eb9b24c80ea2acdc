package testmodels

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/tokenizer"
)

func TestWriteWhisperDeterministicLayout(t *testing.T) {
	c := TinyWhisper()
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := WriteWhisper(d, c); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{"config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json",
		"tokenizer_config.json", "onnx/encoder_model.onnx", "onnx/decoder_model_merged.onnx"}
	total := sameFiles(t, a, b, files)
	if total > 2<<20 {
		t.Errorf("tiny folder is %d bytes, want < 2 MB", total)
	}
	names := func(vs []onnxpb.ValueInfo) []string {
		var s []string
		for _, v := range vs {
			s = append(s, v.Name)
		}
		return s
	}
	enc, err := onnxpb.Inspect(filepath.Join(a, "onnx/encoder_model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(enc.Inputs); !slices.Equal(got, []string{"input_features"}) {
		t.Errorf("encoder inputs %v", got)
	}
	if in := enc.Inputs[0]; len(in.Shape) != 3 || in.Shape[1].Value != 80 || in.Shape[2].Value != 3000 {
		t.Errorf("input_features shape %v", in.Shape)
	}
	if got := names(enc.Outputs); !slices.Equal(got, []string{"last_hidden_state"}) {
		t.Errorf("encoder outputs %v", got)
	}
	dec, err := onnxpb.Inspect(filepath.Join(a, "onnx/decoder_model_merged.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	wantIn := []string{"input_ids", "encoder_hidden_states"}
	wantOut := []string{"logits"}
	for i := range c.DecoderLayers {
		for _, p := range []string{"decoder.key", "decoder.value", "encoder.key", "encoder.value"} {
			wantIn = append(wantIn, fmt.Sprintf("past_key_values.%d.%s", i, p))
			wantOut = append(wantOut, fmt.Sprintf("present.%d.%s", i, p))
		}
	}
	wantIn = append(wantIn, "use_cache_branch")
	if got := names(dec.Inputs); !slices.Equal(got, wantIn) {
		t.Errorf("merged decoder inputs\n got %v\nwant %v", got, wantIn)
	}
	if got := names(dec.Outputs); !slices.Equal(got, wantOut) {
		t.Errorf("merged decoder outputs\n got %v\nwant %v", got, wantOut)
	}
	pk, _ := dec.Input("past_key_values.0.decoder.key")
	if got := pk.Shape; len(got) != 4 || got[1].Value != 4 || got[2].Param != "past_decoder_sequence_length" || got[3].Value != 8 {
		t.Errorf("cache input shape %v, want [batch_size 4 past_decoder_sequence_length 8]", got)
	}

	var gen struct {
		DecoderStart int            `json:"decoder_start_token_id"`
		NoTimestamps int            `json:"no_timestamps_token_id"`
		EOS          int            `json:"eos_token_id"`
		LangToID     map[string]int `json:"lang_to_id"`
		TaskToID     map[string]int `json:"task_to_id"`
	}
	gj, _ := os.ReadFile(filepath.Join(a, "generation_config.json"))
	if err := json.Unmarshal(gj, &gen); err != nil {
		t.Fatal(err)
	}
	v := c.Vocab()
	if gen.DecoderStart != v.SOT || gen.NoTimestamps != v.NoTimestamps || gen.EOS != v.EOT ||
		gen.LangToID["<|en|>"] != v.Lang["en"] || gen.TaskToID["transcribe"] != v.Transcribe {
		t.Errorf("generation_config.json %+v disagrees with the vocabulary %+v", gen, v)
	}
}

func TestWhisperTokenizerSpecials(t *testing.T) {
	c := TinyWhisper()
	dir := t.TempDir()
	if err := WriteWhisper(dir, c); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := c.Vocab()
	if tok.VocabSize() != v.Size {
		t.Errorf("vocab %d, want %d", tok.VocabSize(), v.Size)
	}
	for tokText, want := range map[string]int{
		"<|endoftext|>": v.EOT, "<|startoftranscript|>": v.SOT, "<|en|>": v.Lang["en"], "<|fr|>": v.Lang["fr"],
		"<|translate|>": v.Translate, "<|transcribe|>": v.Transcribe, "<|notimestamps|>": v.NoTimestamps,
		"<|0.00|>": v.TimestampBegin, "<|0.02|>": v.TimestampBegin + 1, "<|30.00|>": v.TimestampBegin + 1500,
	} {
		if id, ok := tok.TokenID(tokText); !ok || id != want {
			t.Errorf("%s: id %d (found %v), want %d", tokText, id, ok, want)
		}
	}
	if v.TimestampBegin != v.NoTimestamps+1 || v.EOT != v.Text {
		t.Errorf("layout %+v: want <|endoftext|> right after the text tokens, timestamps right after <|notimestamps|>", v)
	}
	if got := tok.DecodeRaw(tok.EncodePlain(" the cat and the hat")); got != " the cat and the hat" {
		t.Errorf("round trip %q", got)
	}
}

func TestWhisperTinySizeVocab(t *testing.T) {
	c := WhisperTinySize()
	v := c.Vocab()
	if v.Size != 51865 || v.EOT != v.Text || v.TimestampBegin+1501 != v.Size {
		t.Errorf("whisper-tiny-size vocabulary %+v, want 51865 tokens", v)
	}
	tj, _ := c.WhisperTokenizer()
	var tok struct {
		Model struct {
			Vocab map[string]int `json:"vocab"`
		} `json:"model"`
	}
	if err := json.Unmarshal(tj, &tok); err != nil {
		t.Fatal(err)
	}
	if len(tok.Model.Vocab) != v.Size {
		t.Errorf("tokenizer has %d entries, want %d", len(tok.Model.Vocab), v.Size)
	}
}

// TestWhisperLanguageBias: a language bias changes the decoder's weights
// only (every other file stays byte-identical), and an unknown language is
// refused.
func TestWhisperLanguageBias(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	c := TinyWhisper()
	if err := WriteWhisper(a, c); err != nil {
		t.Fatal(err)
	}
	c.LanguageBias = map[string]float32{"de": 3}
	if err := WriteWhisper(b, c); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "generation_config.json", "tokenizer.json", "onnx/encoder_model.onnx", "onnx/decoder_model_merged.onnx"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if same := bytes.Equal(x, y); same != (f != "onnx/decoder_model_merged.onnx") {
			t.Errorf("%s: identical %v with a language bias", f, same)
		}
	}
	c.LanguageBias = map[string]float32{"xx": 1}
	if err := WriteWhisper(t.TempDir(), c); err == nil || !strings.Contains(err.Error(), "xx") {
		t.Errorf("unknown language: %v", err)
	}
}
