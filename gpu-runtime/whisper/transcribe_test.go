//go:build cgo

package whisper

import (
	"context"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/audio"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// writeWAV writes 16 kHz mono 32-bit float samples as a WAV file.
func writeWAV(t *testing.T, path string, x []float32) {
	t.Helper()
	data := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
	}
	h := make([]byte, 44)
	copy(h, "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(data)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 3) // IEEE float
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], SampleRate)
	binary.LittleEndian.PutUint32(h[28:], SampleRate*4)
	binary.LittleEndian.PutUint16(h[32:], 4)
	binary.LittleEndian.PutUint16(h[34:], 32)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(data)))
	if err := os.WriteFile(path, append(h, data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTranscriberLongForm transcribes a recording of about 2.4 minutes (five
// shared clips end to end, three times) with the random TinyWhisper: windows advance
// through the whole file, progress rises to the duration, every segment
// lies inside the audio's span plus one window, and transcribing from the
// same samples in memory gives the same segments.
func TestTranscriberLongForm(t *testing.T) {
	m := tinyModel(t)
	tr := &Transcriber{M: m}
	var all []float32
	for _, name := range []string{"jfk.flac", "fleurs-en-000.ogg", "fleurs-en-001.ogg", "fleurs-en-002.ogg", "fleurs-en-003.ogg"} {
		x, err := audio.Decode(context.Background(), filepath.Join(dataDir(t), "audio", name), nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, x...)
	}
	all = append(append(all, all...), all...)
	path := filepath.Join(t.TempDir(), "lecture.wav")
	writeWAV(t, path, all)
	dur := float64(len(all)) / SampleRate
	var last, total float64
	calls := 0
	res, err := tr.Transcribe(context.Background(), path, lecture.TranscribeOptions{Language: "en"}, func(done, tot float64) {
		if done < last {
			t.Errorf("progress went back from %g to %g", last, done)
		}
		last, total = done, tot
		calls++
	})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(total-dur) > 0.01 || math.Abs(last-dur) > 0.02 {
		t.Errorf("progress ended at %g of %g, audio is %g s", last, total, dur)
	}
	if calls < int(dur/30) {
		t.Errorf("%d windows for %g s", calls, dur)
	}
	if len(res.Segments) == 0 {
		t.Fatal("no segments")
	}
	for i, s := range res.Segments {
		if s.Start < 0 || s.End > dur+30 || s.Text == "" {
			t.Errorf("segment %d: %+v", i, s)
		}
	}
	t.Logf("%.1f s: %d windows, %d segments, language %q, model %s", dur, calls, len(res.Segments), res.Language, tr.Model())

	pos2 := 0
	next2 := func() ([]float32, error) {
		if pos2 >= len(all) {
			return nil, io.EOF
		}
		n := min(7919, len(all)-pos2)
		pos2 += n
		return all[pos2-n : pos2], nil
	}
	lf := DefaultLongForm()
	lf.Language = "en"
	segs, err := m.LongForm(context.Background(), next2, lf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != len(res.Segments) {
		t.Fatalf("in memory: %d segments, from the file %d", len(segs), len(res.Segments))
	}
	for i, s := range segs {
		if w := res.Segments[i]; s.Start != w.Start || s.End != w.End || s.Text != w.Text {
			t.Errorf("segment %d in memory %+v, from the file %+v", i, s, w)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Transcribe(ctx, path, lecture.TranscribeOptions{}, nil); err == nil {
		t.Error("cancelled context: no error")
	}
	if _, err := tr.Transcribe(context.Background(), path, lecture.TranscribeOptions{Language: "xx"}, nil); err == nil {
		t.Error("unknown language accepted")
	}
}

func TestCompressionRatio(t *testing.T) {
	loop := strings.Repeat(" and then", 40)
	if r := compressionRatio(loop); r < 2.4 {
		t.Errorf("repetition loop: ratio %g, want > 2.4", r)
	}
	if r := compressionRatio("And so, my fellow Americans, ask not what your country can do for you."); r > 2.4 {
		t.Errorf("plain sentence: ratio %g, want < 2.4", r)
	}
}

// TestLongFormNoSpeech: a model whose <|nospeech|> probability is high
// everywhere (and whose random tokens are improbable) yields an empty
// transcript with the default checks, and text when they are off.
func TestLongFormNoSpeech(t *testing.T) {
	c := testmodels.TinyWhisper()
	c.NoSpeechBias = 30
	m := tinyModelWith(t, c)
	x, err := audio.Decode(context.Background(), filepath.Join(dataDir(t), "audio", "jfk.flac"), nil)
	if err != nil {
		t.Fatal(err)
	}
	once := func() func() ([]float32, error) {
		given := false
		return func() ([]float32, error) {
			if given {
				return nil, io.EOF
			}
			given = true
			return x, nil
		}
	}
	lf := DefaultLongForm()
	segs, err := m.LongForm(context.Background(), once(), lf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 0 {
		t.Errorf("no-speech windows gave %d segments: %+v", len(segs), segs)
	}
	segs, err = m.LongForm(context.Background(), once(), Greedy(DecodeOptions{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) == 0 {
		t.Error("without the checks: no segments")
	}
}

// clipSamples decodes a shared clip to 16 kHz.
func clipSamples(t *testing.T, name string) []float32 {
	t.Helper()
	x, err := audio.Decode(context.Background(), filepath.Join(dataDir(t), "audio", name), nil)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestTranscriberVADSkipsSilence: two clips with 40 s of silence before,
// 30 s between and 10 s after them. With Silero VAD only the speech is
// decoded: the transcript equals decoding the two speech regions' samples
// end to end on their own, each time moved back into its region (a time
// past the speech stops at its end), and no segment starts outside the
// speech.
func TestTranscriberVADSkipsSilence(t *testing.T) {
	v := vadModel(t)
	m := tinyModel(t)
	a, b := clipSamples(t, "fleurs-en-006.ogg"), clipSamples(t, "fleurs-en-001.ogg")
	zeros := func(s int) []float32 { return make([]float32, s*SampleRate) }
	y := slices.Concat(zeros(40), a, zeros(30), b, zeros(10))
	path := filepath.Join(t.TempDir(), "spliced.wav")
	writeWAV(t, path, y)
	tr := &Transcriber{M: m, VAD: v}
	var last, total float64
	got, err := tr.Transcribe(context.Background(), path, lecture.TranscribeOptions{Language: "en"}, func(done, tot float64) {
		if done < last {
			t.Errorf("progress went back from %g to %g", last, done)
		}
		last, total = done, tot
	})
	if err != nil {
		t.Fatal(err)
	}
	dur := float64(len(y)) / SampleRate
	if math.Abs(last-dur) > 0.02 || math.Abs(total-dur) > 0.02 {
		t.Errorf("progress ended at %g of %g, audio is %g s", last, total, dur)
	}
	speech, err := v.Detect(context.Background(), samplesOf(y), WhisperVADOptions())
	if err != nil {
		t.Fatal(err)
	}
	bStart := (40+30)*SampleRate + len(a)
	if len(speech) != 2 || speech[0].Start < 40*SampleRate-SampleRate/2 || speech[0].End > 40*SampleRate+len(a)+SampleRate/2 ||
		speech[1].Start < bStart-SampleRate/2 || speech[1].End > bStart+len(b)+SampleRate/2 {
		t.Fatalf("speech %v: want one region per clip", speech)
	}
	r0, r1 := speech[0], speech[1]
	var only []float32
	for _, s := range speech {
		only = append(only, y[s.Start:s.End]...)
	}
	lf := DefaultLongForm()
	lf.Language = "en"
	want, err := m.LongForm(context.Background(), samplesOf(only), lf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || len(got.Segments) != len(want) {
		t.Fatalf("%d segments, the speech alone %d", len(got.Segments), len(want))
	}
	sec := func(n int) float64 { return float64(n) / SampleRate }
	len0, len1 := sec(r0.End-r0.Start), sec(r1.End-r1.Start)
	back := func(x float64, end bool) float64 {
		switch {
		case x < len0 || end && x == len0:
			return sec(r0.Start) + x
		case x < len0+len1:
			return sec(r1.Start) + x - len0
		}
		return sec(r1.End)
	}
	inRegions := 0
	for i, w := range want {
		g := got.Segments[i]
		ws, we := back(w.Start, false), max(back(w.Start, false), back(w.End, true))
		if g.Text != w.Text || math.Abs(g.Start-ws) > 0.0101 || math.Abs(g.End-we) > 0.0101 {
			t.Errorf("segment %d: %+v, the speech alone %+v maps to %.3f–%.3f", i, g, w, ws, we)
		}
		in := func(r SpeechSegment) bool { return g.Start >= sec(r.Start)-0.005 && g.Start <= sec(r.End)+0.005 }
		if !in(r0) && !in(r1) {
			t.Errorf("segment %d starts at %g, outside the speech %v", i, g.Start, speech)
		}
		if g.Start < sec(r1.End)-0.01 {
			inRegions++
		}
	}
	if inRegions == 0 {
		t.Error("every segment sits at the speech's end: the mapping inside the regions is not exercised")
	}
	t.Logf("speech %v; %d segments, %d of them before the speech's end", speech, len(got.Segments), inRegions)
}

// TestTranscriberVADSilenceOnly: a recording of silence and faint noise
// gives an empty transcript with the VAD, and nothing is decoded (the
// Whisper sessions are closed before); without the VAD the random model
// invents text for it.
func TestTranscriberVADSilenceOnly(t *testing.T) {
	v := vadModel(t)
	m := tinyModel(t)
	x := slices.Concat(make([]float32, 10*SampleRate), noise(20*SampleRate, 1e-3))
	path := filepath.Join(t.TempDir(), "silence.wav")
	writeWAV(t, path, x)
	opts := lecture.TranscribeOptions{Language: "en"}
	plain, err := (&Transcriber{M: m}).Transcribe(context.Background(), path, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.Segments) == 0 {
		t.Error("without VAD the random model gave no text for silence: the test proves nothing")
	}
	m.Encoder.Close()
	m.Decoder.Close()
	var last float64
	res, err := (&Transcriber{M: m, VAD: v}).Transcribe(context.Background(), path, opts, func(done, total float64) { last = done })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Segments) != 0 || res.Language != "en" {
		t.Errorf("silence with VAD: %+v", res)
	}
	if math.Abs(last-30) > 0.01 {
		t.Errorf("progress ended at %g of 30 s", last)
	}
	t.Logf("without VAD: %d invented segments", len(plain.Segments))
}

// TestLoadWithVAD: the VAD modes and their errors.
func TestLoadWithVAD(t *testing.T) {
	orttest.Need(t)
	dir := filepath.Join(t.TempDir(), "whisper")
	if err := testmodels.WriteWhisper(dir, testmodels.TinyWhisper()); err != nil {
		t.Fatal(err)
	}
	o := ort.Options{IntraOpThreads: 1}
	tr, err := LoadWith(dir, o, TranscriberOptions{VAD: VADOff})
	if err != nil || tr.VAD != nil {
		t.Fatalf("off: %v %v", tr, err)
	}
	tr.Close()
	t.Setenv(VADModelEnv, "")
	t.Setenv(ort.ToolsDirEnv, t.TempDir()) // an empty tools cache
	_, err = LoadWith(dir, o, TranscriberOptions{VAD: VADOn})
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(err.Error(), "fetch-vad.sh") {
		t.Errorf("on without a model: %v", err)
	}
	tr, err = LoadWith(dir, o, TranscriberOptions{})
	if err != nil || tr.VAD != nil {
		t.Fatalf("auto without a model: %v %v", tr, err)
	}
	tr.Close()
	t.Setenv(VADModelEnv, filepath.Join(dir, "missing.onnx"))
	if _, err = LoadWith(dir, o, TranscriberOptions{}); lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(err.Error(), VADModelEnv) {
		t.Errorf("auto with %s naming a missing file: %v", VADModelEnv, err)
	}
	t.Setenv(VADModelEnv, "")
	if _, err := LoadWith(dir, o, TranscriberOptions{VADThreshold: 2}); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("threshold 2: %v", err)
	}
	for in, want := range map[string]VADMode{"": VADAuto, "auto": VADAuto, "ON": VADOn, "off": VADOff, "false": VADOff} {
		if got, err := ParseVADMode(in); got != want || err != nil {
			t.Errorf("ParseVADMode(%q) = %q %v", in, got, err)
		}
	}
	if _, err := ParseVADMode("sometimes"); err == nil {
		t.Error("ParseVADMode accepted sometimes")
	}
	t.Setenv(ort.ToolsDirEnv, "")
	path := vadModelPath(t)
	tr, err = LoadWith(dir, o, TranscriberOptions{VAD: VADOn, VADModel: path, VADThreshold: 0.7})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.VAD == nil || tr.VADOptions.Threshold != 0.7 || tr.VADOptions.MinSilence != WhisperVADOptions().MinSilence {
		t.Errorf("on: VAD %v, options %+v", tr.VAD, tr.VADOptions)
	}
}
