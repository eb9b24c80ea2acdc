package whisper

import (
	"math"
	"strings"
)

// Segment is a stretch of transcript between two timestamps, in seconds.
// End is negative when the model gave no closing timestamp.
type Segment struct {
	Start, End float64
	Text       string
	Tokens     []int
}

// Segments turns one window's token ids (as Generate returns them) into the
// text and the timestamped segments, as transformers.js's
// WhisperTokenizer._decode_asr does for a single chunk: special tokens are
// skipped, a timestamp opens a segment, the next different one closes it,
// text tokens accumulate; offset (seconds) is added to every time.
func (m *Model) Segments(ids []int, offset float64) (string, []Segment) {
	tb := m.TimestampBegin
	precision := 30.0 / float64(m.Config.MaxSourcePositions)
	var segs []Segment
	start, end := -1.0, -1.0
	var cur []int
	hadText := false
	for _, id := range ids {
		switch {
		case m.Tokenizer.IsSpecial(id):
		case id >= tb && id <= tb+1500:
			t := round2(float64(id-tb)*precision + offset)
			switch {
			case start < 0:
				start = t
			case t == start:
			default:
				end = t
				segs = append(segs, Segment{Start: start, End: end, Text: m.Tokenizer.Decode(cur), Tokens: cur})
				start, end, cur, hadText = -1, -1, nil, false
			}
		default:
			cur = append(cur, id)
			hadText = true
		}
	}
	if hadText {
		segs = append(segs, Segment{Start: start, End: end, Text: m.Tokenizer.Decode(cur), Tokens: cur})
	}
	var text strings.Builder
	for _, s := range segs {
		text.WriteString(s.Text)
	}
	return text.String(), segs
}

// round2 is transformers.js's round(x, 2): Math.round(x·100)/100.
func round2(x float64) float64 {
	return math.Floor(x*100+0.5) / 100
}
