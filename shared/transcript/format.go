package transcript

import (
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

// detectSample is how much of the input Detect looks at.
const detectSample = 64 << 10

// Detect guesses the format of data, using name's extension when the
// content alone does not decide. In order: JSON when the text starts with
// '{' or '[' (but not a "[12:34]" time label); VTT when it starts with
// WEBVTT; SRT when an early line is a "-->" timing line with comma
// milliseconds; then the extension (.srt .vtt .json; .txt means text or
// turns); then SRT for any early "-->" timing line; Turns when at least 60%
// of the first 50 non-empty lines (and at least two) look like
// "Speaker: text"; Text otherwise. Detect never fails: Parse reports what is
// wrong with the data.
func Detect(name string, data []byte) Format {
	if len(data) > detectSample {
		data = data[:detectSample]
	}
	if u, ok := utf16Text(data); ok {
		data = u
	}
	data = trimBOM(data)
	return detect(name, string(data))
}

func detect(name, s string) Format {
	head := strings.TrimLeft(s, " \t\r\n\f\v\ufeff")
	switch {
	case strings.HasPrefix(head, "{"):
		return JSON
	case strings.HasPrefix(head, "["):
		// An array opens with what a JSON value opens with; "[Music]" and
		// "[12:34]" open text.
		next := strings.TrimLeft(head[1:], " \t\r\n")
		if next == "" || strings.ContainsAny(next[:1], `{["]`) {
			return JSON
		}
	case isVTTHeader(firstLine(head)):
		return VTT
	}
	lines := earlyLines(head, 30)
	for _, l := range lines {
		if sep, ok := timingSeparator(l); ok && sep == ',' {
			return SRT
		}
	}
	textFamily := false
	switch strings.ToLower(filepath.Ext(name)) {
	case ".srt":
		return SRT
	case ".vtt":
		return VTT
	case ".json":
		return JSON
	case ".txt", ".text":
		textFamily = true
	}
	if !textFamily {
		for _, l := range lines {
			if _, ok := timingSeparator(l); ok {
				return SRT
			}
		}
	}
	if looksLikeTurns(earlyLines(head, 50)) {
		return Turns
	}
	return Text
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
