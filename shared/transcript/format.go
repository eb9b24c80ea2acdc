package transcript

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// Format names a transcript format.
type Format string

// Formats. Auto asks Parse to detect the format; Markdown is output only.
const (
	Auto     Format = "auto"
	Text     Format = "text"
	SRT      Format = "srt"
	VTT      Format = "vtt"
	JSON     Format = "json"
	Turns    Format = "turns"
	Markdown Format = "markdown"
)

// ParseFormat maps a format name or file extension ("srt", ".vtt", "txt",
// "md", "verbose_json", "") to a Format; "" means Auto.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), ".")) {
	case "", "auto":
		return Auto, nil
	case "text", "txt", "plain":
		return Text, nil
	case "srt":
		return SRT, nil
	case "vtt", "webvtt":
		return VTT, nil
	case "json", "verbose_json":
		return JSON, nil
	case "turns":
		return Turns, nil
	case "markdown", "md":
		return Markdown, nil
	}
	return "", lecture.Errorf(lecture.EINVALID, "unknown transcript format %q; use text, turns, srt, vtt, json or markdown", s)
}

// detectSample is how much of the input Detect looks at for text, turns
// and subtitles (JSON is checked whole).
const detectSample = 64 << 10

// Detect guesses the format of data. A known extension on name decides the
// family, trusted over the content:
//
//   - .txt, .text, .md, .markdown: Turns when at least 60% of the first 50
//     non-empty lines (and at least two) look like "Speaker: text", else
//     Text (never JSON or subtitles: "{vocalsound} ..." is text);
//   - .srt, .vtt: subtitles, and the content says which: VTT when it starts
//     with WEBVTT, SRT when an early timing line has comma milliseconds,
//     else what the extension says;
//   - .json: JSON.
//
// Without a known extension: JSON only when the bytes are a JSON object or
// array (json.Valid after a byte-order mark and white space), or open the
// way one does ('{' then '"', or '[' then '{' '[' or '"': broken JSON,
// which Parse then reports, with where it breaks); VTT when it starts with
// WEBVTT; SRT when any of the first 30 non-empty lines is a "-->" timing
// line (leniently: one side a time, however malformed the other); then
// Turns or Text as above. Detect never fails: Parse reports what is wrong
// with the data.
func Detect(name string, data []byte) Format {
	if u, ok := utf16Text(data); ok {
		data = u
	}
	return detect(name, trimBOM(data))
}

func detect(name string, b []byte) Format {
	ext := strings.ToLower(filepath.Ext(name))
	if ext == ".json" {
		return JSON
	}
	sample := b
	if len(sample) > detectSample {
		sample = sample[:detectSample]
	}
	head := strings.TrimLeft(string(sample), " \t\r\n\f\v\ufeff")
	switch ext {
	case ".txt", ".text", ".md", ".markdown":
		// Never JSON, but subtitles saved as .txt keep their times: a WEBVTT
		// header or well-formed timing lines are not prose.
		if isVTTHeader(strings.TrimRight(firstLine(head), " \t")) {
			return VTT
		}
		for _, l := range earlyLines(head, 30) {
			if sep, ok := timingSeparator(l); ok {
				if sep == ',' {
					return SRT
				}
				return VTT
			}
		}
		return textOrTurns(head)
	case ".srt", ".vtt":
		if isVTTHeader(strings.TrimRight(firstLine(head), " \t")) {
			return VTT
		}
		for _, l := range earlyLines(head, 30) {
			if sep, ok := timingSeparator(l); ok && sep == ',' {
				return SRT
			}
		}
		if ext == ".srt" {
			return SRT
		}
		return VTT
	}
	if isJSONDocument(b) {
		return JSON
	}
	if isVTTHeader(strings.TrimRight(firstLine(head), " \t")) {
		return VTT
	}
	for _, l := range earlyLines(head, 30) {
		if timingLine(l) {
			return SRT
		}
	}
	return textOrTurns(head)
}

func textOrTurns(head string) Format {
	if looksLikeTurns(earlyLines(head, 50)) {
		return Turns
	}
	return Text
}

// isJSONDocument reports whether b (after white space) is a JSON object or
// array (json.Valid), or opens the way one with content does: '{' then
// '"', or '[' then '{', '[' or '"'. The second case is broken JSON (cut
// off, a stray comma, data after the value), better told what is wrong
// with it than summarised as text. Text such as "{vocalsound} okay",
// "[Music]", "[1] First point" or "[12:34] Hello" is neither.
func isJSONDocument(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return false
	}
	if json.Valid(b) {
		return true
	}
	next := bytes.TrimLeft(b[1:], " \t\r\n")
	if len(next) == 0 {
		return false
	}
	if b[0] == '{' {
		return next[0] == '"'
	}
	return next[0] == '{' || next[0] == '[' || next[0] == '"'
}

// earlyLines returns up to n non-empty, trimmed lines from the start of s.
func earlyLines(s string, n int) []string {
	var out []string
	for len(s) > 0 && len(out) < n {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimRight(line, "\r")
}

// timingSeparator reports whether line is a cue timing line whose start time
// parses, and which millisecond separator it uses (',' or '.', 0 if none).
func timingSeparator(line string) (byte, bool) {
	before, _, ok := strings.Cut(line, "-->")
	if !ok {
		return 0, false
	}
	left := strings.TrimSpace(before)
	if _, ok := parseClock(left); !ok {
		return 0, false
	}
	if i := strings.IndexAny(left, ",."); i >= 0 {
		return left[i], true
	}
	return 0, true
}

// timingLine reports whether line is a cue timing line, leniently: "start
// --> end [settings]", optionally after a cue number on the same line, with
// at least one side a time ("00:00:01,000", "0:0:1.5", even "00:00:01:000")
// and the left side, if any, time-like (starting with a digit and holding a
// ':'), however malformed. Such a line is never transcript text.
func timingLine(line string) bool {
	before, after, ok := strings.Cut(line, "-->")
	if !ok {
		return false
	}
	lf := strings.Fields(before)
	if len(lf) == 2 && digits(lf[0], 1, 9) {
		lf = lf[1:]
	}
	if len(lf) > 1 {
		return false
	}
	rf := strings.Fields(after)
	right := len(rf) > 0 && looseClock(rf[0])
	if len(lf) == 0 {
		return right
	}
	l := lf[0]
	if l[0] < '0' || l[0] > '9' || strings.IndexByte(l, ':') < 0 {
		return false
	}
	return right || looseClock(l)
}

// looseClock reports whether s looks like a time in a timing line: digits
// and ':' ',' '.', starting with a digit, with at least one ':'.
func looseClock(s string) bool {
	if len(s) < 3 || len(s) > 24 || s[0] < '0' || s[0] > '9' || strings.IndexByte(s, ':') < 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != ':' && c != ',' && c != '.' {
			return false
		}
	}
	return true
}

// looksLikeTurns reports whether at least 60% of lines, and at least two,
// start with a speaker label followed by ": ".
func looksLikeTurns(lines []string) bool {
	n := 0
	for _, l := range lines {
		if _, rest, ok := splitLabel(l, true); ok && rest != "" {
			n++
		}
	}
	return n >= 2 && n*10 >= len(lines)*6
}
