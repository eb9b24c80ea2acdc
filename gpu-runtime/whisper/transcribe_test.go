//go:build cgo

package whisper

import (
	"context"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/audio"
	"github.com/transcept/transcept/gpu-runtime/testmodels"
	"github.com/transcept/transcept/shared/lecture"
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
