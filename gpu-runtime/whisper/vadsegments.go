package whisper

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// VADOptions turn frame probabilities into speech segments, with the
// meaning silero-vad's get_speech_timestamps gives them.
type VADOptions struct {
	// Threshold: a frame whose probability reaches it is speech (0 < t < 1).
	Threshold float64
	// NegThreshold: inside speech, a frame below it is silence; 0 means
	// max(Threshold−0.15, 0.01). Between the two the state holds.
	NegThreshold float64
	// MinSpeech: segments not longer than this are dropped.
	MinSpeech time.Duration
	// MinSilence: speech ends only after this much silence.
	MinSilence time.Duration
	// SpeechPad is added on each side; when two segments are closer than
	// twice the pad, the gap is split between them.
	SpeechPad time.Duration
}

// SileroVADOptions are silero-vad's defaults: threshold 0.5, 250 ms of
// speech, 100 ms of silence, 30 ms of padding.
func SileroVADOptions() VADOptions {
	return VADOptions{Threshold: 0.5, MinSpeech: 250 * time.Millisecond, MinSilence: 100 * time.Millisecond,
		SpeechPad: 30 * time.Millisecond}
}

// WhisperVADOptions are the Transcriber's: silero-vad's threshold and
// minimum speech, but speech ends only after 2 s of silence and is padded
// by 400 ms (as faster-whisper's VAD filter), so that pauses inside
// sentences stay and words at the edges are not clipped.
func WhisperVADOptions() VADOptions {
	return VADOptions{Threshold: 0.5, MinSpeech: 250 * time.Millisecond, MinSilence: 2 * time.Second,
		SpeechPad: 400 * time.Millisecond}
}

// Check reports options out of range as lecture.EINVALID.
func (o VADOptions) Check() error {
	switch {
	case !(o.Threshold > 0 && o.Threshold < 1):
		return lecture.Errorf(lecture.EINVALID, "VAD threshold %g: want a probability strictly between 0 and 1", o.Threshold)
	case o.NegThreshold < 0 || o.NegThreshold > o.Threshold:
		return lecture.Errorf(lecture.EINVALID, "VAD negative threshold %g: want 0 (threshold−0.15) or a value in (0, threshold %g]", o.NegThreshold, o.Threshold)
	case o.MinSpeech < 0 || o.MinSilence < 0 || o.SpeechPad < 0:
		return lecture.Errorf(lecture.EINVALID, "VAD durations must not be negative (min speech %v, min silence %v, pad %v)", o.MinSpeech, o.MinSilence, o.SpeechPad)
	}
	return nil
}

// SpeechSegment is a stretch of speech in samples (16 kHz), End excluded.
type SpeechSegment struct{ Start, End int }

func (s SpeechSegment) String() string {
	return fmt.Sprintf("%.3f–%.3f s", float64(s.Start)/SampleRate, float64(s.End)/SampleRate)
}

func samplesIn(d time.Duration) float64 { return d.Seconds() * SampleRate }

// SpeechSegments applies silero-vad's get_speech_timestamps rules (without
// its maximum segment length) to one probability per VADFrame samples of
// audio n samples long: speech starts at a frame reaching Threshold; it ends
// where the probability first fell below NegThreshold once MinSilence has
// passed without a frame reaching Threshold again; segments not longer than
// MinSpeech are dropped; one still open at the end closes at n. Then each
// segment is padded by SpeechPad (the gap split in two when shorter than
// twice the pad), within [0, n].
func SpeechSegments(probs []float32, n int, o VADOptions) []SpeechSegment {
	neg := o.NegThreshold
	if neg == 0 {
		neg = max(o.Threshold-0.15, 0.01)
	}
	minSpeech, minSilence, pad := samplesIn(o.MinSpeech), samplesIn(o.MinSilence), samplesIn(o.SpeechPad)
	var out []SpeechSegment
	triggered := false
	start, tempEnd := 0, 0
	for i, p := range probs {
		at := i * VADFrame
		speech := float64(p) >= o.Threshold
		if speech && tempEnd != 0 {
			tempEnd = 0
		}
		if speech && !triggered {
			triggered, start = true, at
			continue
		}
		if triggered && float64(p) < neg {
			if tempEnd == 0 {
				tempEnd = at
			}
			if float64(at-tempEnd) < minSilence {
				continue
			}
			if float64(tempEnd-start) > minSpeech {
				out = append(out, SpeechSegment{start, tempEnd})
			}
			triggered, tempEnd = false, 0
		}
	}
	if triggered && float64(n-start) > minSpeech {
		out = append(out, SpeechSegment{start, n})
	}
	for i := range out {
		if i == 0 {
			out[i].Start = int(max(0, float64(out[i].Start)-pad))
		}
		if i == len(out)-1 {
			out[i].End = int(min(float64(n), float64(out[i].End)+pad))
			break
		}
		if gap := out[i+1].Start - out[i].End; float64(gap) < 2*pad {
			out[i].End += gap / 2
			out[i+1].Start = max(0, out[i+1].Start-gap/2)
		} else {
			out[i].End = int(min(float64(n), float64(out[i].End)+pad))
			out[i+1].Start = int(max(0, float64(out[i+1].Start)-pad))
		}
	}
	return out
}

// speechTimeline maps times in the speech-only audio (the segments end to
// end) back to the recording's.
type speechTimeline struct {
	segs []SpeechSegment
	cum  []int // cum[k]: where segs[k] starts in the speech-only audio
}

func newSpeechTimeline(segs []SpeechSegment) *speechTimeline {
	tl := &speechTimeline{segs: segs, cum: make([]int, len(segs))}
	n := 0
	for k, s := range segs {
		tl.cum[k] = n
		n += s.End - s.Start
	}
	return tl
}

// original maps t seconds of speech-only audio to the recording. A time on
// the border of two segments is the later one's start, or (end) the
// earlier one's end; a time past the speech (Whisper may place a timestamp
// after the audio's end) is the last segment's end, never in the silence
// after it.
func (tl *speechTimeline) original(t float64, end bool) float64 {
	if len(tl.segs) == 0 {
		return t
	}
	x := t * SampleRate
	last := len(tl.segs) - 1
	if x >= float64(tl.cum[last]+tl.segs[last].End-tl.segs[last].Start) {
		return float64(tl.segs[last].End) / SampleRate
	}
	k := sort.Search(len(tl.cum), func(k int) bool {
		if end {
			return float64(tl.cum[k]) >= x
		}
		return float64(tl.cum[k]) > x
	}) - 1
	k = max(k, 0)
	return (float64(tl.segs[k].Start) + x - float64(tl.cum[k])) / SampleRate
}

// filter yields, from the recording's samples that next yields, only those
// inside the segments, in order; it stops reading after the last segment.
func (tl *speechTimeline) filter(next func() ([]float32, error)) func() ([]float32, error) {
	pos, k := 0, 0 // the recording's sample index of the next sample; current segment
	return func() ([]float32, error) {
		for {
			if k >= len(tl.segs) {
				return nil, io.EOF
			}
			x, err := next()
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			if err != nil {
				return nil, err
			}
			var out []float32
			lo, hi := pos, pos+len(x)
			for k < len(tl.segs) && tl.segs[k].Start < hi {
				s := tl.segs[k]
				a, b := max(s.Start, lo), min(s.End, hi)
				if a < b {
					out = append(out, x[a-lo:b-lo]...)
				}
				if s.End > hi {
					break
				}
				k++
			}
			pos = hi
			if len(out) > 0 {
				return out, nil
			}
		}
	}
}

// mapSegmentTimes moves Whisper segments from speech-only time to the
// recording's, rounded to centiseconds as before (an end never before its start).
func mapSegmentTimes(tl *speechTimeline, segs []Segment) {
	for i := range segs {
		s := &segs[i]
		start := round2(tl.original(s.Start, false))
		end := s.End
		if end >= 0 {
			end = math.Max(start, round2(tl.original(end, true)))
		}
		s.Start, s.End = start, end
	}
}
