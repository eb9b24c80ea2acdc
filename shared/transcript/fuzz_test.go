package transcript

import (
	"bytes"
	"math"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/transcept/transcept/shared/lecture"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"Hello.\n\nWorld.",
		"[00:01] a\n[00:02] Grad A: b\nmore",
		"0:00\nHello\n0:05\nThere",
		"Professor E: hi\nPhD A: yes\ncontinued",
		"1\n00:00:01,000 --> 00:00:02,000\n<i>Hi</i>\n\n2\n00:00:02,000 --> 00:00:03,000\nJohn: Yo\n",
		"\ufeff1\r\n00:00:01,000 --> 00:00:02,000\r\nx\r\n",
		"WEBVTT\n\nNOTE x\n\nid\n00:01.000 --> 00:02.000 align:start\n<v Bob>Hi &amp; bye</v>\n",
		`{"segments":[{"start":0,"end":1,"speaker":"A","text":"x"}]}`,
		`[{"start":-1,"end":-1,"text":"y"}]`,
		`{"text":"z","segments":[]}`,
		`{"meeting_transcripts":[{"speaker":"PhD A","content":"hi"}]}`,
		"\xff\xfe1\x00",
	} {
		f.Add([]byte(s), uint8(0))
	}
	formats := []Format{Auto, Text, Turns, SRT, VTT, JSON}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		format := formats[int(which)%len(formats)]
		tr, err := Parse(data, format)
		if err != nil {
			if code := lecture.ErrorCode(err); code != lecture.EINVALID && code != lecture.ETOOLARGE {
				t.Fatalf("error code %q: %v", code, err)
			}
			return
		}
		if len(tr.Segments) == 0 {
			t.Fatal("success with no segments")
		}
		for i, s := range tr.Segments {
			absent := s.Start == -1 && s.End == -1
			if !absent && !(s.Start >= 0 && s.End >= s.Start && !math.IsInf(s.End, 0)) {
				t.Fatalf("segment %d has bad times: %+v", i, s)
			}
			if s.Text == "" || clean(s.Text) != s.Text || clean(s.Speaker) != s.Speaker {
				t.Fatalf("segment %d text or speaker not clean: %+v", i, s)
			}
			if !utf8.ValidString(s.Text) || !utf8.ValidString(s.Speaker) {
				t.Fatalf("segment %d not UTF-8: %+v", i, s)
			}
		}
		// Whatever parsed survives the project's own format unchanged.
		var b bytes.Buffer
		if err := Render(&b, tr, JSON); err != nil {
			t.Fatalf("Render(json): %v", err)
		}
		back, err := Parse(b.Bytes(), JSON)
		if err != nil {
			t.Fatalf("Parse(Render(json)): %v\n%s", err, b.String())
		}
		if !reflect.DeepEqual(back, tr) {
			t.Fatalf("json round trip changed the transcript:\n got %+v\nwant %+v", back, tr)
		}
		// And every other format renders without error where it can.
		for _, f := range []Format{Text, Turns, Markdown, SRT, VTT} {
			err := Render(&bytes.Buffer{}, tr, f)
			if err != nil && !((f == SRT || f == VTT) && lecture.ErrorCode(err) == lecture.EINVALID) {
				t.Fatalf("Render(%s): %v", f, err)
			}
		}
	})
}
