package transcript

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

var timed = &lecture.Transcript{Segments: []seg{
	{Start: 0, End: 2.5, Speaker: "Professor E", Text: "Good morning."},
	{Start: 2.5, End: 65.125, Text: "Today: heaps & <trees>."},
	{Start: 3725.001, End: 3726, Speaker: "Grad A", Text: "Question."},
}}

var untimed = &lecture.Transcript{Segments: []seg{u("PhD A", "Yeah ."), u("", "Plain * text_")}}

func render(t *testing.T, tr *lecture.Transcript, f Format) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, tr, f); err != nil {
		t.Fatalf("Render(%s): %v", f, err)
	}
	return b.String()
}

func TestRender(t *testing.T) {
	tests := []struct {
		name   string
		tr     *lecture.Transcript
		format Format
		want   string
	}{
		{"text timed", timed, Text, "[00:00] Professor E: Good morning.\n[00:02] Today: heaps & <trees>.\n[1:02:05] Grad A: Question.\n"},
		{"text untimed", untimed, Text, "PhD A: Yeah .\nPlain * text_\n"},
		{"text newlines in segment", &lecture.Transcript{Segments: []seg{u("", "a\nb\n\nc")}}, Text, "a b c\n"},
		{"turns", timed, Turns, "Professor E: Good morning.\nToday: heaps & <trees>.\nGrad A: Question.\n"},
		{"markdown timed", timed, Markdown, "# Transcript\n\n[00:00] **Professor E:** Good morning.\n\n[00:02] Today: heaps & \\<trees\\>.\n\n[1:02:05] **Grad A:** Question.\n"},
		{"markdown untimed", untimed, Markdown, "# Transcript\n\n**PhD A:** Yeah .\n\nPlain \\* text\\_\n"},
		{"srt", timed, SRT, "1\n00:00:00,000 --> 00:00:02,500\nProfessor E: Good morning.\n\n2\n00:00:02,500 --> 00:01:05,125\nToday: heaps & <trees>.\n\n3\n01:02:05,001 --> 01:02:06,000\nGrad A: Question.\n\n"},
		{"vtt", timed, VTT, "WEBVTT\n\n1\n00:00:00.000 --> 00:00:02.500\n<v Professor E>Good morning.\n\n2\n00:00:02.500 --> 00:01:05.125\nToday: heaps &amp; &lt;trees&gt;.\n\n3\n01:02:05.001 --> 01:02:06.000\n<v Grad A>Question.\n"},
		{"json", &lecture.Transcript{LectureID: "l1", Segments: []seg{{Start: 1, End: 2, Text: "x"}, {Start: -3, End: 7, Text: "absent"}}}, JSON,
			"{\n  \"lecture_id\": \"l1\",\n  \"segments\": [\n    {\n      \"start\": 1,\n      \"end\": 2,\n      \"text\": \"x\"\n    },\n    {\n      \"start\": -1,\n      \"end\": -1,\n      \"text\": \"absent\"\n    }\n  ]\n}\n"},
		{"json no segments", &lecture.Transcript{}, JSON, "{\n  \"segments\": []\n}\n"},
		{"srt no segments", &lecture.Transcript{}, SRT, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, tt.tr, tt.format); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	mixed := &lecture.Transcript{Segments: []seg{{Start: 1, End: 2, Text: "a"}, u("", "b")}}
	tests := []struct {
		name   string
		tr     *lecture.Transcript
		format Format
		msg    string
	}{
		{"srt untimed", untimed, SRT, "segment 1 has no timestamp, and srt needs one on every cue"},
		{"vtt mixed", mixed, VTT, "segment 2 has no timestamp, and vtt needs one on every cue"},
		{"nil", nil, JSON, "no transcript"},
		{"inverted", &lecture.Transcript{Segments: []seg{{Start: 5, End: 1, Text: "a"}}}, Text, "segment 1 has bad times (start 5, end 1)"},
		{"nan end", &lecture.Transcript{Segments: []seg{{Start: 5, End: math.NaN(), Text: "a"}}}, SRT, "segment 1 has bad times"},
		{"inf", &lecture.Transcript{Segments: []seg{{Start: math.Inf(1), End: math.Inf(1), Text: "a"}}}, JSON, "segment 1 has bad times"},
		{"unknown", timed, Format("pdf"), `unknown format "pdf"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Render(&b, tt.tr, tt.format)
			if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(lecture.ErrorMessage(err), tt.msg) {
				t.Errorf("err = %v; want EINVALID containing %q", err, tt.msg)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderWriteError(t *testing.T) {
	if err := Render(failWriter{}, timed, SRT); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v, want the writer's error", err)
	}
}

func TestRoundTrip(t *testing.T) {
	speakers := &lecture.Transcript{Segments: []seg{
		{Start: 0, End: 1.1, Speaker: "Project Manager", Text: "Let's start."},
		{Start: 1.1, End: 2.2, Speaker: "PhD F", Text: "Uh , OK ."},
		{Start: 2.2, End: 2.2, Speaker: "Dr. Smith", Text: "Zero-length cue, 3:1 ratio --> arrows."},
		{Start: 59.999, End: 360000.5, Text: "A long one & <b>bold</b>-looking text?"},
	}}
	full := &lecture.Transcript{LectureID: "lec-9", Language: "en", Segments: append(append([]seg{}, speakers.Segments...), u("Marketing", "untimed"))}
	tests := []struct {
		name   string
		tr     *lecture.Transcript
		format Format
		skip   func(s seg) bool // segments the format cannot carry, left out
	}{
		{"srt", timed, SRT, nil},
		{"srt speakers", speakers, SRT, func(s seg) bool { return strings.Contains(s.Text, "<b>") }},
		{"vtt", timed, VTT, nil},
		{"vtt speakers", speakers, VTT, nil},
		{"json", timed, JSON, nil},
		{"json full", full, JSON, nil},
		{"json untimed", untimed, JSON, nil},
		{"text timed whole seconds", &lecture.Transcript{Segments: []seg{{Start: 0, End: 5, Speaker: "Ann", Text: "a"}, {Start: 5, End: 5, Text: "b"}}}, Text, nil},
		{"turns", &lecture.Transcript{Segments: []seg{u("PhD A", "a"), u("Grad B", "b: c")}}, Turns, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tt.tr
			if tt.skip != nil {
				c := *tr
				c.Segments = nil
				for _, s := range tr.Segments {
					if !tt.skip(s) {
						c.Segments = append(c.Segments, s)
					}
				}
				tr = &c
			}
			out := render(t, tr, tt.format)
			if got := Detect("", []byte(out)); got != tt.format {
				t.Errorf("Detect(rendered) = %q, want %q", got, tt.format)
			}
			back, err := Parse([]byte(out), Auto)
			if err != nil {
				t.Fatalf("Parse(rendered): %v\n%s", err, out)
			}
			if !reflect.DeepEqual(back, tr) {
				sameSegments(t, back.Segments, tr.Segments)
				t.Errorf("transcript: got %q %q, want %q %q", back.LectureID, back.Language, tr.LectureID, tr.Language)
			}
		})
	}
}

// A SRT cue whose text looks like tags loses them on the way back: SRT has
// no escaping. This pins that down rather than hiding it.
func TestSRTTagsAreNotEscaped(t *testing.T) {
	tr := &lecture.Transcript{Segments: []seg{{Start: 0, End: 1, Text: "<b>bold</b>"}}}
	back, err := Parse([]byte(render(t, tr, SRT)), SRT)
	if err != nil {
		t.Fatal(err)
	}
	sameSegments(t, back.Segments, []seg{{Start: 0, End: 1, Text: "bold"}})
}

func TestRenderJSONIsDomainStruct(t *testing.T) {
	var got lecture.Transcript
	if err := json.Unmarshal([]byte(render(t, timed, JSON)), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, timed) {
		t.Errorf("got %+v, want %+v", got, timed)
	}
}
