//go:build cgo

package whisper

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/audio"
	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

func tinyModel(t *testing.T) *Model { return tinyModelWith(t, testmodels.TinyWhisper()) }

func tinyModelWith(t *testing.T, c testmodels.WhisperConfig) *Model {
	t.Helper()
	orttest.Need(t)
	dir := filepath.Join(t.TempDir(), "whisper-tiny-random")
	if err := testmodels.WriteWhisper(dir, c); err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

type asrReference struct {
	Cases []struct {
		Name             string `json:"name"`
		ReturnTimestamps bool   `json:"return_timestamps"`
		IDs              []int  `json:"ids"`
		Text             string `json:"text"`
		Chunks           []struct {
			Start *float64 `json:"start"`
			End   *float64 `json:"end"`
			Text  string   `json:"text"`
		} `json:"chunks"`
	} `json:"cases"`
}

func TestPromptTokens(t *testing.T) {
	m := tinyModel(t)
	v := testmodels.TinyWhisper().Vocab()
	p, err := m.Prompt(DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{v.SOT, v.Lang["en"], v.Transcribe, v.NoTimestamps}; !slices.Equal(p, want) {
		t.Errorf("prompt %v, want %v", p, want)
	}
	p, _ = m.Prompt(DecodeOptions{Language: "fr", Task: "translate", Timestamps: true})
	if want := []int{v.SOT, v.Lang["fr"], v.Translate}; !slices.Equal(p, want) {
		t.Errorf("prompt %v, want %v", p, want)
	}
	if _, err := m.Prompt(DecodeOptions{Language: "xx"}); err == nil {
		t.Error("unknown language accepted")
	}
}

// TestGenerateMatchesTransformersJS runs transformers.js's ASR pipeline
// (tests/reference/whisper-asr.mjs) on the random TinyWhisper folder and
// the first 30 s of three clips, and requires the same token ids (with and
// without timestamps, the timestamp rules and seek loop included) and the
// same segments (start, end, text), from transformers.js's features and
// from ours.
func TestGenerateMatchesTransformersJS(t *testing.T) {
	compareWithTransformersJS(t, tinyModel(t), "jfk.flac", "fleurs-en-000.ogg", "fleurs-en-001.ogg")
}

// TestGenerate128MelsMatchesTransformersJS is the same with 128 mel bins
// (large-v3's front end) on one clip.
func TestGenerate128MelsMatchesTransformersJS(t *testing.T) {
	c := testmodels.TinyWhisper()
	c.NMels = 128
	compareWithTransformersJS(t, tinyModelWith(t, c), "fleurs-en-002.ogg")
}

// TestGenerateEnglishOnlyMatchesTransformersJS: an English-only folder
// (is_multilingual false, as whisper-base.en) prompts with
// <|startoftranscript|> alone.
func TestGenerateEnglishOnlyMatchesTransformersJS(t *testing.T) {
	c := testmodels.TinyWhisper()
	c.EnglishOnly = true
	m := tinyModelWith(t, c)
	v := c.Vocab()
	if p, err := m.Prompt(DecodeOptions{Timestamps: true}); err != nil || !slices.Equal(p, []int{v.SOT}) {
		t.Errorf("prompt %v (%v), want [%d]", p, err, v.SOT)
	}
	if _, err := m.Prompt(DecodeOptions{Language: "fr"}); err == nil {
		t.Error("English-only model accepted language fr")
	}
	compareWithTransformersJS(t, m, "fleurs-en-003.ogg")
}

func compareWithTransformersJS(t *testing.T, m *Model, clips ...string) {
	ref := nodeReference(t)
	dir := t.TempDir()
	var files []string
	for _, name := range clips {
		path := filepath.Join(dataDir(t), "audio", name)
		x, err := audio.Decode(context.Background(), path, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		x = x[:min(len(x), ChunkSamples)]
		f := filepath.Join(dir, name[:len(name)-len(filepath.Ext(name))]+".f32")
		writeF32(t, f, x)
		files = append(files, f)
	}
	cmd := exec.Command("node", append([]string{filepath.Join(ref, "whisper-asr.mjs"), m.Dir, dir}, files...)...)
	cmd.Dir = ref
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node whisper-asr.mjs: %v", err)
	}
	var r asrReference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Cases) != 2*len(files) {
		t.Fatalf("%d reference cases, want %d", len(r.Cases), 2*len(files))
	}
	segments := 0
	for _, c := range r.Cases {
		t.Run(fmt.Sprintf("%s/timestamps=%v", c.Name, c.ReturnTimestamps), func(t *testing.T) {
			jsMel := readF32(t, filepath.Join(dir, c.Name+".mel.f32"))
			ourMel := m.Features.LogMel(readF32(t, filepath.Join(dir, c.Name+".f32")))
			for _, feat := range []struct {
				name string
				mel  []float32
			}{{"transformers.js features", jsMel}, {"our features", ourMel}} {
				lang := "en"
				if !m.Generation.IsMultilingual {
					lang = ""
				}
				ids, err := m.Generate(feat.mel, DecodeOptions{Language: lang, Timestamps: c.ReturnTimestamps})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids, c.IDs) {
					t.Fatalf("%s: ids differ\n got %v\nwant %v", feat.name, ids, c.IDs)
				}
			}
			text, segs := m.Segments(c.IDs, 0)
			if text != c.Text {
				t.Errorf("text %q, want %q", text, c.Text)
			}
			if !c.ReturnTimestamps {
				return
			}
			if len(segs) != len(c.Chunks) {
				t.Fatalf("%d segments, want %d: %+v", len(segs), len(c.Chunks), c.Chunks)
			}
			for i, s := range segs {
				w := c.Chunks[i]
				wantEnd := -1.0
				if w.End != nil {
					wantEnd = *w.End
				}
				if w.Start == nil || s.Start != *w.Start || s.End != wantEnd || s.Text != w.Text {
					t.Errorf("segment %d: %v–%v %q, want %v–%v %q", i, s.Start, s.End, s.Text, w.Start, wantEnd, w.Text)
				}
			}
			segments += len(segs)
			t.Logf("%d tokens, %d segments", len(c.IDs), len(segs))
		})
	}
	if segments == 0 {
		t.Error("no segments at all: the test model no longer exercises timestamps")
	}
}

// TestLightDecoderSameTokens: the merged decoder rewritten so that its
// with-past steps return empty cross-attention caches (lightDecoder), and
// split into its with-past branch and cross-attention projection
// (splitDecoder), decode the same ids and log-probabilities, bit for bit,
// as the merged decoder as written; the lightened decoder's later steps'
// encoder presents are empty, the split one's cross-attention cache is
// made once and fed back, and files neither can rewrite are left alone.
func TestLightDecoderSameTokens(t *testing.T) {
	orttest.Need(t)
	dir := filepath.Join(t.TempDir(), "whisper-tiny-random")
	if err := testmodels.WriteWhisper(dir, testmodels.TinyWhisper()); err != nil {
		t.Fatal(err)
	}
	load := func(keep, merged bool) *Model {
		keepPassThrough, keepMerged = keep, merged
		defer func() { keepPassThrough, keepMerged = false, false }()
		m, err := LoadModel(dir, ort.Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	light, plain, split := load(false, true), load(true, false), load(false, false)
	if !light.lightCache || plain.lightCache || split.lightCache {
		t.Fatalf("lightCache %v, %v and %v, want true, false and false", light.lightCache, plain.lightCache, split.lightCache)
	}
	if light.Cross != nil || plain.Cross != nil || split.Cross == nil {
		t.Fatalf("split: %v, %v and %v, want false, false and true", light.Cross != nil, plain.Cross != nil, split.Cross != nil)
	}
	x := make([]float32, 20*SampleRate)
	for i := range x {
		x[i] = float32(0.3 * math.Sin(2*math.Pi*float64(i%700)/700*float64(1+i/SampleRate)))
	}
	feats := light.Features.LogMel(x)
	for _, ts := range []bool{false, true} {
		o := DecodeOptions{Language: "en", Timestamps: ts, MaxLength: 120}
		prompt, _ := light.Prompt(o)
		a, err := light.decodeOnce(feats, prompt, o, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := plain.decodeOnce(feats, prompt, o, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.ids, b.ids) || a.sumLogprob != b.sumLogprob || a.noSpeech != b.noSpeech {
			t.Errorf("timestamps=%v: light decoder %v (%g, %g), merged as written %v (%g, %g)",
				ts, a.ids, a.sumLogprob, a.noSpeech, b.ids, b.sumLogprob, b.noSpeech)
		}
		c, err := split.decodeOnce(feats, prompt, o, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.ids, b.ids) || c.sumLogprob != b.sumLogprob || c.noSpeech != b.noSpeech {
			t.Errorf("timestamps=%v: split decoder %v (%g, %g), merged as written %v (%g, %g)",
				ts, c.ids, c.sumLogprob, c.noSpeech, b.ids, b.sumLogprob, b.noSpeech)
		}
		if len(a.ids) < len(prompt)+3 {
			t.Errorf("timestamps=%v: only %d ids, the cache is hardly used", ts, len(a.ids))
		}
	}
	// the later steps' outputs: empty cross-attention presents
	r, err := light.newRun(feats)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	d, _ := light.decoderIO()
	ids := []int{light.Generation.DecoderStartTokenID}
	for range 3 {
		if _, err := r.step(ids); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, 1)
	}
	enc := r.in[d.past[0][2]].Shape()
	if len(enc) != 4 || enc[2] != int64(light.Config.MaxSourcePositions) {
		t.Errorf("cross-attention cache fed back has shape %v, want %d positions", enc, light.Config.MaxSourcePositions)
	}
	if dec := r.in[d.past[0][0]].Shape(); len(dec) != 4 || dec[2] != 3 {
		t.Errorf("self-attention cache has shape %v after 3 steps", dec)
	}
	// the split decoder: the cache made on the first step is fed back
	rs, err := split.newRun(feats)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.close()
	ds, _ := split.decoderIO()
	if ds.flag != -1 || ds.states != -1 || len(ds.cross) != split.Config.DecoderLayers {
		t.Fatalf("split decoder's inputs: flag %d, states %d, %d cross outputs", ds.flag, ds.states, len(ds.cross))
	}
	ids = []int{split.Generation.DecoderStartTokenID}
	var fed ort.Value
	for i := range 3 {
		if _, err := rs.step(ids); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			fed = rs.in[ds.past[0][2]]
		} else if rs.in[ds.past[0][2]] != fed {
			t.Errorf("step %d: another cross-attention cache fed", i)
		}
		ids = append(ids, 1)
	}
	if enc := rs.in[ds.past[0][2]].Shape(); len(enc) != 4 || enc[2] != int64(split.Config.MaxSourcePositions) {
		t.Errorf("split: cross-attention cache has shape %v", enc)
	}
	if dec := rs.in[ds.past[0][0]].Shape(); len(dec) != 4 || dec[2] != 3 {
		t.Errorf("split: self-attention cache has shape %v after 3 steps", dec)
	}
	// not an If on use_cache_branch: nothing written
	empty := t.TempDir()
	if s, c, err := splitDecoder(filepath.Join(dir, "onnx", "encoder_model.onnx"), empty); s != "" || c != "" || err != nil {
		t.Errorf("encoder split: %q, %q, %v", s, c, err)
	}
	if p, err := lightDecoder(filepath.Join(dir, "onnx", "encoder_model.onnx"), t.TempDir(), 4, 8); p != "" || err != nil {
		t.Errorf("encoder rewritten: %q, %v", p, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte("not a model"), 0o644)
	if p, err := lightDecoder(bad, t.TempDir(), 4, 8); p != "" || err == nil {
		t.Errorf("garbage: %q, %v; want an error", p, err)
	}
	if s, c, err := splitDecoder(bad, empty); s != "" || c != "" || err == nil {
		t.Errorf("garbage split: %q, %q, %v; want an error", s, c, err)
	}
	if left, _ := os.ReadDir(empty); len(left) != 0 {
		t.Errorf("splitDecoder left %d files behind", len(left))
	}
	if p, _ := lightIf([]byte{0xff}, 4, 8); p != nil {
		t.Error("garbage node rewritten")
	}
}

// TestLogNormEqualsLogProb: the normaliser the timestamp rule returns
// gives logProb's value bit for bit, and none is returned when the rule
// changed the logits after computing it.
func TestLogNormEqualsLogProb(t *testing.T) {
	m := tinyModel(t)
	v := testmodels.TinyWhisper().Vocab()
	rng := rand.New(rand.NewPCG(7, 7))
	prompt := []int{v.SOT, v.Lang["en"], v.Transcribe}
	seen := map[bool]int{}
	for trial := range 200 {
		x := make([]float32, v.Size)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 3)
		}
		if trial%2 == 0 { // make the timestamps win sometimes
			for i := v.TimestampBegin; i < v.Size; i++ {
				x[i] += 4
			}
		}
		ids := append(slices.Clone(prompt), v.TimestampBegin+3, 5)
		var scratch []float32
		n := m.processWith(x, ids, len(prompt), len(prompt), true, &scratch)
		seen[n.ok]++
		if !n.ok {
			continue
		}
		for _, i := range []int{0, 5, optimum.Argmax(x), v.EOT, v.Size - 1} {
			if got, want := float64(x[i])-n.max-n.logSum, logProb(x, i); got != want {
				t.Fatalf("trial %d token %d: %v from the normaliser, logProb %v", trial, i, got, want)
			}
		}
	}
	if seen[true] == 0 || seen[false] == 0 {
		t.Errorf("normaliser kept %d times, dropped %d: both cases should occur", seen[true], seen[false])
	}
}

// TestEncoderOutputReused: runs on the same features share one encoder
// output (the fallback ladder decodes a window several times); it is freed
// once the last run closes and other features replace it.
func TestEncoderOutputReused(t *testing.T) {
	m := tinyModel(t)
	x := make([]float32, 10*SampleRate)
	for i := range x {
		x[i] = float32(0.3 * math.Sin(2*math.Pi*440*float64(i)/SampleRate))
	}
	f1 := m.Features.LogMel(x)
	f2 := m.Features.LogMel(x[:5*SampleRate])
	o := DecodeOptions{Language: "en", Timestamps: true, MaxLength: 40}
	prompt, _ := m.Prompt(o)
	first, err := m.decodeOnce(f1, prompt, o, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := m.newRun(f1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := m.newRun(slices.Clone(f1))
	if err != nil {
		t.Fatal(err)
	}
	e := r1.enc
	if r2.enc != e || e.refs != 3 {
		t.Fatalf("same features: shared %v, refs %d (want 3: two runs and the model)", r2.enc == e, e.refs)
	}
	r1.close()
	r2.close()
	if e.refs != 1 || e.states.IsZero() {
		t.Fatalf("after both runs: refs %d, freed %v; want 1 and kept", e.refs, e.states.IsZero())
	}
	again, err := m.decodeOnce(f1, prompt, o, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first.ids, again.ids) || first.sumLogprob != again.sumLogprob {
		t.Errorf("reused encoder output decodes %v, fresh %v", again.ids, first.ids)
	}
	r3, err := m.newRun(f2)
	if err != nil {
		t.Fatal(err)
	}
	defer r3.close()
	if r3.enc == e || e.refs != 0 || !e.states.IsZero() {
		t.Errorf("other features: shared %v, old refs %d, old freed %v", r3.enc == e, e.refs, e.states.IsZero())
	}
}

// TestLightDecoderKeptInCacheDir: with an optimised-model cache folder the
// rewritten decoder (lightened, or split in two) is kept there under one
// name, reused by later loads (so that ONNX Runtime's cached copy of it
// stays valid), and decodes as the temporary one does.
func TestLightDecoderKeptInCacheDir(t *testing.T) {
	orttest.Need(t)
	t.Run("split", func(t *testing.T) { testDecoderKeptInCacheDir(t, false) })
	t.Run("light", func(t *testing.T) {
		keepMerged = true
		defer func() { keepMerged = false }()
		testDecoderKeptInCacheDir(t, true)
	})
}

func testDecoderKeptInCacheDir(t *testing.T, light bool) {
	dir := filepath.Join(t.TempDir(), "whisper-tiny-random")
	if err := testmodels.WriteWhisper(dir, testmodels.TinyWhisper()); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	feats := make([]float32, 80*ChunkFrames)
	for i := range feats {
		feats[i] = float32(i%97) / 97
	}
	o := DecodeOptions{Language: "en", Timestamps: true, MaxLength: 60}
	var got [][]int
	for _, c := range []string{"", cache, cache} {
		m, err := LoadModel(dir, ort.Options{IntraOpThreads: 1, OptimizedCacheDir: c})
		if err != nil {
			t.Fatal(err)
		}
		if m.lightCache != light || (m.Cross != nil) == light {
			t.Fatalf("cache dir %q: decoder not rewritten (light %v, split %v)", c, m.lightCache, m.Cross != nil)
		}
		prompt, _ := m.Prompt(o)
		p, err := m.decodeOnce(feats, prompt, o, 0, nil)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.ids)
		kept, _ := filepath.Glob(filepath.Join(cache, "whisper-decoder-*.onnx"))
		want := []string{"light"}
		if !light {
			want = []string{"cross", "step"}
		}
		var kinds []string
		for _, k := range kept {
			kinds = append(kinds, strings.Split(filepath.Base(k), "-")[2])
		}
		slices.Sort(kinds)
		if c != "" && !slices.Equal(kinds, want) {
			t.Errorf("cache folder holds %v, want the %v decoder files", kept, want)
		}
	}
	if !slices.Equal(got[0], got[1]) || !slices.Equal(got[1], got[2]) {
		t.Errorf("temporary, first cached and reused copies decode %v, %v, %v", got[0], got[1], got[2])
	}
}

// TestSplitReplacesLightCopyInCache: a cache folder holding an earlier
// release's lightened decoder (and ONNX Runtime's cached form of it) loses
// them once the split decoder has loaded from the same folder; the split
// files and their cached forms stay.
func TestSplitReplacesLightCopyInCache(t *testing.T) {
	orttest.Need(t)
	dir := filepath.Join(t.TempDir(), "whisper-tiny-random")
	if err := testmodels.WriteWhisper(dir, testmodels.TinyWhisper()); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	load := func(merged bool) {
		keepMerged = merged
		defer func() { keepMerged = false }()
		m, err := LoadModel(dir, ort.Options{IntraOpThreads: 1, OptimizedCacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	glob := func(p string) []string {
		g, _ := filepath.Glob(filepath.Join(cache, p))
		return g
	}
	load(true)
	if l := glob("whisper-decoder-light-*"); len(l) < 2 {
		t.Fatalf("the light load kept %v, want the copy and its cached form", l)
	}
	load(false)
	if l := glob("whisper-decoder-light-*"); len(l) != 0 {
		t.Errorf("after the split load the light copy remains: %v", l)
	}
	if s, c := glob("whisper-decoder-step-*"), glob("whisper-decoder-cross-*"); len(s) < 2 || len(c) < 2 {
		t.Errorf("split files and their cached forms: %v, %v", s, c)
	}
	if enc := glob("encoder_model-*.ort"); len(enc) != 1 {
		t.Errorf("the encoder's cached form: %v", enc)
	}
}
