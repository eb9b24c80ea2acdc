package transcript

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

func jsonErrorf(format string, args ...any) error {
	return lecture.Errorf(lecture.EINVALID, "json: "+format, args...)
}

// parseJSON reads the project's format ({"segments": [...]}, a marshalled
// lecture.Transcript), a bare array of segments, Whisper's verbose_json
// (same field names) or plain json ({"text": ...}), and a QMSum meeting
// ({"meeting_transcripts": [{"speaker", "content"}]}). The input is one
// JSON value: anything but white space after it is an error. base is the
// number of bytes (a byte-order mark) removed from the front of the input
// before s, added to the byte offsets that messages name.
func parseJSON(s string, base int) (*lecture.Transcript, error) {
	var top any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		return nil, jsonSyntax(s, err, dec.InputOffset())
	}
	if off := skipJSONSpace(s, int(dec.InputOffset())); off < len(s) {
		return nil, jsonErrorf("%s: unexpected data after the JSON value at byte %d (%s); a file holds one transcript",
			where(s, off), base+off, kindOfRest(s[off:]))
	}
	t := &lecture.Transcript{}
	switch v := top.(type) {
	case []any:
		segs, err := jsonSegments(v, "")
		if err != nil {
			return nil, err
		}
		t.Segments = segs
		return t, nil
	case map[string]any:
		for _, f := range []struct {
			key string
			dst *string
		}{{"lecture_id", &t.LectureID}, {"language", &t.Language}} {
			switch x := v[f.key].(type) {
			case nil:
			case string:
				*f.dst = strings.TrimSpace(x)
			default:
				return nil, jsonErrorf("%q must be a string, not %s", f.key, kind(x))
			}
		}
		if raw, ok := v["segments"]; ok && raw != nil {
			arr, ok := raw.([]any)
			if !ok {
				return nil, jsonErrorf(`"segments" must be an array of {"start", "end", "speaker", "text"} objects, not %s`, kind(raw))
			}
			segs, err := jsonSegments(arr, "segments")
			if err != nil {
				return nil, err
			}
			if len(arr) > 0 {
				t.Segments = segs
				return t, nil
			}
		}
		if raw, ok := v["meeting_transcripts"]; ok && raw != nil {
			turns, err := jsonTurns(raw)
			if err != nil {
				return nil, err
			}
			t.Segments = FromTurns(turns).Segments
			return t, nil
		}
		switch x := v["text"].(type) {
		case nil:
		case string:
			if x = clean(x); x != "" {
				t.Segments = []lecture.Segment{{Start: -1, End: -1, Text: x}}
			}
			return t, nil
		default:
			return nil, jsonErrorf(`"text" must be a string, not %s`, kind(x))
		}
		if _, ok := v["segments"]; ok {
			return t, nil // "segments": [] or null; reported as no text
		}
		return nil, jsonErrorf(`expected an object with "segments" (an array of {"start", "end", "speaker", "text"}) or "text", or an array of segments`)
	default:
		return nil, jsonErrorf("expected an object with \"segments\" or an array of segments, not %s", kind(top))
	}
}

// jsonSegments reads segment objects; path names the array in messages.
func jsonSegments(arr []any, path string) ([]lecture.Segment, error) {
	segs := make([]lecture.Segment, 0, len(arr))
	for k, raw := range arr {
		at := fmt.Sprintf("%s[%d]", path, k)
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, jsonErrorf(`%s must be an object like {"start": 1.5, "end": 4, "text": "..."}, not %s`, at, kind(raw))
		}
		var seg lecture.Segment
		var err error
		if seg.Speaker, err = jsonString(obj, "speaker", at); err != nil {
			return nil, err
		}
		if seg.Text, err = jsonString(obj, "text", at); err != nil {
			return nil, err
		}
		if _, ok := obj["text"]; !ok {
			if seg.Text, err = jsonString(obj, "content", at); err != nil {
				return nil, err
			}
		}
		start, hasStart, err := jsonTime(obj, "start", at)
		if err != nil {
			return nil, err
		}
		end, hasEnd, err := jsonTime(obj, "end", at)
		if err != nil {
			return nil, err
		}
		switch {
		case hasStart != hasEnd:
			return nil, jsonErrorf(`%s: has only one of "start" and "end"; give both, or neither (or both -1) when there is no timestamp`, at)
		case !hasStart || (start == -1 && end == -1):
			seg.Start, seg.End = -1, -1
		case start < 0 || end < 0:
			return nil, jsonErrorf("%s: negative time (start %g, end %g); times are seconds from the start, or -1 for both when absent", at, start, end)
		case start > maxSeconds || end > maxSeconds:
			return nil, jsonErrorf("%s: time out of range (start %g, end %g); times are seconds, at most %g", at, start, end, float64(maxSeconds))
		case end < start:
			return nil, jsonErrorf("%s: ends (%g) before it starts (%g)", at, end, start)
		default:
			seg.Start, seg.End = start, end
		}
		seg.Speaker, seg.Text = clean(seg.Speaker), clean(seg.Text)
		if seg.Text != "" {
			segs = append(segs, seg)
		}
	}
	return segs, nil
}

func jsonString(obj map[string]any, key, at string) (string, error) {
	switch x := obj[key].(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	default:
		return "", jsonErrorf("%s.%s must be a string, not %s", at, key, kind(x))
	}
}

func jsonTime(obj map[string]any, key, at string) (float64, bool, error) {
	switch x := obj[key].(type) {
	case nil:
		return 0, false, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false, jsonErrorf("%s.%s: %s is not a usable number of seconds", at, key, clip(x.String()))
		}
		return f, true, nil
	default:
		return 0, false, jsonErrorf("%s.%s must be a number of seconds, not %s", at, key, kind(x))
	}
}

func jsonTurns(raw any) ([]Turn, error) {
	arr, ok := raw.([]any)
	if !ok {
		return nil, jsonErrorf(`"meeting_transcripts" must be an array of {"speaker", "content"} objects, not %s`, kind(raw))
	}
	turns := make([]Turn, 0, len(arr))
	for k, x := range arr {
		at := fmt.Sprintf("meeting_transcripts[%d]", k)
		obj, ok := x.(map[string]any)
		if !ok {
			return nil, jsonErrorf(`%s must be an object like {"speaker": "PhD A", "content": "..."}, not %s`, at, kind(x))
		}
		sp, err := jsonString(obj, "speaker", at)
		if err != nil {
			return nil, err
		}
		text, err := jsonString(obj, "content", at)
		if err != nil {
			return nil, err
		}
		turns = append(turns, Turn{Speaker: sp, Text: text})
	}
	return turns, nil
}

// skipJSONSpace returns the offset of the first byte at or after off that
// is not JSON white space, or len(s).
func skipJSONSpace(s string, off int) int {
	for off < len(s) && (s[off] == ' ' || s[off] == '\t' || s[off] == '\n' || s[off] == '\r') {
		off++
	}
	return off
}

// kindOfRest describes the trailing data after a JSON value for messages.
func kindOfRest(rest string) string {
	dec := json.NewDecoder(strings.NewReader(rest))
	var v any
	if dec.Decode(&v) == nil {
		return "another JSON value"
	}
	line, _, _ := strings.Cut(rest, "\n")
	return fmt.Sprintf("%q", clip(line))
}

// kind describes a decoded JSON value for messages.
func kind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number (" + clip(x.String()) + ")"
	case string:
		return fmt.Sprintf("a string (%q)", clip(x))
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func jsonSyntax(s string, err error, off int64) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if errors.Is(err, io.ErrUnexpectedEOF) {
		off = int64(len(s))
		msg = "unexpected end of input; the JSON is cut off or a bracket is not closed"
	}
	return jsonErrorf("%s: %s", where(s, int(off)), msg)
}

// where turns a byte offset into "line L, column C".
func where(s string, off int) string {
	if off > len(s) {
		off = len(s)
	}
	if off < 0 {
		off = 0
	}
	line := 1 + strings.Count(s[:off], "\n")
	col := off - strings.LastIndexByte(s[:off], '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}
