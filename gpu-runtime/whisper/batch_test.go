//go:build cgo

package whisper

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// speechClips is the shared clips end to end with gaps of silence of
// 1 s and 3 s in turn, repeated times times.
func speechClips(t *testing.T, times int) []float32 {
	t.Helper()
	var one []float32
	for i, name := range []string{"jfk.flac", "fleurs-en-000.ogg", "fleurs-en-001.ogg", "fleurs-en-002.ogg", "fleurs-en-003.ogg",
		"fleurs-en-004.ogg", "fleurs-en-005.ogg"} {
		one = append(one, clipSamples(t, name)...)
		one = append(one, make([]float32, (1+2*(i%2))*SampleRate)...)
	}
	var all []float32
	for range times {
		all = append(all, one...)
	}
	return all
}

// chunkFeatures cuts x into the chunks of plan and returns their features
// end to end.
func chunkFeatures(m *Model, x []float32, plan []Chunk) []float32 {
	n := m.Features.NMels() * ChunkFrames
	feats := make([]float32, n*len(plan))
	for i, c := range plan {
		m.Features.LogMelInto(feats[i*n:(i+1)*n], x[c.Start:c.End])
	}
	return feats
}

// TestBatchedRowsMatchAlone: seven chunks of speech decoded as one batch
// give every chunk the token ids it gets decoded alone, and alone (one
// row) the batched decoder gives the ids of the sequential path's
// decoder (decodeOnce): greedy and with the temperature fallback, with the
// split decoder (its cross-attention cache made for all rows at once and
// rows dropped from it), the lightened one and the merged decoder as
// written, the encoder run a window at a time (the CPU's choice) and four
// at a time.
func TestBatchedRowsMatchAlone(t *testing.T) {
	for _, name := range []string{"split", "light", "pass-through"} {
		t.Run(name, func(t *testing.T) {
			pass := name == "pass-through"
			keepPassThrough, keepMerged = pass, name == "light"
			if pass {
				encoderRunRows = 4 // encoder runs of 4 and 2 windows
			}
			defer func() { keepPassThrough, keepMerged, encoderRunRows = false, false, 0 }()
			m := tinyModel(t)
			if m.lightCache != (name == "light") || (m.Cross != nil) != (name == "split") {
				t.Fatalf("lightCache %v, split %v", m.lightCache, m.Cross != nil)
			}
			x := speechClips(t, 1)
			var plan []Chunk
			for s := 0; s < len(x); s += 13 * SampleRate { // chunks of 13–30 s
				plan = append(plan, Chunk{Start: s, End: min(len(x), s+13*SampleRate+(s/SampleRate%17)*SampleRate)})
			}
			feats := chunkFeatures(m, x, plan)
			n := m.Features.NMels() * ChunkFrames
			prompt, err := m.Prompt(DecodeOptions{Language: "en", Timestamps: true})
			if err != nil {
				t.Fatal(err)
			}
			o := DecodeOptions{Language: "en", Timestamps: true}
			for _, lf := range []LongFormOptions{Greedy(o), DefaultLongForm()} {
				lf.Language = "en"
				batched, err := m.decodeChunks(context.Background(), feats, plan, prompt, o, lf, lf.Temperatures)
				if err != nil {
					t.Fatal(err)
				}
				lengths := map[int]bool{}
				for i := range plan {
					alone, err := m.decodeChunks(context.Background(), feats[i*n:(i+1)*n], plan[i:i+1], prompt, o, lf, lf.Temperatures)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(batched[i], alone[0]) || (batched[i] == nil) != (alone[0] == nil) {
						t.Errorf("temperatures %v, chunk %d: in the batch %v\nalone %v", lf.Temperatures, i, batched[i], alone[0])
					}
					lengths[len(batched[i])] = true
					if len(lf.Temperatures) == 1 {
						p, err := m.decodeOnce(feats[i*n:(i+1)*n], prompt, o, 0, nil)
						if err != nil {
							t.Fatal(err)
						}
						seq := p.ids[len(prompt):]
						if len(seq) > 0 && seq[len(seq)-1] == m.Generation.EOSTokenID {
							seq = seq[:len(seq)-1]
						}
						if !slices.Equal(seq, alone[0]) {
							t.Errorf("chunk %d: batched decoder alone %v\ndecodeOnce %v", i, alone[0], seq)
						}
					}
				}
				if len(lengths) < 3 {
					t.Errorf("temperatures %v: only lengths %v: rows do not leave the batch at different steps", lf.Temperatures, lengths)
				}
				t.Logf("temperatures %v: %d chunks, token counts %v", lf.Temperatures, len(plan), lengths)
			}
		})
	}
}

// TestTranscribeBatched: the Transcriber with a VAD and a batch of 3
// decodes chunks that the VAD's speech makes; every segment lies inside
// its chunk (mapped back to the recording), segments never go back in
// time, and the transcript equals TranscribeBatched's at batch 1 on the
// same chunks; the progress reaches the end.
func TestTranscribeBatched(t *testing.T) {
	v := vadModel(t)
	m := tinyModel(t)
	x := slices.Concat(make([]float32, 5*SampleRate), speechClips(t, 2), make([]float32, 7*SampleRate))
	path := filepath.Join(t.TempDir(), "lecture.wav")
	writeWAV(t, path, x)
	encoderRunRows = 3 // one encoder run per batch, as on a GPU
	defer func() { encoderRunRows = 0 }()
	tr := &Transcriber{M: m, VAD: v, Batch: 3}
	var last float64
	got, err := tr.Transcribe(context.Background(), path, lecture.TranscribeOptions{Language: "en"}, func(done, total float64) {
		if done < last {
			t.Errorf("progress went back from %g to %g", last, done)
		}
		last = done
	})
	if err != nil {
		t.Fatal(err)
	}
	dur := float64(len(x)) / SampleRate
	if math.Abs(last-dur) > 0.02 {
		t.Errorf("progress ended at %g, audio is %g s", last, dur)
	}
	probs, total, err := v.Probabilities(context.Background(), samplesOf(x))
	if err != nil {
		t.Fatal(err)
	}
	speech := SpeechSegments(probs, total, WhisperVADOptions())
	plan := PlanChunks(speech, probs)
	if len(plan) < 4 {
		t.Fatalf("plan %v: want at least 4 chunks", plan)
	}
	tl := newSpeechTimeline(speech)
	var only []float32
	for _, s := range speech {
		only = append(only, x[s.Start:s.End]...)
	}
	lf := DefaultLongForm()
	lf.Language = "en"
	want, err := m.TranscribeBatched(context.Background(), samplesOf(only), plan, lf, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	mapSegmentTimes(tl, want.Segments)
	if len(got.Segments) == 0 || len(got.Segments) != len(want.Segments) {
		t.Fatalf("batch 3: %d segments, batch 1: %d", len(got.Segments), len(want.Segments))
	}
	k := 0 // the chunk of the segment
	prevEnd := 0.0
	for i, s := range got.Segments {
		if w := want.Segments[i]; s.Text != w.Text || s.Start != w.Start || s.End != w.End {
			t.Errorf("segment %d: batch 3 %+v, batch 1 %+v", i, s, w)
		}
		if s.Start < prevEnd || s.End < s.Start {
			t.Errorf("segment %d %.2f–%.2f goes back (previous end %.2f)", i, s.Start, s.End, prevEnd)
		}
		prevEnd = s.End
		in := func(c Chunk) bool {
			a := round2(tl.original(float64(c.Start)/SampleRate, false))
			b := round2(tl.original(float64(c.End)/SampleRate, true))
			return s.Start >= a && s.End <= b
		}
		for k < len(plan) && !in(plan[k]) {
			k++
		}
		if k == len(plan) {
			t.Fatalf("segment %d %+v lies in no chunk at or after the previous segment's", i, s)
		}
	}
	t.Logf("%.0f s, %d chunks, %d segments", dur, len(plan), len(got.Segments))
}

// TestTranscribeBatchedSilence: silence gives an empty transcript at any
// batch size, with the VAD (nothing decoded) and through TranscribeBatched
// with a model that hears no speech anywhere.
func TestTranscribeBatchedSilence(t *testing.T) {
	v := vadModel(t)
	m := tinyModel(t)
	x := slices.Concat(make([]float32, 10*SampleRate), noise(50*SampleRate, 1e-3))
	path := filepath.Join(t.TempDir(), "silence.wav")
	writeWAV(t, path, x)
	res, err := (&Transcriber{M: m, VAD: v, Batch: 8}).Transcribe(context.Background(), path, lecture.TranscribeOptions{Language: "en"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Segments) != 0 {
		t.Errorf("silence with VAD: %+v", res.Segments)
	}
	c := testmodels.TinyWhisper()
	c.NoSpeechBias = 30
	quiet := tinyModelWith(t, c)
	r, err := quiet.TranscribeBatched(context.Background(), samplesOf(x), nil, DefaultLongForm(), 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Segments) != 0 {
		t.Errorf("no-speech model, batch 4: %d segments", len(r.Segments))
	}
	r, err = quiet.TranscribeBatched(context.Background(), samplesOf(nil), nil, DefaultLongForm(), 4, nil)
	if err != nil || len(r.Segments) != 0 {
		t.Errorf("no samples: %v %v", r, err)
	}
}

// TestTranscribeBatchedCancel: cancelling stops the run within a decoder
// step: the rows decoding when it comes never finish, no later batch
// starts, and the error is the context's.
func TestTranscribeBatchedCancel(t *testing.T) {
	m := tinyModel(t)
	x := speechClips(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	passes := 0
	m.onPass = func([]int) {
		passes++
		if passes == 1 {
			cancel()
		}
	}
	defer func() { m.onPass = nil }()
	lf := Greedy(DecodeOptions{Language: "en"})
	_, err := m.TranscribeBatched(ctx, samplesOf(x), nil, lf, 4, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// the other rows of the batch may finish in the same step, no more
	if passes > 4 {
		t.Errorf("%d rows decoded after the cancel in the first batch of 4", passes)
	}
}

// TestBatchedMemoryBounded is TestLongFormMemoryBounded for the batched
// path at batch 8: an hour of audio in 30 s pieces on a small model whose
// every chunk is silence after one decoder step; the Go heap in use stays
// under 64 MiB and the resident set grows by under 48 MiB from the 15th
// minute to the end.
func TestBatchedMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("an hour of audio (seconds of CPU)")
	}
	c := testmodels.TinyWhisper()
	c.NoSpeechBias, c.EOSBias = 50, 50
	m := tinyModelWith(t, c)
	const total = 3600 * SampleRate
	rng := rand.New(rand.NewPCG(1, 2))
	sent := 0
	next := func() ([]float32, error) {
		if sent >= total {
			return nil, io.EOF
		}
		b := make([]float32, min(SampleRate, total-sent))
		for i := range b {
			tm := float64(sent+i) / SampleRate
			b[i] = float32(0.2*math.Sin(2*math.Pi*(200+float64(int(tm)%50)*10)*tm) + 0.05*rng.NormFloat64())
		}
		sent += len(b)
		return b, nil
	}
	var heapMax uint64
	var rss15, rssMax int64
	batches := 0
	done := func(s float64) {
		batches++
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heapMax = max(heapMax, ms.HeapInuse)
		r := residentBytes(t)
		if s >= 15*60 && rss15 == 0 {
			rss15 = r
		}
		rssMax = max(rssMax, r)
	}
	res, err := m.TranscribeBatched(context.Background(), next, nil, DefaultLongForm(), 8, done)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d batches, %d segments; Go heap in use at most %.1f MiB; RSS %.1f MiB at 15 min, at most %.1f MiB",
		batches, len(res.Segments), float64(heapMax)/(1<<20), float64(rss15)/(1<<20), float64(rssMax)/(1<<20))
	if batches != 3600/30/8 {
		t.Errorf("%d batches for an hour, want 15", batches)
	}
	if heapMax > 64<<20 {
		t.Errorf("Go heap in use reached %.1f MiB, want under 64", float64(heapMax)/(1<<20))
	}
	if rss15 == 0 || rssMax-rss15 > 48<<20 {
		t.Errorf("resident set grew from %.1f MiB (15 min) to %.1f MiB", float64(rss15)/(1<<20), float64(rssMax)/(1<<20))
	}
}
