package whisper

import (
	"errors"
	"io"
	"slices"
	"testing"
	"time"
)

// framesOf spells probabilities as frames: '#' 0.9, '+' 0.45 (between the
// thresholds 0.5 and 0.35), '.' 0.1.
func framesOf(s string) []float32 {
	p := make([]float32, len(s))
	for i, c := range s {
		switch c {
		case '#':
			p[i] = 0.9
		case '+':
			p[i] = 0.45
		default:
			p[i] = 0.1
		}
	}
	return p
}

// TestSpeechSegmentsRules checks silero-vad's rules on hand-worked cases
// (frames of 512 samples; times in frames below).
func TestSpeechSegmentsRules(t *testing.T) {
	const F = VADFrame
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// one frame is 32 ms
	cases := []struct {
		name   string
		frames string
		n      int // samples; 0 means len(frames)·F
		o      VADOptions
		want   []SpeechSegment
	}{
		{"no speech", "..........", 0, VADOptions{Threshold: 0.5}, nil},
		{"one segment, no padding", "..####....", 0, VADOptions{Threshold: 0.5}, []SpeechSegment{{2 * F, 6 * F}}},
		// silence of 3 frames (96 ms) is under 100 ms: one segment; 4 frames split it
		{"short pause kept", "#####...####......", 0, VADOptions{Threshold: 0.5, MinSilence: ms(100)}, []SpeechSegment{{0, 12 * F}}},
		{"long pause splits", "####.....####.....", 0, VADOptions{Threshold: 0.5, MinSilence: ms(100)}, []SpeechSegment{{0, 4 * F}, {9 * F, 13 * F}}},
		// between the thresholds nothing changes: speech holds, silence holds
		{"hysteresis holds speech", "..##++++++##......", 0, VADOptions{Threshold: 0.5, MinSilence: ms(100)}, []SpeechSegment{{2 * F, 12 * F}}},
		{"hysteresis does not start", "..++++++..", 0, VADOptions{Threshold: 0.5}, nil},
		// the silence clock runs from the first dip through '+' frames, and
		// speech ends at that dip
		{"silence clock runs through +", "##.++..##", 0, VADOptions{Threshold: 0.5, MinSilence: ms(100)}, []SpeechSegment{{0, 2 * F}, {7 * F, 9 * F}}},
		{"speech resets the silence clock", "##.++#.....", 0, VADOptions{Threshold: 0.5, MinSilence: ms(100)}, []SpeechSegment{{0, 6 * F}}},
		{"neg threshold chosen", "##+++##", 0, VADOptions{Threshold: 0.5, NegThreshold: 0.5}, []SpeechSegment{{0, 2 * F}, {5 * F, 7 * F}}},
		// 8 frames = 256 ms > 250 ms kept; 7 frames = 224 ms dropped
		{"min speech keeps", "..########....", 0, VADOptions{Threshold: 0.5, MinSpeech: ms(250)}, []SpeechSegment{{2 * F, 10 * F}}},
		{"min speech drops", "..#######....", 0, VADOptions{Threshold: 0.5, MinSpeech: ms(250)}, nil},
		{"open at the end closes at n", "....####", 4*F + 1000, VADOptions{Threshold: 0.5}, []SpeechSegment{{4 * F, 4*F + 1000}}},
		// pad 30 ms = 480 samples on each side, clamped to the audio
		{"padding", "#...##....", 0, VADOptions{Threshold: 0.5, SpeechPad: ms(30)}, []SpeechSegment{{0, F + 480}, {4*F - 480, 6*F + 480}}},
		// gap of 1 frame (512) < 2·pad (960): split in two
		{"padding splits a short gap", "##.##", 0, VADOptions{Threshold: 0.5, SpeechPad: ms(30)}, []SpeechSegment{{0, 2*F + 256}, {3*F - 256, 5 * F}}},
	}
	for _, c := range cases {
		n := c.n
		if n == 0 {
			n = len(c.frames) * F
		}
		got := SpeechSegments(framesOf(c.frames), n, c.o)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestVADOptionsCheck(t *testing.T) {
	for _, o := range []VADOptions{{}, {Threshold: 1}, {Threshold: 0.5, NegThreshold: 0.6}, {Threshold: 0.5, SpeechPad: -1}} {
		if o.Check() == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	for _, o := range []VADOptions{SileroVADOptions(), WhisperVADOptions(), {Threshold: 0.2, NegThreshold: 0.2}} {
		if err := o.Check(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// TestSpeechTimeline: the filter keeps exactly the segments' samples,
// whatever the pieces it is fed, and times map back to the recording.
func TestSpeechTimeline(t *testing.T) {
	x := make([]float32, 10000)
	for i := range x {
		x[i] = float32(i)
	}
	segs := []SpeechSegment{{100, 1600}, {3200, 3300}, {8000, 9600}}
	var want []float32
	for _, s := range segs {
		want = append(want, x[s.Start:s.End]...)
	}
	for _, piece := range []int{1, 7, 100, 1500, 3000, 20000} {
		tl := newSpeechTimeline(segs)
		pos := 0
		next := tl.filter(func() ([]float32, error) {
			if pos >= len(x) {
				return nil, io.EOF
			}
			n := min(piece, len(x)-pos)
			pos += n
			return x[pos-n : pos], nil
		})
		var got []float32
		for {
			y, err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(y) == 0 {
				t.Fatal("empty piece")
			}
			got = append(got, y...)
		}
		if !slices.Equal(got, want) {
			t.Errorf("pieces of %d: %d samples, want %d", piece, len(got), len(want))
		}
		if pos > 9600+piece {
			t.Errorf("pieces of %d: read on to %d after the last segment", piece, pos)
		}
	}
	tl := newSpeechTimeline(segs)
	sec := func(s int) float64 { return float64(s) / SampleRate }
	for _, c := range []struct {
		t    float64 // speech-only seconds
		end  bool
		want float64
	}{
		{0, false, sec(100)},
		{sec(1500), false, sec(3200)}, // the border: the second segment's start …
		{sec(1500), true, sec(1600)},  // … or the first one's end
		{sec(1550), false, sec(3250)},
		{sec(1600), false, sec(8000)},
		{sec(1600), true, sec(3300)},
		{sec(3200), true, sec(9600)},
		{sec(3300), true, sec(9600)}, // past the speech: its end
		{sec(5000), false, sec(9600)},
	} {
		if got := tl.original(c.t, c.end); abs(got-c.want) > 1e-12 {
			t.Errorf("original(%g, end %v) = %g, want %g", c.t, c.end, got, c.want)
		}
	}
	ws := []Segment{{Start: 0, End: sec(1500), Text: "a"}, {Start: sec(1500), End: sec(1600), Text: "b"}, {Start: 0.05, End: -1, Text: "c"}}
	mapSegmentTimes(tl, ws)
	if ws[0].Start != round2(sec(100)) || ws[0].End != 0.1 || ws[1].Start != 0.2 || ws[1].End != round2(sec(3300)) || ws[2].End != -1 {
		t.Errorf("mapped %+v", ws)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
