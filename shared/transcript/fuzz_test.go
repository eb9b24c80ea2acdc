package transcript

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
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
		"{vocalsound} Okay , so we 're on .\n\nProfessor E: {disfmarker} Right .",
		"1\n0:0:1,000 --> 0:0:2,000\nbad\n\n2\n00:00:03,000 --> 00:00:04,000\nGar\xe7on\n3 00:00:02,000 --> 00:00:03,000\nearlier\n",
		"WEBVTT\n\n00:05.000 --> 00:06.000\nlater\n\n00:01.000 --> 00:02.000\nfirst\n",
		`{"segments":[{"start":0,"end":1,"text":"x"}]} {"x":1}`,
		"{\"text\":\"Caf\xe9\"}",
	} {
		f.Add([]byte(s), uint8(0))
	}
	formats := []Format{Auto, Text, Turns, SRT, VTT, JSON}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		format := formats[int(which)%len(formats)]
		effective := format
		if format == Auto {
			effective = Detect("", data)
		}
		_, utf16 := utf16Text(data)
		tr, err := Parse(data, format)
		if err != nil {
			if code := lecture.ErrorCode(err); code != lecture.EINVALID && code != lecture.ETOOLARGE {
				t.Fatalf("error code %q: %v", code, err)
			}
			// Text formats read what is not UTF-8 as Windows-1252.
			if effective != JSON && strings.Contains(err.Error(), "not valid UTF-8") {
				t.Fatalf("%s refused for its encoding: %v", effective, err)
			}
			return
		}
		if len(tr.Segments) == 0 {
			t.Fatal("success with no segments")
		}
		if effective == JSON && !utf16 {
			// RFC 8259: JSON is UTF-8, and one value.
			if !utf8.Valid(data) {
				t.Fatalf("json with invalid UTF-8 accepted: %q", data)
			}
			more := append(bytes.Clone(data), " {}"...)
			if _, err := Parse(more, JSON); err == nil || !strings.Contains(err.Error(), "unexpected data after the JSON value at byte") {
				t.Fatalf("json with trailing data: err = %v", err)
			}
		}
		if effective != JSON {
			// Cues come sorted; text time labels must be in order.
			last := math.Inf(-1)
			for i, s := range tr.Segments {
				if s.Start == -1 {
					continue
				}
				if s.Start < last {
					t.Fatalf("segment %d starts at %g, before %g", i, s.Start, last)
				}
				last = s.Start
			}
			// Timing lines never reach the text: when every input line
			// with "-->" is a timing line (and no tag or entity could make
			// one), no text has "-->".
			if b, _, err := prepare(data); err == nil && !bytes.ContainsAny(data, "<{&") && onlyTimingArrows(textOf(b)) {
				for i, s := range tr.Segments {
					if strings.Contains(s.Text, "-->") || strings.Contains(s.Speaker, "-->") {
						t.Fatalf("segment %d holds a timing line: %+v", i, s)
					}
				}
			}
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

// onlyTimingArrows reports whether every line of s that holds "-->" is a
// timing line.
func onlyTimingArrows(s string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "-->") && !timingLine(strings.TrimSpace(l)) {
			return false
		}
	}
	return true
}

// detectExts are the names FuzzDetect tries: none, each known extension
// (in either case), and an unknown one.
var detectExts = []string{"", "notes.txt", "NOTES.TXT", "notes.md", "talk.srt", "talk.vtt", "talk.json", "talk.docx", `C:\dir\talk.Srt`}

func FuzzDetect(f *testing.F) {
	for _, s := range []string{
		"{vocalsound} Okay , so we 're on .",
		"Professor E: {vocalsound} Okay .\nPhD A: Yeah .\n",
		`{"segments":[{"start":0,"end":1,"text":"x"}]}`,
		`{"segments": [`,
		"[1] First point.\n[2] Second.",
		"1\n00:00:01,000 --> 00:00:02,000\nHello\n",
		"1\n0:0:1,000 --> 0:0:2,000\nHello\n",
		"WEBVTT\n\n00:01.000 --> 00:02.000\nx\n",
		"\ufeff [ ]",
		"\xff\xfe{\x00}\x00",
	} {
		for k := range detectExts {
			f.Add([]byte(s), uint8(k))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		name := detectExts[int(which)%len(detectExts)]
		got := Detect(name, data)
		switch strings.ToLower(filepath.Ext(name)) {
		case ".txt", ".md": // never JSON; subtitles saved as .txt keep their times
			if got == JSON {
				t.Fatalf("Detect(%q) = %s, want text, turns, srt or vtt", name, got)
			}
		case ".srt", ".vtt":
			if got != SRT && got != VTT {
				t.Fatalf("Detect(%q) = %s, want srt or vtt", name, got)
			}
		case ".json":
			if got != JSON {
				t.Fatalf("Detect(%q) = %s, want json", name, got)
			}
		case "":
			if got != Text && got != Turns && got != SRT && got != VTT && got != JSON {
				t.Fatalf("Detect = %q", got)
			}
			if _, utf16 := utf16Text(data); utf16 {
				break
			}
			// JSON only for what opens like JSON, always for valid JSON.
			trimmed := bytes.TrimSpace(trimBOM(data))
			opens := len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')
			if got == JSON && !opens {
				t.Fatalf("Detect = json for %q", data)
			}
			if opens && json.Valid(trimmed) && got != JSON {
				t.Fatalf("Detect = %s for valid JSON %q", got, data)
			}
		default: // an unknown extension is no extension
			if want := Detect("", data); got != want {
				t.Fatalf("Detect(%q) = %s, Detect(\"\") = %s", name, got, want)
			}
		}
		// Parse(Auto) detects as Detect("") does.
		if name == "" {
			a, errA := Parse(data, Auto)
			b, errB := Parse(data, got)
			if !reflect.DeepEqual(a, b) || (errA == nil) != (errB == nil) || (errA != nil && errA.Error() != errB.Error()) {
				t.Fatalf("Parse(auto) = %+v, %v; Parse(%s) = %+v, %v", a, errA, got, b, errB)
			}
		}
	})
}
