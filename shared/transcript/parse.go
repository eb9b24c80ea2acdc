package transcript

import (
	"math"

	"github.com/transcept/transcept/shared/lecture"
)

// Parse reads a transcript in the given format; Auto (or "") detects it
// from the content alone (Detect with no name). Errors are *lecture.Error:
// ETOOLARGE past MaxBytes, EINVALID for anything else wrong with the input,
// with a message that says what and where. SRT and WebVTT cues come back
// sorted by start time (stably: cues that start together keep their order
// in the file), whatever order the file has them in; malformed cues among
// good ones are skipped. See the package comment for the encodings each
// format accepts.
func Parse(data []byte, format Format) (*lecture.Transcript, error) {
	b, base, err := prepare(data)
	if err != nil {
		return nil, err
	}
	if format == Auto || format == "" {
		format = detect("", b)
	}
	var t *lecture.Transcript
	var segs []lecture.Segment
	switch format {
	case Text:
		segs, err = parseText(textOf(b))
	case Turns:
		segs, err = parseTurns(textOf(b))
	case SRT:
		segs, err = parseSRT(textOf(b))
	case VTT:
		segs, err = parseVTT(textOf(b))
	case JSON:
		if err = checkJSONUTF8(b, base); err == nil {
			t, err = parseJSON(string(b), base)
		}
	default:
		return nil, lecture.Errorf(lecture.EINVALID, "cannot parse format %q; use text, turns, srt, vtt or json", format)
	}
	if err != nil {
		return nil, err
	}
	if t == nil {
		t = &lecture.Transcript{Segments: segs}
	}
	if len(t.Segments) == 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "%s: transcript has no text", format)
	}
	for i, seg := range t.Segments {
		if !validTimes(seg) || seg.Text == "" {
			// Each parser checks its own times with line numbers; this is the net.
			return nil, lecture.Errorf(lecture.EINVALID, "%s: segment %d has bad times (start %g, end %g)", format, i+1, seg.Start, seg.End)
		}
	}
	return t, nil
}

// validTimes: both absent (-1), or 0 <= Start <= End <= maxSeconds.
func validTimes(s lecture.Segment) bool {
	if s.Start == -1 && s.End == -1 {
		return true
	}
	return !math.IsNaN(s.Start) && !math.IsNaN(s.End) && s.Start >= 0 && s.End >= s.Start && s.End <= maxSeconds
}
