package transcript

import (
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

// Issue 11: what Detect decides from a file name and content.
func TestDetectTrustsExtension(t *testing.T) {
	qmsum := "{vocalsound} Okay , so we 're on .\n\n{disfmarker} Right ."
	turns := "{vocalsound} Professor E: Okay .\nPhD A: Yeah .\nGrad B: Mm-hmm .\n"
	srt := "1\n00:00:01,000 --> 00:00:02,000\nHello\n"
	tests := []struct {
		name, file, in string
		want           Format
	}{
		// A known extension decides the family.
		{"noise tag in txt is text", "meeting.txt", qmsum, Text},
		{"noise tag in TXT is text", `C:\notes\MEETING.TXT`, qmsum, Text},
		{"noise tag in md is text", "meeting.md", qmsum, Text},
		{"noise tag turns in txt", "meeting.txt", "Professor E: {vocalsound} Okay .\nPhD A: Yeah .\n", Turns},
		{"json in txt is text", "x.txt", `{"segments":[{"text":"a"}]}`, Text},
		{"srt in txt keeps its times", "x.txt", srt, SRT},
		{"json ext", "x.json", qmsum, JSON},
		{"srt ext", "x.srt", "garbage", SRT},
		{"srt ext, vtt content", "x.srt", "WEBVTT\n\n00:01.000 --> 00:02.000\nx", VTT},
		{"vtt ext, srt content", "x.vtt", srt, SRT},
		{"vtt ext, no header, dots", "x.vtt", "00:01.000 --> 00:02.000\nx", VTT},

		// Without one, JSON only when it is JSON (or opens like it).
		{"noise tag without name is text", "", qmsum, Text},
		{"noise tag with unknown ext", "meeting.docx", qmsum, Text},
		{"noise tag turns without name", "", turns, Turns},
		{"brace word", "", "{laugh}", Text},
		{"empty braces then text", "", "{} and then text", Text},
		{"empty brackets then text", "", "[] and then text", Text},
		{"numbered list", "", "[1] First point.\n[2] Second point.", Text},
		{"valid object after bom and space", "", "\ufeff \n {\"text\": \"a\"}\n", JSON},
		{"valid array", "", "[1, 2]", JSON},
		{"cut off json", "", `{"segments": [{"text": "a"`, JSON},
		{"json with trailing data", "", `{"segments":[]} {"x":1}`, JSON},
		{"json with trailing garbage", "", `[{"text":"a"}]garbage`, JSON},

		// Subtitles without a name, leniently.
		{"srt", "", srt, SRT},
		{"srt without spaces", "", "1\n00:00:01,000-->00:00:02,000\nHello\n", SRT},
		{"srt with short fields", "", "1\n0:0:1,000 --> 0:0:2,000\nHello\n", SRT},
		{"srt with bad start", "", "1\n00:00:xx,000 --> 00:00:02,000\nHello\n", SRT},
		{"srt number on timing line", "", "1 00:00:01,000 --> 00:00:02,000\nHello\n", SRT},
		{"srt after a title", "", "My lecture\n\n1\n00:00:01.000 --> 00:00:02.000\nHello\n", SRT},
		{"arrow in prose is text", "", "from A --> B\nand 10:30 --> 11:00 in a sentence", Text},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.file, []byte(tt.in)); got != tt.want {
				t.Errorf("Detect(%q) = %q, want %q", tt.file, got, tt.want)
			}
		})
	}
}

// Issue 11: a QMSum-style transcript named .txt parses as text.
func TestParseNoiseTagsAsText(t *testing.T) {
	in := []byte("{vocalsound} Okay , so we 're on .\n\n{disfmarker} Right .")
	tr, err := Parse(in, Detect("meeting.txt", in))
	if err != nil {
		t.Fatal(err)
	}
	sameSegments(t, tr.Segments, []seg{u("", "{vocalsound} Okay , so we 're on ."), u("", "{disfmarker} Right .")})
}

// Issue 11: subtitle timing lines and cue numbers never become text.
func TestTimingLinesNeverText(t *testing.T) {
	tests := []struct {
		name   string
		file   string // for Detect when format is Auto
		format Format
		in     string
		want   []seg
	}{
		{"broken srt without name keeps good cues", "", Auto,
			"1\n00:00:01,000 --> 00:00:02,000\nFirst.\n\n2\n00:00:0x,000 --> 00:00:03,000\nBroken start.\n\n3\n00:00:05,000 --> 00:00:04,000\nInverted.\n\n4\n00:00:06,000 --> 00:00:07,000\nLast.\n",
			[]seg{{Start: 1, End: 2, Text: "First."}, {Start: 6, End: 7, Text: "Last."}}},
		{"srt with short fields is skipped cue by cue", "", SRT,
			"1\n0:0:1,000 --> 0:0:2,000\nBad.\n\n2\n00:00:03,000 --> 00:00:04,000\nGood.\n",
			[]seg{{Start: 3, End: 4, Text: "Good."}}},
		{"srt bad cue without blank line", "", SRT,
			"1\n00:00:01,000 --> 00:00:02,000\nFirst.\n2\n00:00:03,000 --> 00:00:02,500\nInverted.\n3\n00:00:04,000 --> 00:00:05,000\nThird.\n",
			[]seg{{Start: 1, End: 2, Text: "First."}, {Start: 4, End: 5, Text: "Third."}}},
		{"srt number on the timing line", "", Auto,
			"1 00:00:01,000 --> 00:00:02,000\nOne.\n\n2 00:00:02,000 --> 00:00:03,000\nTwo.\n",
			[]seg{{Start: 1, End: 2, Text: "One."}, {Start: 2, End: 3, Text: "Two."}}},
		{"srt title, lost timing line", "", Auto,
			"My lecture\n\n1\n00:00:01,000 --> 00:00:02,000\nOne.\n\n2\nno timing here\n\n3\n00:00:03,000 --> 00:00:04,000\nThree.\n",
			[]seg{{Start: 1, End: 2, Text: "One."}, {Start: 3, End: 4, Text: "Three."}}},
		{"vtt bad cue among good", "", Auto,
			"WEBVTT\n\n00:01.000 --> 00:02.000\nx\n\n00:0a.000 --> 00:03.000\ny\n\n00:04.000 --> 00:05.000\nz\n",
			[]seg{{Start: 1, End: 2, Text: "x"}, {Start: 4, End: 5, Text: "z"}}},
		{"vtt without header", "", VTT, "00:01.000 --> 00:02.000\nx",
			[]seg{{Start: 1, End: 2, Text: "x"}}},
		{"srt named txt keeps its times", "lecture.txt", Auto,
			"1\n00:00:01,000 --> 00:00:02,000\nHello there.\n\n2\n00:00:02,000 --> 00:00:03,000\nSecond cue\nwraps.\n",
			[]seg{{Start: 1, End: 2, Text: "Hello there."}, {Start: 2, End: 3, Text: "Second cue wraps."}}},
		{"text with srt lines and no blank lines", "", Text,
			"1\n00:00:01,000 --> 00:00:02,000\nHello.\n2\n\n00:00:02,000 --> 00:00:03,000\nAgain.\n3 00:00:03,000 --> 00:00:04,000\nEnd.",
			[]seg{u("", "Hello."), u("", "Again."), u("", "End.")}},
		{"text drops malformed timing lines", "", Text,
			"0:0:1,000 --> 0:0:2,000\nOne.\n00:00:xx,000 --> 00:00:03,000\nTwo.\n--> 00:00:04,000\nThree.",
			[]seg{u("", "One."), u("", "Two."), u("", "Three.")}},
		{"text keeps numbers and arrows that are not cues", "", Text,
			"42\n\nfrom A --> B\n\nat 10:30 --> 11:00 we stop",
			[]seg{u("", "42"), u("", "from A --> B"), u("", "at 10:30 --> 11:00 we stop")}},
		{"text stamped after timing lines", "", Text,
			"00:00:01,000 --> 00:00:02,000\n[00:01] Hello\n[00:02] There",
			[]seg{{Start: 1, End: 2, Text: "Hello"}, {Start: 2, End: 2, Text: "There"}}},
		{"turns drop timing lines", "", Turns,
			"1\n00:00:01,000 --> 00:00:02,000\nAlice: Hi.\n\n2\n00:00:02,000 --> 00:00:03,000\nBob: Hello.\n",
			[]seg{u("Alice", "Hi."), u("Bob", "Hello.")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			format := tt.format
			if format == Auto {
				format = Detect(tt.file, []byte(tt.in))
			}
			tr, err := Parse([]byte(tt.in), format)
			if err != nil {
				t.Fatalf("Parse(%s): %v", format, err)
			}
			sameSegments(t, tr.Segments, tt.want)
		})
	}
}

// Issue 11: when nothing usable remains, a clear EINVALID error.
func TestNothingUsableRemains(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		msg    string
	}{
		{"srt every cue broken", SRT, "1\n0:0:1,000 --> 0:0:2,000\nx\n\n2\n00:00:05,000 --> 00:00:04,000\ny\n", `srt: line 2: bad timestamp "0:0:1,000"`},
		{"srt title only", SRT, "My lecture\n", `srt: line 1: expected a cue number or a timing line like HH:MM:SS,mmm --> HH:MM:SS,mmm, got "My lecture"`},
		{"srt numbers only", SRT, "1\n\n2\n", "srt: line 2: expected a timing line like HH:MM:SS,mmm --> HH:MM:SS,mmm after cue number 1"},
		{"broken srt without name", Auto, "1\n00:00:0x,000 --> 00:00:02,000\nx\n", `srt: line 2: bad timestamp "00:00:0x,000"`},
		{"text of timing lines only", Text, "1\n00:00:01,000 --> 00:00:02,000\n\n2\n00:00:02,000 --> 00:00:03,000\n", "text: transcript has no text"},
		{"turns of timing lines only", Turns, "00:00:01,000 --> 00:00:02,000\n", "turns: transcript has no text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Parse([]byte(tt.in), tt.format)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v", tr.Segments)
			}
			if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(lecture.ErrorMessage(err), tt.msg) {
				t.Errorf("error %q (%s)\nwant EINVALID containing %q", lecture.ErrorMessage(err), lecture.ErrorCode(err), tt.msg)
			}
		})
	}
}

// Issue 11: cues out of order are sorted by start time, stably.
func TestCuesSortedByStart(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		want   []seg
	}{
		{"vtt unsorted", VTT, "WEBVTT\n\n00:05.000 --> 00:06.000\nthird\n\n00:01.000 --> 00:02.000\nfirst\n\n00:03.000 --> 00:04.000\nsecond\n",
			[]seg{{Start: 1, End: 2, Text: "first"}, {Start: 3, End: 4, Text: "second"}, {Start: 5, End: 6, Text: "third"}}},
		{"srt unsorted", SRT, "2\n00:00:03,000 --> 00:00:04,000\nb\n\n1\n00:00:01,000 --> 00:00:02,000\na\n",
			[]seg{{Start: 1, End: 2, Text: "a"}, {Start: 3, End: 4, Text: "b"}}},
		{"same start keeps file order", SRT, "1\n00:00:02,000 --> 00:00:03,000\nlater\n\n2\n00:00:01,000 --> 00:00:04,000\nfirst x\n\n3\n00:00:01,000 --> 00:00:02,000\nfirst y\n",
			[]seg{{Start: 1, End: 4, Text: "first x"}, {Start: 1, End: 2, Text: "first y"}, {Start: 2, End: 3, Text: "later"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Parse([]byte(tt.in), tt.format)
			if err != nil {
				t.Fatal(err)
			}
			sameSegments(t, tr.Segments, tt.want)
		})
	}
}

// Issue 11: text formats that are not UTF-8 read as Windows-1252.
func TestWindows1252(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		want   []seg
	}{
		{"text", Auto, "Caf\xe9 au lait, na\xefve \x93quotes\x94 \x80 5 \x96 ok", []seg{u("", "Café au lait, naïve “quotes” € 5 – ok")}},
		{"text after bom", Text, "\ufeffab\xff", []seg{u("", "abÿ")}},
		{"mixed with utf-8", Text, "Café and Caf\xe9", []seg{u("", "Café and Café")}},
		{"turns", Turns, "Fran\xe7ois: Bonjour \xe0 tous.\nZo\xeb: Salut.", []seg{u("François", "Bonjour à tous."), u("Zoë", "Salut.")}},
		{"srt", Auto, "1\r\n00:00:01,000 --> 00:00:02,000\r\n<i>Gar\xe7on!</i>\r\n", []seg{{Start: 1, End: 2, Text: "Garçon!"}}},
		{"vtt", Auto, "WEBVTT\n\n00:01.000 --> 00:02.000\n<v Ren\xe9e>Stra\xdfe &amp; M\xfcller\n", []seg{{Start: 1, End: 2, Speaker: "Renée", Text: "Straße & Müller"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Parse([]byte(tt.in), tt.format)
			if err != nil {
				t.Fatal(err)
			}
			sameSegments(t, tr.Segments, tt.want)
		})
	}
}

// Issue 11: JSON must be one UTF-8 value, nothing after it.
func TestJSONStrict(t *testing.T) {
	tests := []struct {
		name string
		in   string
		msg  string // "" means it parses
	}{
		{"trailing value", `{"segments":[{"text":"a"}]} {"x":1}`,
			`json: line 1, column 29: unexpected data after the JSON value at byte 28 (another JSON value); a file holds one transcript`},
		{"trailing garbage", `{"segments":[{"text":"a"}]}garbage`,
			`json: line 1, column 28: unexpected data after the JSON value at byte 27 ("garbage")`},
		{"trailing bracket", "[{\"text\":\"a\"}]\n]", `json: line 2, column 1: unexpected data after the JSON value at byte 15 ("]")`},
		{"offset counts bom and crlf", "\ufeff{\"text\":\"a\"}\r\n\r\nx", `line 3, column 1: unexpected data after the JSON value at byte 19 ("x")`},
		{"invalid utf-8", "{\"text\":\"a\xe9\"}", "json: transcript is not valid UTF-8: byte 0xE9 at offset 10 (line 1)"},
		{"trailing white space is fine", "{\"text\":\"a\"} \r\n\t\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Parse([]byte(tt.in), JSON)
			if tt.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded with %+v", tr.Segments)
			}
			if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(lecture.ErrorMessage(err), tt.msg) {
				t.Errorf("error %q (%s)\nwant EINVALID containing %q", lecture.ErrorMessage(err), lecture.ErrorCode(err), tt.msg)
			}
			if f := Detect("", []byte(tt.in)); f != JSON {
				t.Errorf("Detect = %s, want json", f)
			}
		})
	}
}
