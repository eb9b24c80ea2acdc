package transcript

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

type seg = lecture.Segment

// u is an untimed segment.
func u(speaker, text string) seg { return seg{Start: -1, End: -1, Speaker: speaker, Text: text} }

func sameSegments(t *testing.T, got, want []seg) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	var b strings.Builder
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w any = "-", "-"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		mark := " "
		if !reflect.DeepEqual(g, w) {
			mark = "!"
		}
		fmt.Fprintf(&b, "%s %d\n    got  %+v\n    want %+v\n", mark, i, g, w)
	}
	t.Errorf("segments differ:\n%s", b.String())
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		format Format // Auto: also checks that detection picks detect
		detect Format
		in     string
		want   []seg
	}{
		// Plain text.
		{"text one paragraph", Auto, Text, "Today we look at\nsorting   algorithms.\n",
			[]seg{u("", "Today we look at sorting algorithms.")}},
		{"text paragraphs", Auto, Text, "First paragraph\nwrapped.\n\n\n  \nSecond one.\n\nThird.",
			[]seg{u("", "First paragraph wrapped."), u("", "Second one."), u("", "Third.")}},
		{"text crlf and bom", Auto, Text, "\ufeffOne.\r\n\r\nTwo.\r\n",
			[]seg{u("", "One."), u("", "Two.")}},
		{"text bracket stamps", Auto, Text, "[00:05] Welcome back.\n[01:10] Today: heaps.\nMore on heaps.\n[1:02:03] The end.",
			[]seg{{Start: 5, End: 70, Text: "Welcome back."}, {Start: 70, End: 3723, Text: "Today: heaps. More on heaps."}, {Start: 3723, End: 3723, Text: "The end."}}},
		{"text paren and bare stamps", Text, "", "(0:00) Hello\n12:34 there\n12:35.5 you",
			[]seg{{Start: 0, End: 754, Text: "Hello"}, {Start: 754, End: 755.5, Text: "there"}, {Start: 755.5, End: 755.5, Text: "you"}}},
		{"text stamps with speakers", Auto, Text, "[00:00] Professor E: Good morning.\n[00:04] Grad A: Hi.\n[00:09] no speaker here",
			[]seg{{Start: 0, End: 4, Speaker: "Professor E", Text: "Good morning."}, {Start: 4, End: 9, Speaker: "Grad A", Text: "Hi."}, {Start: 9, End: 9, Text: "no speaker here"}}},
		{"text stamps on own lines", Auto, Text, "0:00\nHello everyone\n0:05\nToday we start\nwith graphs\n",
			[]seg{{Start: 0, End: 5, Text: "Hello everyone"}, {Start: 5, End: 5, Text: "Today we start with graphs"}}},
		{"text stamp without text is dropped", Text, "", "[00:01] a\n[00:02]\n[00:03] b",
			[]seg{{Start: 1, End: 2, Text: "a"}, {Start: 3, End: 3, Text: "b"}}},
		{"text time inside prose is not a stamp", Auto, Text, "We meet at\n10:30 tomorrow.",
			[]seg{u("", "We meet at 10:30 tomorrow.")}},

		// Speaker turns.
		{"turns qmsum style", Auto, Turns, "Professor E: OK , we 're on .\nPhD A: Yeah .\nthis continues the turn\n\nGrad F: Mm-hmm .\n",
			[]seg{u("Professor E", "OK , we 're on ."), u("PhD A", "Yeah . this continues the turn"), u("Grad F", "Mm-hmm .")}},
		{"turns roles and titles", Auto, Turns, "Project Manager: Let's begin.\nUser Interface: Sure.\nMarketing: Fine.\nDr. Smith: Hello.\nMr. John Nater (Perth, CPC): Thanks.",
			[]seg{u("Project Manager", "Let's begin."), u("User Interface", "Sure."), u("Marketing", "Fine."), u("Dr. Smith", "Hello."), u("Mr. John Nater (Perth, CPC)", "Thanks.")}},
		{"turns preamble and note", Turns, "", "Meeting notes\nAlice: Hi.\nNote: this is not a speaker\nBob: Bye.",
			[]seg{u("", "Meeting notes"), u("Alice", "Hi. Note: this is not a speaker"), u("Bob", "Bye.")}},
		{"turns empty turn dropped", Turns, "", "Alice: Hi.\nBob:\nAlice: Again.",
			[]seg{u("Alice", "Hi."), u("Alice", "Again.")}},

		// SRT.
		{"srt basic", Auto, SRT, "1\n00:00:01,000 --> 00:00:04,500\nHello there.\n\n2\n00:00:05,000 --> 00:00:07,250\nSecond line\nwraps here.\n",
			[]seg{{Start: 1, End: 4.5, Text: "Hello there."}, {Start: 5, End: 7.25, Text: "Second line wraps here."}}},
		{"srt messy", Auto, SRT, "\ufeff\r\n\r\n1  \r\n00:00:01,000 --> 00:00:02,000  \r\n<i>Tagged</i> <b>bold</b> <font color=\"#ff0000\">red</font>  \r\n\r\n\r\n\r\n00:00:03,000 --> 00:00:04,000\r\n{\\an8}no number\r\n\r\n",
			[]seg{{Start: 1, End: 2, Text: "Tagged bold red"}, {Start: 3, End: 4, Text: "no number"}}},
		{"srt speakers conservative", SRT, "", "1\n00:00:01,000 --> 00:00:02,000\nJohn Smith: Hi.\n\n2\n00:00:02,000 --> 00:00:03,000\nGrad A: Yes.\n\n3\n00:00:03,000 --> 00:00:04,000\nNote: not a name.\n\n4\n00:00:04,000 --> 00:00:05,000\n- Are you there?\n- Yes.\n\n5\n00:00:05,000 --> 00:00:06,000\nANNA: Hi.\nBOB: Hello.\n\n6\n00:00:06,000 --> 00:00:07,000\nthe ratio is 3:1 here\n",
			[]seg{{Start: 1, End: 2, Speaker: "John Smith", Text: "Hi."}, {Start: 2, End: 3, Speaker: "Grad A", Text: "Yes."},
				{Start: 3, End: 4, Text: "Note: not a name."}, {Start: 4, End: 5, Text: "- Are you there? - Yes."},
				{Start: 5, End: 6, Text: "ANNA: Hi. BOB: Hello."}, {Start: 6, End: 7, Text: "the ratio is 3:1 here"}}},
		{"srt missing blank line and stray blank", SRT, "", "1\n00:00:01,000 --> 00:00:02,000\nfirst\n2\n00:00:02,000 --> 00:00:03,000\nsecond\n\nstill second\n\n3\n00:00:03,000 --> 00:00:04,000\nthird",
			[]seg{{Start: 1, End: 2, Text: "first"}, {Start: 2, End: 3, Text: "second still second"}, {Start: 3, End: 4, Text: "third"}}},
		{"srt blank line after number", SRT, "", "1\n\n00:00:01,000 --> 00:00:02,000\nx\n\n2\n00:00:02,000 --> 00:00:03,000\ny\n",
			[]seg{{Start: 1, End: 2, Text: "x"}, {Start: 2, End: 3, Text: "y"}}},
		{"srt dot millis and short hours", SRT, "", "1\n0:00:01.5 --> 0:00:02.25\nx\n",
			[]seg{{Start: 1.5, End: 2.25, Text: "x"}}},
		{"srt empty cue dropped", SRT, "", "1\n00:00:01,000 --> 00:00:02,000\n<i></i>\n\n2\n00:00:02,000 --> 00:00:03,000\nkept\n",
			[]seg{{Start: 2, End: 3, Text: "kept"}}},
		{"srt by extension with dots", Auto, SRT, "1\n00:00:01.000 --> 00:00:02.000\ndots\n",
			[]seg{{Start: 1, End: 2, Text: "dots"}}},

		// WebVTT.
		{"vtt basic", Auto, VTT, "WEBVTT\n\n00:01.000 --> 00:04.000\nShort times.\n\n01:00:00.000 --> 01:00:02.500 align:start position:10%\nLong times.\n",
			[]seg{{Start: 1, End: 4, Text: "Short times."}, {Start: 3600, End: 3602.5, Text: "Long times."}}},
		{"vtt full", Auto, VTT, "WEBVTT - Lecture 3\nKind: captions\nLanguage: en\n\nSTYLE\n::cue { color: red }\n\nNOTE this is\na comment\n\nREGION\nid:fred\n\nintro\n00:00:00.000 --> 00:00:02.000\n<v Roger Bingham>We are in New York City\n\n2\n00:00:02.000 --> 00:00:04.000\n<v.loud Neil deGrasse Tyson><i>Tom &amp; Jerry</i> &lt;3&nbsp;you</v>\n\n00:00:04.000 --> 00:00:05.000\n<c.yellow>Hello</c> <00:00:04.500>world\n",
			[]seg{{Start: 0, End: 2, Speaker: "Roger Bingham", Text: "We are in New York City"}, {Start: 2, End: 4, Speaker: "Neil deGrasse Tyson", Text: "Tom & Jerry <3 you"}, {Start: 4, End: 5, Text: "Hello world"}}},
		{"vtt two voices", VTT, "", "WEBVTT\n\n00:00.000 --> 00:01.000\n<v A>Hi</v>\n<v B>Hello</v>\n",
			[]seg{{Start: 0, End: 1, Text: "Hi Hello"}}},
		{"vtt label speaker", VTT, "", "WEBVTT\n\n00:00.000 --> 00:01.000\nProfessor B: Right.\n",
			[]seg{{Start: 0, End: 1, Speaker: "Professor B", Text: "Right."}}},
		{"vtt blank lines before header", Auto, VTT, "\n\nWEBVTT\n\n00:00.000 --> 00:01.000\nx\n",
			[]seg{{Start: 0, End: 1, Text: "x"}}},
		{"text starting with a sound tag", Auto, Text, "[Music]\nHello there.\n\n[Applause]",
			[]seg{u("", "[Music] Hello there."), u("", "[Applause]")}},
		{"text ratio is not a time", Auto, Text, "2:1 is the ratio.\n\nNext.",
			[]seg{u("", "2:1 is the ratio."), u("", "Next.")}},
		{"vtt no blank after header", VTT, "", "WEBVTT\n00:00.000 --> 00:01.000\nx\n",
			[]seg{{Start: 0, End: 1, Text: "x"}}},

		// JSON.
		{"json own format", Auto, JSON, `{"lecture_id":"","segments":[{"start":0,"end":2.5,"speaker":"Ann","text":" Hi. "},{"start":-1,"end":-1,"text":"untimed"}]}`,
			[]seg{{Start: 0, End: 2.5, Speaker: "Ann", Text: "Hi."}, u("", "untimed")}},
		{"json bare array", Auto, JSON, "\ufeff  [{\"start\":1,\"end\":2,\"text\":\"a\"},{\"text\":\"b\"},{\"start\":3,\"end\":3,\"text\":\"   \"}]",
			[]seg{{Start: 1, End: 2, Text: "a"}, u("", "b")}},
		{"json whisper verbose", Auto, JSON, `{"task":"transcribe","language":"english","duration":8.5,"text":" Hello world. Bye.","segments":[{"id":0,"seek":0,"start":0.0,"end":4.2,"text":" Hello world.","tokens":[50364,2425],"temperature":0.0,"avg_logprob":-0.2,"compression_ratio":1.1,"no_speech_prob":0.01},{"id":1,"seek":0,"start":4.2,"end":8.5,"text":" Bye.","tokens":[],"temperature":0.0,"avg_logprob":-0.3,"compression_ratio":1.0,"no_speech_prob":0.02}]}`,
			[]seg{{Start: 0, End: 4.2, Text: "Hello world."}, {Start: 4.2, End: 8.5, Text: "Bye."}}},
		{"json whisper text only", JSON, "", `{"text":" Just the text. "}`,
			[]seg{u("", "Just the text.")}},
		{"json qmsum meeting", JSON, "", `{"topic_list":[],"meeting_transcripts":[{"speaker":"PhD A","content":"Yeah ."},{"speaker":"Grad B","content":""},{"speaker":"Grad B","content":"OK ."}]}`,
			[]seg{u("PhD A", "Yeah ."), u("Grad B", "OK .")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.detect != "" {
				if got := Detect("", []byte(tt.in)); got != tt.detect {
					t.Fatalf("Detect = %q, want %q", got, tt.detect)
				}
			}
			tr, err := Parse([]byte(tt.in), tt.format)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			sameSegments(t, tr.Segments, tt.want)
		})
	}
}

func TestParseJSONFields(t *testing.T) {
	tr, err := Parse([]byte(`{"lecture_id":"lec-1","language":"en","segments":[{"start":1,"end":2,"text":"x"}]}`), Auto)
	if err != nil {
		t.Fatal(err)
	}
	if tr.LectureID != "lec-1" || tr.Language != "en" {
		t.Errorf("LectureID, Language = %q, %q; want lec-1, en", tr.LectureID, tr.Language)
	}
}

func TestParseUTF16(t *testing.T) {
	s := "1\r\n00:00:01,000 --> 00:00:02,000\r\nCafé\r\n"
	le := []byte{0xFF, 0xFE}
	be := []byte{0xFE, 0xFF}
	for _, r := range s {
		le = append(le, byte(r), byte(r>>8))
		be = append(be, byte(r>>8), byte(r))
	}
	for name, data := range map[string][]byte{"le": le, "be": be} {
		t.Run(name, func(t *testing.T) {
			if got := Detect("x", data); got != SRT {
				t.Errorf("Detect = %q, want srt", got)
			}
			tr, err := Parse(data, Auto)
			if err != nil {
				t.Fatal(err)
			}
			sameSegments(t, tr.Segments, []seg{{Start: 1, End: 2, Text: "Café"}})
		})
	}
}

func TestDetect(t *testing.T) {
	turns := "Alice: hi\nBob: hello\nAlice: how are you\nsome continuation\n"
	tests := []struct {
		name, file, in string
		want           Format
	}{
		{"json object", "", " \n{\"segments\":[]}", JSON},
		{"json array", "", "[{\"text\":\"a\"}]", JSON},
		{"txt ext beats json content", "x.txt", "[{\"text\":\"a\"}]", Text},
		{"bracket stamp is text", "", "[00:01] hello", Text},
		{"sound tag is text", "", "[Music] hello", Text},
		{"empty json array", "", "[ ]", JSON},
		{"json array of arrays", "", "[\n [1]]", JSON},
		{"vtt header", "x.srt", "WEBVTT\n\n00:01.000 --> 00:02.000\nx", VTT},
		{"webvtt word is not header", "", "WEBVTTX hello", Text},
		{"srt commas beat extension", "a.vtt", "1\n00:00:01,000 --> 00:00:02,000\nx", SRT},
		{"srt without numbers", "", "\n\n00:00:01,000 --> 00:00:02,000\nx", SRT},
		{"srt ext", "talk.SRT", "garbage", SRT},
		{"vtt ext", "talk.vtt", "garbage", VTT},
		{"json ext", "talk.json", "garbage", JSON},
		{"txt ext keeps turns", "m.txt", turns, Turns},
		{"txt ext text", "m.txt", "Hello.\n\nWorld.", Text},
		{"txt ext dotted arrow keeps its times", "m.txt", "00:00:01.000 --> 00:00:02.000\nx", VTT},
		{"txt ext noise tags are text", "m.txt", "{vocalsound} Okay, so today.\n", Text},
		{"dotted arrow without ext is srt", "", "00:00:01.000 --> 00:00:02.000\nx", SRT},
		{"turns", "", turns, Turns},
		{"one label is not turns", "", "Alice: hi", Text},
		{"few labels is text", "", "Alice: hi\nline\nline\nline\nline\n", Text},
		{"notes are not turns", "", "Note: a\nExample: b\nDefinition: c\n", Text},
		{"text", "", "Just some words.", Text},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.file, []byte(tt.in)); got != tt.want {
				t.Errorf("Detect(%q) = %q, want %q", tt.file, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		code   string
		msg    string // the message must contain this
	}{
		{"empty", Auto, "", lecture.EINVALID, "transcript is empty"},
		{"whitespace", Auto, " \n\t\r\n ", lecture.EINVALID, "transcript is empty"},
		{"bom only", Auto, "\ufeff\n", lecture.EINVALID, "transcript is empty"},
		{"nul byte", Auto, "hello\x00world", lecture.EINVALID, "looks like binary data, not a transcript (NUL byte at offset 5)"},
		{"control chars", Auto, "a\x01\x02\x03\x04b\x05\x06", lecture.EINVALID, "looks like binary data"},
		{"json invalid utf8", JSON, "{\"text\":\n\"Caf\xe9 au lait\"}", lecture.EINVALID, "json: transcript is not valid UTF-8: byte 0xE9 at offset 13 (line 2)"},
		{"json invalid utf8 after bom", Auto, "\ufeff{\"text\":\"ab\xff\"}", lecture.EINVALID, "byte 0xFF at offset 14 (line 1); JSON must be UTF-8 (RFC 8259)"},
		{"odd utf16", Auto, "\xff\xfea\x00b", lecture.EINVALID, "UTF-16 with an odd number of bytes"},
		{"srt bad timestamp", Auto, "1\n00:01:xx,500 --> 00:01:05,000\nbad\n", lecture.EINVALID,
			`srt: line 2: bad timestamp "00:01:xx,500"; expected HH:MM:SS,mmm --> HH:MM:SS,mmm`},
		{"srt bad end", SRT, "1\n00:00:01,000 --> 00:00:61,000\nx\n", lecture.EINVALID, `srt: line 2: bad timestamp "00:00:61,000"`},
		{"srt missing end", SRT, "1\n00:00:01,000 -->\nx\n", lecture.EINVALID, `srt: line 2: bad timing line "00:00:01,000 -->"`},
		{"srt inverted", SRT, "1\n00:00:05,000 --> 00:00:01,000\nx\n", lecture.EINVALID, "srt: line 2: cue ends at 00:00:01,000, before it starts at 00:00:05,000"},
		{"srt number without timing", SRT, "1\nhello\n", lecture.EINVALID, "srt: line 2: expected a timing line like HH:MM:SS,mmm --> HH:MM:SS,mmm after cue number 1"},
		{"srt not srt", SRT, "hello world\n", lecture.EINVALID, `srt: line 1: expected a cue number or a timing line`},
		{"srt no text", SRT, "1\n00:00:01,000 --> 00:00:02,000\n<i> </i>\n", lecture.EINVALID, "srt: transcript has no text"},
		{"vtt no header", VTT, "hello\n\n00:01.000 --> 00:02.000\n", lecture.EINVALID, `vtt: line 1: missing WEBVTT header (got "hello")`},
		{"vtt no header, bad cue", VTT, "00:01.000 --> 00:0x.000\nx", lecture.EINVALID, `vtt: line 1: bad timestamp "00:0x.000"`},
		{"vtt bad timestamp", Auto, "WEBVTT\n\n00:0a.000 --> 00:03.000\ny", lecture.EINVALID,
			`vtt: line 3: bad timestamp "00:0a.000"; expected [HH:]MM:SS.mmm --> [HH:]MM:SS.mmm`},
		{"vtt header after blank lines, bad time", VTT, "\n\nWEBVTT\n\n00:01.000 --> 00:0x.000\nx", lecture.EINVALID, `vtt: line 5: bad timestamp "00:0x.000"`},
		{"vtt not vtt after blank lines", VTT, "\n\nhello", lecture.EINVALID, `vtt: line 3: missing WEBVTT header (got "hello")`},
		{"vtt header only", Auto, "WEBVTT\n\nNOTE nothing\n", lecture.EINVALID, "vtt: transcript has no text"},
		{"json syntax", Auto, "{\"segments\": [\n  {\"start\": 1,}\n]}", lecture.EINVALID, "json: line 2, column"},
		{"json truncated", Auto, `{"segments": [`, lecture.EINVALID, "json: line 1, column 15: unexpected end of input"},
		{"json trailing", Auto, `{"text":"a"} {"text":"b"}`, lecture.EINVALID, "unexpected data after the JSON value"},
		{"json wrong top", JSON, `"just a string"`, lecture.EINVALID, `json: expected an object with "segments" or an array of segments, not a string`},
		{"json no segments key", Auto, `{"foo": 1}`, lecture.EINVALID, `json: expected an object with "segments"`},
		{"json segments not array", Auto, `{"segments": {"start": 1}}`, lecture.EINVALID, `json: "segments" must be an array`},
		{"json segment not object", Auto, `{"segments": [{"text":"a"}, 3]}`, lecture.EINVALID, `json: segments[1] must be an object`},
		{"json start string", Auto, `{"segments": [{"start": "1.5", "end": 2, "text": "a"}]}`, lecture.EINVALID, `json: segments[0].start must be a number of seconds, not a string ("1.5")`},
		{"json text number", Auto, `[{"start": 1, "end": 2, "text": 5}]`, lecture.EINVALID, `json: [0].text must be a string, not a number (5)`},
		{"json speaker bool", Auto, `[{"text": "a", "speaker": true}]`, lecture.EINVALID, `json: [0].speaker must be a string, not a boolean`},
		{"json language type", Auto, `{"language": 3, "segments": []}`, lecture.EINVALID, `json: "language" must be a string`},
		{"json end before start", Auto, `{"segments": [{"start": 5, "end": 4, "text": "a"}]}`, lecture.EINVALID, "json: segments[0]: ends (4) before it starts (5)"},
		{"json negative", Auto, `{"segments": [{"start": -2, "end": 4, "text": "a"}]}`, lecture.EINVALID, "json: segments[0]: negative time"},
		{"json half absent", Auto, `{"segments": [{"start": -1, "end": 4, "text": "a"}]}`, lecture.EINVALID, "json: segments[0]: negative time"},
		{"json only start", Auto, `{"segments": [{"start": 1, "text": "a"}]}`, lecture.EINVALID, `json: segments[0]: has only one of "start" and "end"`},
		{"json huge number", Auto, `[{"start": 1e400, "end": 1e400, "text": "a"}]`, lecture.EINVALID, "json: [0].start: 1e400 is not a usable number"},
		{"json out of range", Auto, `[{"start": 1e300, "end": 1e300, "text": "a"}]`, lecture.EINVALID, "json: [0]: time out of range"},
		{"json empty segments", Auto, `{"segments": []}`, lecture.EINVALID, "json: transcript has no text"},
		{"json blank texts", Auto, `[{"text": " "}, {"text": ""}]`, lecture.EINVALID, "json: transcript has no text"},
		{"json meeting wrong", JSON, `{"meeting_transcripts": [{"speaker": 1}]}`, lecture.EINVALID, "json: meeting_transcripts[0].speaker must be a string"},
		{"text stamps out of order", Auto, "[02:00] b\n[01:00] a", lecture.EINVALID, "text: line 2: time 01:00 comes before the previous one (02:00)"},
		{"markdown is output only", Markdown, "# x", lecture.EINVALID, `cannot parse format "markdown"`},
		{"unknown format", Format("docx"), "x", lecture.EINVALID, `cannot parse format "docx"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Parse([]byte(tt.in), tt.format)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v; want error %q", tr.Segments, tt.msg)
			}
			if code := lecture.ErrorCode(err); code != tt.code {
				t.Errorf("code = %q, want %q (err: %v)", code, tt.code, err)
			}
			if msg := lecture.ErrorMessage(err); !strings.Contains(msg, tt.msg) {
				t.Errorf("message = %q\nwant it to contain %q", msg, tt.msg)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	data := make([]byte, MaxBytes+1)
	for i := range data {
		data[i] = 'a'
	}
	_, err := Parse(data, Auto)
	if code := lecture.ErrorCode(err); code != lecture.ETOOLARGE {
		t.Fatalf("code = %q, want %q (err: %v)", code, lecture.ETOOLARGE, err)
	}
	if want := "transcript is 50.1 MB; the limit is 50 MB"; lecture.ErrorMessage(err) != want {
		t.Errorf("message = %q, want %q", lecture.ErrorMessage(err), want)
	}
	// Exactly MaxBytes is allowed.
	tr, err := Parse(data[:MaxBytes], Text)
	if err != nil {
		t.Fatalf("MaxBytes input: %v", err)
	}
	if len(tr.Segments) != 1 || len(tr.Segments[0].Text) != MaxBytes {
		t.Errorf("MaxBytes input: got %d segments", len(tr.Segments))
	}
}

func TestFromTurns(t *testing.T) {
	got := FromTurns([]Turn{{"PhD A", "  Yeah ,  right . "}, {"Grad B", " "}, {" Professor  E ", "OK\n."}})
	sameSegments(t, got.Segments, []seg{u("PhD A", "Yeah , right ."), u("Professor E", "OK .")})
	if got := FromTurns(nil); got == nil || got.Segments == nil || len(got.Segments) != 0 {
		t.Errorf("FromTurns(nil) = %+v, want an empty transcript", got)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": Auto, "SRT": SRT, ".vtt": VTT, "txt": Text, "verbose_json": JSON, "md": Markdown, "turns": Turns} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseFormat("docx"); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("ParseFormat(docx) error = %v, want EINVALID", err)
	}
}
