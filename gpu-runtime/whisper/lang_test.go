//go:build cgo

package whisper

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/audio"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// sotLogits runs the folder's two ONNX files directly, with sessions of
// its own: the encoder on the features, then the merged decoder without
// cache on <|startoftranscript|> alone, and returns that position's logits.
func sotLogits(t *testing.T, dir string, c testmodels.WhisperConfig, feats []float32) []float32 {
	t.Helper()
	enc, err := ort.NewSession(filepath.Join(dir, "onnx", "encoder_model.onnx"), ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	in, err := ort.NewTensor([]int64{1, int64(c.NMels), ChunkFrames}, feats)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	hidden := []ort.Value{{}}
	if err := enc.Run([]ort.Value{in}, hidden); err != nil {
		t.Fatal(err)
	}
	defer hidden[0].Destroy()
	dec, err := ort.NewSession(filepath.Join(dir, "onnx", "decoder_model_merged.onnx"), ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	v := c.Vocab()
	var feeds []ort.Value
	for _, name := range dec.InputNames() {
		var x ort.Value
		switch {
		case name == "input_ids":
			x, err = ort.NewTensor([]int64{1, 1}, []int64{int64(v.SOT)})
		case name == "encoder_hidden_states":
			feeds = append(feeds, hidden[0])
			continue
		case name == "use_cache_branch":
			x, err = ort.NewTensor([]int64{1}, []bool{false})
		case strings.HasPrefix(name, "past_key_values."):
			x, err = ort.NewTensor([]int64{1, int64(c.Heads), 0, int64(c.DModel / c.Heads)}, []float32{})
		default:
			t.Fatalf("decoder input %q", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer x.Destroy()
		feeds = append(feeds, x)
	}
	out := make([]ort.Value, len(dec.OutputNames()))
	if err := dec.Run(feeds, out); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for i := range out {
			out[i].Destroy()
		}
	}()
	if dec.OutputNames()[0] != "logits" {
		t.Fatalf("decoder outputs %v", dec.OutputNames())
	}
	logits, err := ort.Data[float32](out[0])
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), logits[:v.Size]...)
}

// TestDetectLanguageMatchesDirectRun: on four clips, with and without a
// bias towards French, the detected language is the language token with
// the largest logit at <|startoftranscript|> as computed by running the
// ONNX files directly, with the same softmax probability among languages.
func TestDetectLanguageMatchesDirectRun(t *testing.T) {
	clips := []string{"jfk.flac", "fleurs-en-000.ogg", "fleurs-en-004.ogg", "fleurs-en-007.ogg"}
	for _, bias := range []map[string]float32{nil, {"fr": 4}} {
		c := testmodels.TinyWhisper()
		c.LanguageBias = bias
		m := tinyModelWith(t, c)
		v := c.Vocab()
		seen := map[string]int{}
		for _, name := range clips {
			x, err := audio.Decode(context.Background(), filepath.Join(dataDir(t), "audio", name), nil)
			if err != nil {
				t.Fatal(err)
			}
			feats := m.Features.LogMel(x[:min(len(x), ChunkSamples)])
			got, prob, err := m.DetectLanguage(feats)
			if err != nil {
				t.Fatal(err)
			}
			logits := sotLogits(t, m.Dir, c, feats)
			want, best := "", float32(math.Inf(-1))
			sum := 0.0
			for _, l := range testmodels.WhisperLanguages { // in id order
				if z := logits[v.Lang[l]]; z > best {
					want, best = l, z
				}
			}
			for _, l := range testmodels.WhisperLanguages {
				sum += math.Exp(float64(logits[v.Lang[l]] - best))
			}
			if got != want || math.Abs(prob-1/sum) > 1e-6 {
				t.Errorf("bias %v, %s: detected %s (p %.4f), direct run %s (p %.4f)", bias, name, got, prob, want, 1/sum)
			}
			seen[got]++
		}
		t.Logf("bias %v: %v", bias, seen)
		if bias != nil && seen["fr"] != len(clips) {
			t.Errorf("a +4 bias towards fr detected %v", seen)
		}
	}
}

func TestResolveLanguage(t *testing.T) {
	m := tinyModel(t)
	for in, want := range map[string]string{"": "", "de": "de", "DE": "de", " <|fr|> ": "fr", "en": "en"} {
		if got, err := m.ResolveLanguage(in); got != want || err != nil {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	_, err := m.ResolveLanguage("xx")
	if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), `"xx"`) ||
		!strings.Contains(err.Error(), "de, en, es, fr, ja, ko, ru, zh") {
		t.Errorf("unknown language: %v", err)
	}
	c := testmodels.TinyWhisper()
	c.EnglishOnly = true
	en := tinyModelWith(t, c)
	for _, in := range []string{"", "en", "EN"} {
		if got, err := en.ResolveLanguage(in); got != "en" || err != nil {
			t.Errorf("English-only, %q: %q %v", in, got, err)
		}
	}
	_, err = en.ResolveLanguage("fr")
	if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), "English-only") || !strings.Contains(err.Error(), "accepted: en") {
		t.Errorf("English-only, fr: %v", err)
	}
	if l, p, err := en.DetectLanguage(nil); l != "en" || p != 1 || err != nil {
		t.Errorf("English-only detection: %q %g %v", l, p, err)
	}
	if _, _, err := m.DetectLanguage(make([]float32, 10)); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("10 features: %v", err)
	}
}

// TestTranscribeDetectsLanguage: with no language, a multilingual model's
// transcript records the detected one (the French-leaning model: fr), an
// English-only model's "en"; an unsupported code fails before decoding,
// listing the accepted ones.
func TestTranscribeDetectsLanguage(t *testing.T) {
	x, err := audio.Decode(context.Background(), filepath.Join(dataDir(t), "audio", "fleurs-en-004.ogg"), nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clip.wav")
	writeWAV(t, path, x)
	c := testmodels.TinyWhisper()
	c.LanguageBias = map[string]float32{"fr": 4}
	tr := &Transcriber{M: tinyModelWith(t, c)}
	res, err := tr.Transcribe(context.Background(), path, lecture.TranscribeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Language != "fr" {
		t.Errorf("detected %q, want fr", res.Language)
	}
	// decoded with <|fr|>: the same segments as when fr is given
	given, err := tr.Transcribe(context.Background(), path, lecture.TranscribeOptions{Language: "fr"}, nil)
	if err != nil || !slices.EqualFunc(res.Segments, given.Segments, func(a, b lecture.Segment) bool { return a == b }) {
		t.Errorf("detected fr: %v, given fr: %v (%v)", res.Segments, given.Segments, err)
	}
	res, err = tr.Transcribe(context.Background(), path, lecture.TranscribeOptions{Language: "DE"}, nil)
	if err != nil || res.Language != "de" {
		t.Errorf("given de: %q %v", res.Language, err)
	}
	_, err = tr.Transcribe(context.Background(), path, lecture.TranscribeOptions{Language: "klingon"}, nil)
	if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), "accepted: de, en") {
		t.Errorf("unsupported language: %v", err)
	}
	c = testmodels.TinyWhisper()
	c.EnglishOnly = true
	en := &Transcriber{M: tinyModelWith(t, c)}
	if res, err := en.Transcribe(context.Background(), path, lecture.TranscribeOptions{}, nil); err != nil || res.Language != "en" {
		t.Errorf("English-only: %q %v", res.Language, err)
	}
	if _, err := en.Transcribe(context.Background(), path, lecture.TranscribeOptions{Language: "de"}, nil); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("English-only given de: %v", err)
	}
}

// TestLanguageDetectedOnFirstSpeechWindow: 30 s of silence then jfk. The
// test model's <|nospeech|> bias puts the silent window just above a 0.51
// no-speech threshold (0.52) and the speech window just below it (0.49):
// the first window is skipped without confirming a language, the language
// (and its probability) is the second window's, and the segments equal
// those decoded with that language given. All silence leaves it empty.
func TestLanguageDetectedOnFirstSpeechWindow(t *testing.T) {
	c := testmodels.TinyWhisper()
	c.NoSpeechBias = 7
	m := tinyModelWith(t, c)
	speech := clipSamples(t, "jfk.flac")
	x := slices.Concat(make([]float32, ChunkSamples), speech)
	lf := DefaultLongForm()
	lf.NoSpeechThreshold = 0.51
	res, err := m.TranscribeStream(context.Background(), samplesOf(x), lf, nil)
	if err != nil {
		t.Fatal(err)
	}
	silentLang, silentProb, err := m.DetectLanguage(m.Features.LogMel(x[:ChunkSamples]))
	if err != nil {
		t.Fatal(err)
	}
	lang, prob, err := m.DetectLanguage(m.Features.LogMel(speech))
	if err != nil {
		t.Fatal(err)
	}
	if res.Language != lang || math.Abs(res.LanguageProb-prob) > 1e-9 || len(res.Segments) == 0 {
		t.Fatalf("detected %q (p %.6f), %d segments; the speech window gives %q (p %.6f), the silent one %q (p %.6f)",
			res.Language, res.LanguageProb, len(res.Segments), lang, prob, silentLang, silentProb)
	}
	if res.Segments[0].Start < 30 {
		t.Errorf("first segment %+v inside the silent window", res.Segments[0])
	}
	lf.Language = lang
	given, err := m.TranscribeStream(context.Background(), samplesOf(x), lf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(res.Segments, given.Segments, func(a, b Segment) bool {
		return a.Start == b.Start && a.End == b.End && a.Text == b.Text
	}) {
		t.Errorf("detected: %d segments, given %s: %d, different", len(res.Segments), lang, len(given.Segments))
	}
	lf.Language = ""
	quiet, err := m.TranscribeStream(context.Background(), samplesOf(make([]float32, 2*ChunkSamples)), lf, nil)
	if err != nil || quiet.Language != "" || len(quiet.Segments) != 0 {
		t.Errorf("silence: %+v %v", quiet, err)
	}
	t.Logf("speech window: %s (p %.4f); silent window would give %s (p %.4f); %d segments", lang, prob, silentLang, silentProb, len(res.Segments))
}
